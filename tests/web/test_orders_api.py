"""The orders routes of the HTTP API (CONTRACTS.md): the suggested order of a customer, an
order placed with an Idempotency-Key (a retry never duplicates it), matched against the
proposal shown by the feedback service, stored as order lines the next training reads."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from salescope.services import keys
from salescope.services.models import merge_placed_orders
from salescope.storage.models import (
    AcceptanceCalibration,
    AuditEvent,
    FeedbackOutcome,
    PlacedOrder,
    ProposalLine,
)
from salescope.storage.tables import TableStore
from salescope.web.app import create_app
from tests.orderworld import DELIVERY, EMAILS, OrderWorld
from tests.web.conftest import bearer

OFFERED = [f"P{n:04d}" for n in range(1, 58) if n != 13]
"""Products the small company sells (own and active); the added line is one not proposed."""
SCOPES = {
    "admin": ["orders:read", "orders:write"],
    "director": ["orders:read"],
    "lesnia": ["orders:read", "orders:write"],
    "vardenia": ["orders:read", "orders:write"],
    "rep": ["orders:read", "orders:write"],
    "shop": ["orders:read", "orders:write"],
    "other": ["orders:read", "orders:write"],
    "south": ["orders:read"],
}


@pytest.fixture
def api(order_world: OrderWorld) -> Iterator[TestClient]:
    app = create_app(order_world.settings, order_world.db)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def order_keys(order_world: OrderWorld) -> dict[str, str]:
    out = {}
    with order_world.db.session() as session:
        for who, scopes in SCOPES.items():
            out[who] = keys.do_create_key(session, EMAILS[who], scopes, actor="test")[1]
    return out


def suggested(client: TestClient, key: str, customer: str, day: dt.date | None = None) -> Any:
    url = f"/api/v1/customers/{customer}/suggested-order"
    if day is not None:
        url += f"?date={day.isoformat()}"
    return client.get(url, headers=bearer(key))


def post_order(
    client: TestClient, key: str, body: dict[str, Any], idempotency: str | None = "k-1"
) -> Any:
    headers = bearer(key) | ({"Idempotency-Key": idempotency} if idempotency else {})
    return client.post("/api/v1/orders", json=body, headers=headers)


def test_a_shop_gets_its_suggested_order_for_the_next_delivery_date(
    api: TestClient, order_keys: dict[str, str], order_world: OrderWorld
) -> None:
    """The shop's key reads its proposal for the next delivery date: usual lines first, then
    the novelty, each with kind, probability, quantity, reason, name and price; it is
    recorded once as the proposal its order will answer."""
    response = suggested(api, order_keys["shop"], order_world.shop)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["customer_id"] == order_world.shop and body["order_date"] == DELIVERY.isoformat()
    kinds = [line["kind"] for line in body["lines"]]
    assert kinds[0] == "usual" and kinds == sorted(kinds, key=lambda k: k != "usual")
    assert order_world.trained.novelty in {
        line["product_id"] for line in body["lines"] if line["kind"] != "usual"
    }
    for line in body["lines"]:
        assert 0 <= line["probability"] <= 1 and line["quantity"] > 0 and line["reason"]
        assert line["name"] and line["unit_price"] is not None
    assert [line["rank"] for line in body["lines"]] == list(range(1, len(body["lines"]) + 1))
    again = suggested(api, order_keys["shop"], order_world.shop, DELIVERY)
    assert again.json() == body
    with order_world.db.session() as s:
        stored = s.scalars(
            sa.select(ProposalLine.product_id).where(ProposalLine.customer_id == order_world.shop)
        ).all()
        shown = s.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "proposal.shown")
        )
    assert sorted(stored) == sorted(line["product_id"] for line in body["lines"])
    assert shown == 1


@pytest.mark.parametrize(
    ("who", "customer", "status"),
    [
        ("shop", "other", 403),
        ("shop", "south", 403),
        ("vardenia", "shop", 403),
        ("lesnia", "south", 403),
        ("lesnia", "shop", 200),
        ("rep", "shop", 200),
        ("director", "south", 200),
        ("shop", "nobody", 404),
    ],
)
def test_suggested_orders_only_for_customers_in_reach(
    who: str,
    customer: str,
    status: int,
    api: TestClient,
    order_keys: dict[str, str],
    order_world: OrderWorld,
) -> None:
    """A shop sees only its own suggestion; a manager only its region's; 404 for an unknown
    customer; a refused request records nothing."""
    ids = {
        "shop": order_world.trained.shop,
        "other": order_world.trained.other,
        "south": order_world.trained.south,
        "nobody": "NO-SUCH-SHOP",
    }
    response = suggested(api, order_keys[who], ids[customer])
    assert response.status_code == status, response.text
    if status != 200:
        assert set(response.json()["error"]) == {"code", "message", "field"}
        with order_world.db.session() as s:
            assert s.scalar(sa.select(sa.func.count()).select_from(ProposalLine)) == 0


def test_a_key_without_the_orders_scope_is_refused(
    api: TestClient, order_world: OrderWorld
) -> None:
    """A manager's key with recommendations:read only gets 403 naming orders:read."""
    with order_world.db.session() as session:
        _, key = keys.do_create_key(
            session, EMAILS["lesnia"], ["recommendations:read"], actor="test"
        )
    response = suggested(api, key, order_world.shop)
    assert response.status_code == 403 and "orders:read" in response.json()["error"]["message"]


def test_without_a_trained_model_the_answer_is_503(
    api: TestClient, order_keys: dict[str, str], order_world: OrderWorld
) -> None:
    """No model in use: 503 with the error body saying what to do, never a traceback."""
    with order_world.db.session() as s:
        s.execute(sa.text("UPDATE model_runs SET status = 'failed'"))
    app = create_app(order_world.settings, order_world.db)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = suggested(client, order_keys["shop"], order_world.shop)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    assert "trained" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("query", "field"), [("date=2024-13-01", "date"), ("date=2030-01-01", "date")]
)
def test_a_bad_date_is_422_naming_it(
    query: str, field: str, api: TestClient, order_keys: dict[str, str], order_world: OrderWorld
) -> None:
    """A date that is not a date, or more than a year away: 422 with field ``date``."""
    response = api.get(
        f"/api/v1/customers/{order_world.shop}/suggested-order?{query}",
        headers=bearer(order_keys["shop"]),
    )
    assert response.status_code == 422 and response.json()["error"]["field"] == field


def _changed_order(suggestion: dict[str, Any], novelty: str, order_id: str) -> dict[str, Any]:
    """The suggestion ordered with: the first usual line as proposed, the second with twice
    the quantity, the novelty (and every other line) left out, and a product added."""
    usual = [line for line in suggestion["lines"] if line["kind"] == "usual"]
    proposed = {line["product_id"] for line in suggestion["lines"]}
    added = next(p for p in OFFERED if p not in proposed)
    assert novelty in proposed
    return {
        "order_id": order_id,
        "customer_id": suggestion["customer_id"],
        "order_date": suggestion["order_date"],
        "lines": [
            {"product_id": usual[0]["product_id"], "quantity": usual[0]["quantity"]},
            {"product_id": usual[1]["product_id"], "quantity": 2 * usual[1]["quantity"] + 5},
            {"product_id": added, "quantity": 3},
        ],
    }


def test_an_order_is_matched_against_the_proposal_line_by_line(
    api: TestClient, order_keys: dict[str, str], order_world: OrderWorld
) -> None:
    """The order placed after the suggestion was shown: accepted, quantity changed, added,
    and every proposed line left out removed (the novelty among them) — in the answer, on
    the order and in the feedback outcomes; the calibrator is refitted."""
    shown = suggested(api, order_keys["shop"], order_world.shop).json()
    body = _changed_order(shown, order_world.trained.novelty, "WEB-1")
    with order_world.db.session() as s:
        calibrations = s.scalar(sa.select(sa.func.count()).select_from(AcceptanceCalibration))
    response = post_order(api, order_keys["shop"], body)
    assert response.status_code == 201, response.text
    placed = response.json()
    outcomes = [line["outcome"] for line in placed["lines"]]
    assert outcomes == ["accepted", "quantity_changed", "added"]
    removed = {r["product_id"] for r in placed["removed"]}
    assert order_world.trained.novelty in removed
    assert removed == {line["product_id"] for line in shown["lines"]} - {
        line["product_id"] for line in body["lines"]
    }
    assert placed["outcomes"] == {
        "accepted": 1,
        "quantity_changed": 1,
        "removed": len(removed),
        "added": 1,
    }
    assert placed["proposal_date"] == shown["order_date"] and placed["channel"] == "api"
    with order_world.db.session() as s:
        stored = dict(
            s.execute(
                sa.select(FeedbackOutcome.product_id, FeedbackOutcome.outcome).where(
                    FeedbackOutcome.order_id == "WEB-1"
                )
            ).all()
        )
        assert stored[order_world.trained.novelty] == "removed"
        assert s.scalar(sa.select(sa.func.count()).select_from(AcceptanceCalibration)) == (
            (calibrations or 0) + 1
        )
        assert (
            s.scalar(
                sa.select(sa.func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "order.placed", AuditEvent.entity_id == "WEB-1")
            )
            == 1
        )


def test_a_retried_post_never_duplicates_the_order(
    api: TestClient, order_keys: dict[str, str], order_world: OrderWorld
) -> None:
    """The same request with the same Idempotency-Key answers 200 with the same body and
    stores nothing more; the key with another order is 409, the order id with another key is
    409; nothing is placed twice."""
    shown = suggested(api, order_keys["shop"], order_world.shop).json()
    body = _changed_order(shown, order_world.trained.novelty, "WEB-2")
    first = post_order(api, order_keys["shop"], body, "retry-me")
    second = post_order(api, order_keys["shop"], body, "retry-me")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json() == second.json()
    other = dict(body, order_id="WEB-3")
    assert post_order(api, order_keys["shop"], other, "retry-me").status_code == 409
    assert post_order(api, order_keys["shop"], body, "another-key").status_code == 409
    with order_world.db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(PlacedOrder)) == 1
        assert s.scalar(
            sa.select(sa.func.count())
            .select_from(FeedbackOutcome)
            .where(FeedbackOutcome.order_id == "WEB-2")
        ) == len(first.json()["lines"]) + len(first.json()["removed"])


@pytest.mark.parametrize(
    ("change", "header", "status", "field"),
    [
        ({}, None, 422, "Idempotency-Key"),
        ({"lines": [{"product_id": "NOPE", "quantity": 1}]}, "k", 422, "lines.0.product_id"),
        ({"lines": [{"product_id": "P0001", "quantity": 0}]}, "k", 422, "lines.0.quantity"),
        ({"lines": []}, "k", 422, "lines"),
        ({"order_date": "2023-01-01"}, "k", 422, "order_date"),
        ({"customer_id": "SOUTH"}, "k", 403, None),
        ({"unknown": 1}, "k", 422, "unknown"),
    ],
)
def test_a_bad_order_is_refused_naming_the_field_and_stores_nothing(
    change: dict[str, Any],
    header: str | None,
    status: int,
    field: str | None,
    api: TestClient,
    order_keys: dict[str, str],
    order_world: OrderWorld,
) -> None:
    """No key, an unknown product, a zero quantity, no line, an old date, another shop's
    customer, an unknown field: refused with the field named, and nothing stored."""
    body: dict[str, Any] = {
        "order_id": "BAD-1",
        "customer_id": order_world.shop,
        "order_date": DELIVERY.isoformat(),
        "lines": [{"product_id": "P0002", "quantity": 2}],
    } | change
    if body["customer_id"] == "SOUTH":
        body["customer_id"] = order_world.trained.south
    response = post_order(api, order_keys["shop"], body, header)
    assert response.status_code == status, response.text
    if field is not None:
        assert response.json()["error"]["field"] == field
    with order_world.db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(PlacedOrder)) == 0


def test_a_read_only_key_cannot_place_an_order(
    api: TestClient, order_keys: dict[str, str], order_world: OrderWorld
) -> None:
    """The director's key (orders:read) is refused with 403 naming orders:write."""
    body = {
        "order_id": "RO-1",
        "customer_id": order_world.trained.south,
        "order_date": DELIVERY.isoformat(),
        "lines": [{"product_id": "P0002", "quantity": 2}],
    }
    response = post_order(api, order_keys["director"], body)
    assert response.status_code == 403


def test_orders_are_read_back_only_by_who_may_see_the_customer(
    api: TestClient, order_keys: dict[str, str], order_world: OrderWorld
) -> None:
    """The shop lists and reads its order; another shop gets an empty list and 403 on it."""
    body = {
        "order_id": "READ-1",
        "customer_id": order_world.shop,
        "order_date": DELIVERY.isoformat(),
        "lines": [{"product_id": "P0002", "quantity": 2}],
    }
    assert post_order(api, order_keys["shop"], body).status_code == 201
    mine = api.get("/api/v1/orders", headers=bearer(order_keys["shop"])).json()
    assert [o["order_id"] for o in mine["items"]] == ["READ-1"]
    assert api.get("/api/v1/orders/READ-1", headers=bearer(order_keys["shop"])).status_code == 200
    theirs = api.get("/api/v1/orders", headers=bearer(order_keys["other"])).json()
    assert theirs["items"] == []
    assert api.get("/api/v1/orders/READ-1", headers=bearer(order_keys["other"])).status_code == 403
    assert api.get("/api/v1/orders/NONE", headers=bearer(order_keys["other"])).status_code == 404


def test_feedback_is_reflected_in_the_next_suggestion(
    api: TestClient, order_keys: dict[str, str], order_world: OrderWorld
) -> None:
    """The issue's bar: a novelty turned down in two orders in a row rests, and the
    suggestion for the next date no longer offers it; every suggestion after an order is
    computed with the calibration that order refitted."""
    shop, novelty = order_world.shop, order_world.trained.novelty
    key = order_keys["shop"]
    day = DELIVERY
    for n in range(2):
        shown = suggested(api, key, shop, day).json()
        if novelty not in {
            line["product_id"] for line in shown["lines"] if line["kind"] != "usual"
        }:
            pytest.skip(f"the novelty is not offered again on {day}")
        body = _changed_order(shown, novelty, f"REST-{n}")
        assert post_order(api, key, body, f"rest-{n}").status_code == 201
        day += dt.timedelta(days=7)
    after = suggested(api, key, shop, day).json()
    offered = {line["product_id"] for line in after["lines"] if line["kind"] != "usual"}
    assert novelty not in offered  # it may still be a usual line: resting is for novelties
    with order_world.db.session() as s:
        rests = s.execute(
            sa.text(
                "SELECT rest_until FROM resting_products WHERE customer_id = :c AND product_id = :p"
            ),
            {"c": shop, "p": novelty},
        ).scalar()
        assert rests is not None
    engine = api.app.state.orders  # type: ignore[attr-defined]
    with order_world.db.session() as s:
        latest = s.scalar(sa.select(sa.func.max(AcceptanceCalibration.id)))
        assert engine.suggestion(s, shop, day).calibration_id == latest


def test_placed_orders_become_order_lines_the_next_training_reads(
    api: TestClient, order_keys: dict[str, str], order_world: OrderWorld
) -> None:
    """Merging the placed orders into the table store (the first step of a training) adds
    their lines under their order id, with prices, once: merging again adds nothing."""
    body = {
        "order_id": "MERGE-1",
        "customer_id": order_world.shop,
        "order_date": DELIVERY.isoformat(),
        "lines": [
            {"product_id": "P0002", "quantity": 2},
            {"product_id": "P0004", "quantity": 6, "unit_price": 1.5},
        ],
    }
    assert post_order(api, order_keys["shop"], body).status_code == 201
    first = merge_placed_orders(order_world.settings, order_world.db, actor="test")
    assert (first.orders, first.lines) == (1, 2)
    orders = TableStore(order_world.settings.tables_dir).read("orders")
    assert orders is not None
    lines = orders.filter(pl.col("order_id") == "MERGE-1").sort("product_id")
    assert lines["quantity"].to_list() == [2.0, 6.0]
    assert lines["unit_price"][1] == 1.5 and lines["customer_id"][0] == order_world.shop
    again = merge_placed_orders(order_world.settings, order_world.db, actor="test")
    assert again.orders == 0
    with order_world.db.session() as s:
        assert s.scalar(sa.select(PlacedOrder.merged_version)) == first.version
