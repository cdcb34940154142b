"""The digital platform and automatic replenishment in the app: a manager gives a shop
tasks, the shop answers them online, its rep and manager read the answers; a shop in
automatic mode sees what will be ordered and when, changes it, cancels it and puts it back
before the cut-off; all audited and only within reach."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from salescope.services.calendar import Clock
from salescope.storage.models import AuditEvent, AutoOrder, ShopTask
from salescope.web.app import create_app
from tests.orderworld import DELIVERY, EMAILS, TODAY, OrderWorld
from tests.web.conftest import Browser, sign_in
from tests.web.test_order_pages import HX, _form, _post, _quantities


def at(hour: int, minute: int = 0) -> Clock:
    moment = dt.datetime.combine(TODAY, dt.time(hour, minute), tzinfo=dt.UTC)
    return Clock(shift=moment - dt.datetime.now(dt.UTC))


@pytest.fixture
def signed(order_world: OrderWorld) -> Iterator[Any]:
    """``signed("auto", hour)``: a client of an app whose clock is TODAY at ``hour`` UTC."""
    clients: list[TestClient] = []

    def make(who: str, hour: int = 10) -> Browser:
        app = create_app(order_world.settings, order_world.db, clock=at(hour))
        client = TestClient(app, raise_server_exceptions=False)
        clients.append(client)
        return sign_in(client, who, email=EMAILS[who])

    yield make
    for client in clients:
        client.close()


def test_a_shop_answers_its_tasks_and_its_rep_and_manager_read_them(
    signed: Any, order_world: OrderWorld
) -> None:
    """Lesnia's manager gives the shop a delivery window and a promotion; the shop sees
    them on its page and answers; the rep and the manager read the answers on Shops online,
    Vardenia's manager does not, another shop cannot answer; each step is audited."""
    shop = order_world.shop
    promotion = order_world.trained.company.tables["promotions"]["promotion_id"][0]
    manager = signed("lesnia")
    given = manager.post(
        "/online/tasks",
        {"customer_id": shop, "kind": "delivery_window", "details": "08:00-10:00\n14:00-16:00"},
    )
    assert given.status_code == 200 and "given to" in given.text  # type: ignore[attr-defined]
    manager.post("/online/tasks", {"customer_id": shop, "kind": "promotion", "details": promotion})
    wrong = manager.post(
        "/online/tasks", {"customer_id": shop, "kind": "delivery_window", "details": "noon"}
    )
    assert wrong.status_code == 422 and "08:00-10:00" in wrong.text  # type: ignore[attr-defined]
    with order_world.db.session() as s:
        window, promo = s.scalars(sa.select(ShopTask.id).order_by(ShopTask.id)).all()

    other = signed("other")
    assert other.post(f"/shop-tasks/{window}/answer", {"window": "08:00-10:00"}).status_code == 403  # type: ignore[attr-defined]
    me = signed("shop")
    page = me.client.get(f"/customers/{shop}/order").text
    assert 'id="shop-tasks"' in page and f'id="task-{window}"' in page and "14:00-16:00" in page
    done = me.client.post(
        f"/shop-tasks/{window}/answer",
        data={"window": "14:00-16:00", "csrf_token": me.csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303
    me.post(f"/shop-tasks/{promo}/answer", {"accept": "no"})
    again = me.post(f"/shop-tasks/{window}/answer", {"window": "08:00-10:00"})
    assert again.status_code == 409  # type: ignore[attr-defined]

    for who in ("rep", "lesnia"):
        text = signed(who).client.get("/online").text
        assert "delivery between 14:00-16:00" in text and "declined" in text.lower()
    assert f'id="task-{window}"' not in signed("vardenia").client.get("/online").text
    with order_world.db.session() as s:
        actions = list(s.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))
        assert actions.count("shop_task.created") == 2
        assert actions.count("shop_task.answered") == 2


def test_an_automatic_shop_sees_changes_cancels_and_resumes_its_order(
    signed: Any, order_world: OrderWorld
) -> None:
    """At 10:00 the automatic shop's page says what will be ordered at 16:00 for Tuesday;
    it saves a changed quantity (edited, listed so on Shops online), cancels, puts the
    order back; after the cut-off it can no longer change it."""
    auto = order_world.trained.auto
    me = signed("auto")
    page = me.client.get(f"/customers/{auto}/order").text
    assert 'id="automatic"' in page and "Monday 2 September at 16:00" in page
    assert DELIVERY.strftime("%A %-d %B") in page
    fields = _form(page)
    first = next(k for k in fields if k.endswith("-quantity"))
    fields[first] = str(float(fields[first]) * 2 + 1)
    saved = _post(me, auto, fields, "auto:save")
    assert saved.status_code == 200 and "Saved:" in saved.text
    with order_world.db.session() as s:
        row = s.scalar(sa.select(AutoOrder).where(AutoOrder.customer_id == auto))
        assert row is not None and row.status == "edited" and row.lines
    reopened = me.client.get(f"/customers/{auto}/order").text
    assert _quantities(reopened) == _quantities(saved.text)
    listed = signed("lesnia").client.get("/online").text
    row = listed.split(f'id="auto-{auto}"', 1)[1].split("</tr>", 1)[0]
    assert "changed by the shop" in row and EMAILS["auto"] in row

    cancelled = _post(me, auto, _form(reopened), "auto:cancel")
    assert "Nothing will be ordered" in cancelled.text
    resumed = _post(me, auto, _form(cancelled.text), "auto:resume")
    assert "Back on" in resumed.text
    late = signed("auto", hour=17)
    after = late.client.get(f"/customers/{auto}/order").text
    assert "Tuesday 3 September at 16:00" in after  # the next delivery's order now
    refused = late.client.post(
        f"/customers/{auto}/order",
        data={
            **_form(after),
            "order_date": DELIVERY.isoformat(),
            "op": "auto:cancel",
            "csrf_token": late.csrf,
        },
        headers=HX,
    )
    assert refused.status_code == 409 and "cut-off" in refused.text
    with order_world.db.session() as s:
        actions = set(s.scalars(sa.select(AuditEvent.action)))
        assert {"auto_order.edited", "auto_order.cancelled", "auto_order.resumed"} <= actions
