"""Generated from the app's routes: a shop never sees nor changes another shop's order, tasks
or automatic order, on any page or API route (every route of the routers is tried, so a new
route is covered the day it is added)."""

from __future__ import annotations

import re
import warnings
from typing import Any

import sqlalchemy as sa
from fastapi.routing import APIRoute

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from salescope.services import keys
from salescope.services.access import scope_of
from salescope.services.calendar import Clock
from salescope.services.ordering import OrderIn, OrderLineIn, check_order, do_place_order
from salescope.services.serving import OrderEngine
from salescope.storage.models import AuditEvent, AutoOrder, PlacedOrder, ShopTask, User
from salescope.web import api, ui
from salescope.web.app import create_app
from tests.orderworld import DELIVERY, EMAILS, TODAY, OrderWorld
from tests.web.conftest import bearer, sign_in

SESSION_ROUTES = {
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/invite/{token}"),
    ("POST", "/invite/{token}"),
}
"""Signing in and out and the invitation link: no shop's data (tested in test_security)."""
ALL_SCOPES = ["orders:read", "orders:write"]
"""Every scope a shop may hold."""


def _routes() -> list[tuple[str, str]]:
    found = []
    for prefix, routers in (api.PREFIX, api.ROUTERS), ("", ui.ROUTERS):
        for router in routers:
            for route in router.routes:
                assert isinstance(route, APIRoute)
                found += [(method, prefix + route.path) for method in sorted(route.methods)]
    return sorted(set(found))


def _victim_data(world: OrderWorld) -> dict[str, Any]:
    """The shop's placed order, a task given to it, and the automatic shop's edited order."""
    engine = OrderEngine(world.settings, world.db, Clock(TODAY), warm=False)
    with world.db.session() as s:
        user = s.scalar(sa.select(User).where(User.username == EMAILS["shop"]))
        assert user is not None
        scope = scope_of(user)
        order = OrderIn(world.shop, DELIVERY, (OrderLineIn("P0002", 4.0),), "VICTIM-ORDER-1")
        request = check_order(s, scope, engine.catalogue(), order, "victim-1", today=TODAY)
        do_place_order(s, scope, engine.catalogue(), request)
        task = ShopTask(
            customer_id=world.shop,
            region="Lesnia",
            kind="survey",
            title="Shelf survey of the victim",
            details={"questions": ["How many facings?"]},
            status="open",
            answer={},
        )
        s.add(task)
        s.flush()
        return {
            "customer_id": world.shop,
            "order_id": "VICTIM-ORDER-1",
            "task_id": task.id,
            "rec_id": 1,
            "visit_id": 1,
            "photo_id": 1,
        }


def _snapshot(world: OrderWorld) -> tuple[Any, ...]:
    with world.db.session() as s:
        return (
            s.scalar(sa.select(sa.func.count()).select_from(PlacedOrder)),
            sorted((t.id, t.status, str(t.answer)) for t in s.scalars(sa.select(ShopTask))),
            s.scalar(sa.select(sa.func.count()).select_from(AutoOrder)),
            sorted(
                (e.action, e.entity_id)
                for e in s.scalars(sa.select(AuditEvent))
                if e.entity_id == world.shop or e.entity_type in ("order", "shop_task")
            ),
        )


def test_a_shop_never_reaches_another_shops_order_on_any_route(order_world: OrderWorld) -> None:
    """Signed in (or with a key of every scope it may hold), another shop of the same rep
    and region gets 403/404 on every route naming the shop's customer, order or task; no
    list or page it reaches holds the shop's order or customer; nothing changes."""
    ids = _victim_data(order_world)
    with order_world.db.session() as s:
        key = keys.do_create_key(s, EMAILS["other"], ALL_SCOPES, actor="test")[1]
    before = _snapshot(order_world)
    app = create_app(order_world.settings, order_world.db)
    other = sign_in(TestClient(app, raise_server_exceptions=False), "other", email=EMAILS["other"])
    markers = (ids["order_id"], order_world.shop, "Shelf survey of the victim")
    form = {
        "customer_id": order_world.shop,
        "op": "send",
        "order_date": DELIVERY.isoformat(),
        "line-0-product_id": "P0002",
        "line-0-quantity": "5",
        "q0": "3",
        "kind": "survey",
        "details": "How many?",
        "email": "x@example.com",
        "ids": "1",
        "action": "reject",
        "reason": "x",
    }
    tried = 0
    for method, path in _routes():
        if (method, path) in SESSION_ROUTES:
            continue
        url = path.format(**ids)
        named = bool(re.search(r"\{(customer_id|order_id|task_id)\}", path))
        if path.startswith(api.PREFIX):
            kwargs: dict[str, Any] = {"headers": bearer(key) | {"Idempotency-Key": "other-1"}}
            if method == "POST":
                kwargs["json"] = {
                    "order_id": "OTHER-FOR-VICTIM",
                    "customer_id": order_world.shop,
                    "order_date": DELIVERY.isoformat(),
                    "lines": [{"product_id": "P0002", "quantity": 5}],
                }
            response = other.client.request(method, url, **kwargs)
        elif method == "GET":
            response = other.client.get(url)
        else:
            response = other.client.post(url, data={**form, "csrf_token": other.csrf})
        tried += 1
        where = (method, url, response.status_code)
        if named:
            assert response.status_code in (403, 404), where
        if response.status_code < 400:  # (a refusal may repeat the id it was given)
            for marker in markers:
                assert marker not in response.text, (*where, marker)
    assert tried >= 40, "the routers lost their routes"
    assert _snapshot(order_world) == before
