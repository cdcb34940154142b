"""Shop users: the region's manager invites a shop of its region, the shop chooses its
password through the link (once) and lands on its order; nobody invites outside its reach."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable

import sqlalchemy as sa

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from salescope.storage.models import AuditEvent, User
from salescope.web.app import create_app
from tests.orderworld import OrderWorld
from tests.web.conftest import Browser, csrf_of


def test_a_manager_invites_a_shop_which_sets_its_password_and_orders(
    order_browser: Callable[[str], Browser], order_world: OrderWorld
) -> None:
    """The invitation link is shown once; it lets the shop choose a password, signs it in
    on its order page, and cannot be used again; each step is audited."""
    manager = order_browser("lesnia")
    customer = order_world.trained.other
    page = manager.post(
        "/shops/invite", {"customer_id": customer, "email": "New.Shop@Example.com"}
    ).text  # type: ignore[attr-defined]
    link = re.search(r'id="invite-link">([^<]+)<', page)
    assert link is not None and "new.shop@example.com" in page
    path = link.group(1).split("://", 1)[1].split("/", 1)[1]
    with TestClient(
        create_app(order_world.settings, order_world.db), raise_server_exceptions=False
    ) as shop:
        form = shop.get(f"/{path}")
        assert form.status_code == 200 and "new.shop@example.com" in form.text
        short = shop.post(f"/{path}", data={"password": "short", "csrf_token": csrf_of(form.text)})
        assert short.status_code == 422
        done = shop.post(
            f"/{path}",
            data={"password": "a long enough secret", "csrf_token": csrf_of(form.text)},
            follow_redirects=False,
        )
        assert done.status_code == 303 and done.headers["location"] == "/order"
        order = shop.get("/order")
        assert order.status_code == 200 and order.url.path == f"/customers/{customer}/order"
        assert shop.get(f"/{path}").status_code == 404
    with order_world.db.session() as s:
        user = s.scalar(sa.select(User).where(User.username == "new.shop@example.com"))
        assert user is not None and (user.role, user.customer_id) == ("shop", customer)
        actions = set(s.scalars(sa.select(AuditEvent.action)))
    assert {"user.invited", "user.invitation_accepted"} <= actions


def test_nobody_invites_outside_its_reach(
    order_browser: Callable[[str], Browser], order_world: OrderWorld
) -> None:
    """Vardenia's manager cannot invite for a Lesnia shop (403), a rep and a shop cannot open
    the shop users at all; no user is created."""
    vardenia = order_browser("vardenia")
    refused = vardenia.post(
        "/shops/invite", {"customer_id": order_world.shop, "email": "x@example.com"}
    )
    assert refused.status_code == 403  # type: ignore[attr-defined]
    for who in ("rep", "shop"):
        assert order_browser(who).get("/shops").status_code == 403  # type: ignore[attr-defined]
    with order_world.db.session() as s:
        assert s.scalar(sa.select(User).where(User.username == "x@example.com")) is None
