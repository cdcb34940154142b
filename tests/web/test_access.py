"""Generated from the app's routes: a manager of north can neither see nor change south's
data through any page or API route (lists, details, maps, photos, decisions, reports).

Every route must be classified in ``ROUTES``; a new route without a class fails
``test_every_route_is_classified``, so the matrix cannot silently miss one.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from PIL import Image

from salescope.storage.models import (
    AuditEvent,
    CoverageRecommendation,
    Photo,
    PlacedOrder,
    PlacedOrderLine,
    ShopTask,
    Visit,
)
from tests.web.conftest import Browser, bearer
from tests.webworld import World

SOON = (dt.date.today() + dt.timedelta(days=7)).isoformat()

# route path -> what it is: "detail" (an id of south in the path), "list" (must not leak
# south), "admin" (administrators only), "public" (no data), "session" (sign-in and out).
ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/customers"): "list",
    ("GET", "/api/v1/recommendations"): "list",
    ("GET", "/api/v1/recommendations/{rec_id}"): "detail",
    ("POST", "/api/v1/recommendations/{rec_id}/decision"): "detail",
    ("GET", "/api/v1/visits"): "list",
    ("GET", "/api/v1/visits/{visit_id}"): "detail",
    ("POST", "/api/v1/visits/{visit_id}/report"): "detail",
    ("POST", "/api/v1/visits/{visit_id}/photos"): "detail",
    ("GET", "/api/v1/photos/{photo_id}"): "detail",
    ("GET", "/api/v1/customers/{customer_id}/suggested-order"): "detail",
    ("POST", "/api/v1/orders"): "detail",
    ("GET", "/api/v1/orders"): "list",
    ("GET", "/api/v1/orders/{order_id}"): "detail",
    ("GET", "/healthz"): "public",
    ("GET", "/"): "public",
    ("GET", "/login"): "session",
    ("POST", "/login"): "session",
    ("POST", "/logout"): "session",
    ("GET", "/account"): "public",
    ("GET", "/dashboard"): "list",
    ("GET", "/queue"): "list",
    ("GET", "/map-data"): "list",
    ("GET", "/recommendations/{rec_id}"): "detail",
    ("POST", "/recommendations/{rec_id}/decision"): "detail",
    ("POST", "/recommendations/bulk"): "detail",
    ("GET", "/audit"): "list",
    ("GET", "/tasks"): "list",
    ("GET", "/visits/{visit_id}"): "detail",
    ("POST", "/visits/{visit_id}/draft"): "detail",
    ("POST", "/visits/{visit_id}/report"): "detail",
    ("POST", "/visits/{visit_id}/photos"): "detail",
    ("GET", "/photos/{photo_id}"): "detail",
    ("GET", "/order"): "public",
    ("GET", "/customers/{customer_id}/order"): "detail",
    ("POST", "/customers/{customer_id}/order"): "detail",
    ("GET", "/customers/{customer_id}/order/products"): "detail",
    ("GET", "/orders/{order_id}"): "detail",
    ("GET", "/shops"): "list",
    ("GET", "/day"): "list",
    ("GET", "/reports/orders"): "list",
    ("GET", "/online"): "list",
    ("POST", "/online/tasks"): "detail",
    ("POST", "/shop-tasks/{task_id}/answer"): "detail",
    ("POST", "/shops/invite"): "detail",
    ("GET", "/invite/{token}"): "session",
    ("POST", "/invite/{token}"): "session",
    ("GET", "/models"): "admin",
    ("POST", "/models/train"): "admin",
}
SOUTH_MARKERS = ("C4", "C5", "South Four", "South Five", "R3")


def test_every_route_is_classified() -> None:
    """The matrix below covers exactly the routes of the app's routers."""
    from salescope.web import api, ui

    found = {("GET", "/healthz")}
    for prefix, routers in (api.PREFIX, api.ROUTERS), ("", ui.ROUTERS):
        for router in routers:
            for route in router.routes:
                assert isinstance(route, APIRoute)
                found |= {(method, prefix + route.path) for method in route.methods}
    assert found == set(ROUTES)


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 200, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


def _south_order(world: World) -> str:
    """An order of C4 placed through the app."""
    with world.db.session() as s:
        order = PlacedOrder(
            order_id="ORDER-OF-C4",
            customer_id="C4",
            region="south",
            order_date=dt.date.today(),
            channel="api",
            request_hash="0" * 64,
            outcomes={},
        )
        order.lines = [PlacedOrderLine(line_no=1, product_id="PX", quantity=2.0)]
        s.add(order)
    return "ORDER-OF-C4"


def _south_task(world: World) -> int:
    """A survey given to C4."""
    with world.db.session() as s:
        task = ShopTask(
            customer_id="C4",
            region="south",
            kind="survey",
            title="Shelf survey",
            details={"questions": ["How many facings?"]},
            status="open",
            answer={},
        )
        s.add(task)
        s.flush()
        return task.id


def _south_data(client: TestClient, keys: dict[str, str], world: World) -> dict[str, Any]:
    """A verification requested on C4 for R3, with a photo, and an order of C4: south's
    visit, photo, customer and order ids."""
    rec_id = world.rec_ids["C4"]
    response = client.post(
        f"/api/v1/recommendations/{rec_id}/decision",
        json={"action": "request_verification", "rep_id": "R3", "due_date": SOON},
        headers=bearer(keys["south"]),
    )
    assert response.status_code == 200, response.text
    (visit,) = client.get("/api/v1/visits", headers=bearer(keys["rep3"])).json()["items"]
    photo = client.post(
        f"/api/v1/visits/{visit['id']}/photos",
        files={"photo": ("s.png", _png(), "image/png")},
        headers=bearer(keys["rep3"]),
    ).json()
    return {
        "rec_id": rec_id,
        "visit_id": visit["id"],
        "photo_id": photo["id"],
        "customer_id": "C4",
        "order_id": _south_order(world),
        "task_id": _south_task(world),
    }


def _snapshot(world: World) -> tuple[Any, ...]:
    with world.db.session() as s:
        return (
            sorted(
                (r.id, r.status, r.version) for r in s.scalars(sa.select(CoverageRecommendation))
            ),
            sorted((v.id, v.status, v.version, str(v.report)) for v in s.scalars(sa.select(Visit))),
            s.scalar(sa.select(sa.func.count()).select_from(Photo)),
            s.scalar(
                sa.select(sa.func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action.like("recommendation.%"))
            ),
            s.scalar(sa.select(sa.func.count()).select_from(PlacedOrder)),
            sorted((t.id, t.status) for t in s.scalars(sa.select(ShopTask))),
            s.scalar(
                sa.select(sa.func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action.not_like("user.%"))
            ),
        )


@pytest.mark.parametrize(("method", "path"), [k for k, v in ROUTES.items() if v == "detail"])
def test_north_gets_403_on_every_south_detail_and_changes_nothing(
    method: str,
    path: str,
    client: TestClient,
    api_keys: dict[str, str],
    browser: Callable[[str], Browser],
    world: World,
) -> None:
    """Any route naming a south recommendation, visit or photo answers 403 to north's
    manager (key or session), and the database is unchanged."""
    ids = _south_data(client, api_keys, world)
    url = path.format(**ids)
    before = _snapshot(world)
    if path.startswith("/api/"):
        kwargs: dict[str, Any] = {"headers": bearer(api_keys["north"])}
        if method == "POST":
            if path.endswith("/photos"):
                kwargs["files"] = {"photo": ("n.png", _png(), "image/png")}
            elif path.endswith("/decision"):
                kwargs["json"] = {"action": "reject", "reason": "not mine"}
            elif path == "/api/v1/orders":
                kwargs["json"] = {
                    "order_id": "NORTH-FOR-C4",
                    "customer_id": "C4",
                    "order_date": dt.date.today().isoformat(),
                    "lines": [{"product_id": "PX", "quantity": 1}],
                }
                kwargs["headers"]["Idempotency-Key"] = "north-1"
            else:
                kwargs["json"] = {"readiness": 1}
        response = client.request(method, url, **kwargs)
    else:
        north = browser("north")
        if method == "GET":
            response = north.client.get(url)
        elif path.endswith("/photos"):
            response = north.client.post(
                url,
                data={"csrf_token": north.csrf},
                files={"photo": ("n.png", _png(), "image/png")},
            )
        elif path.endswith("/bulk"):
            response = north.post(url, {"ids": [ids["rec_id"]]})
        elif path == "/shops/invite":
            response = north.post(url, {"customer_id": "C4", "email": "c4@example.com"})
        elif path == "/online/tasks":
            response = north.post(url, {"customer_id": "C4", "kind": "survey", "details": "Q?"})
        elif path.endswith("/answer"):
            response = north.post(url, {"q0": "3"})
        else:
            response = north.post(
                url, {"action": "reject", "reason": "not mine", "version": 1, "readiness": "1"}
            )
    if path.endswith("/bulk"):
        assert response.status_code == 200 and "outside your regions" in response.text
    else:
        assert response.status_code == 403, (method, url, response.status_code, response.text[:200])
    assert _snapshot(world) == before


@pytest.mark.parametrize("path", [p for (m, p), v in ROUTES.items() if v == "list"])
def test_north_lists_never_show_south(
    path: str,
    client: TestClient,
    api_keys: dict[str, str],
    browser: Callable[[str], Browser],
    world: World,
) -> None:
    """Lists, the dashboard, the queue, the map and the audit page of north hold nothing of
    south, and asking for region=south is forbidden."""
    _south_data(client, api_keys, world)
    if path.startswith("/api/"):
        response = client.get(path, headers=bearer(api_keys["north"]))
        forbidden = client.get(path + "?region=south", headers=bearer(api_keys["north"]))
    else:
        north = browser("north")
        response = north.client.get(
            path, headers={"HX-Request": "true"} if path == "/queue" else {}
        )
        forbidden = north.client.get(path + "?region=south", headers={"HX-Request": "true"})
    assert response.status_code == 200, response.text[:300]
    for marker in SOUTH_MARKERS:
        assert marker not in response.text, (path, marker)
    if path not in ("/api/v1/visits", "/tasks", "/audit", "/shops", "/day"):
        assert forbidden.status_code == 403, (path, forbidden.status_code)


@pytest.mark.parametrize(("method", "path"), [k for k, v in ROUTES.items() if v == "admin"])
def test_administrator_routes_refuse_a_manager_and_change_nothing(
    method: str, path: str, browser: Callable[[str], Browser], world: World
) -> None:
    """The Models page and "Train now" answer 403 to a regional manager; nothing changes."""
    before = _snapshot(world)
    north = browser("north")
    response = north.client.get(path) if method == "GET" else north.post(path, {})
    assert response.status_code == 403
    assert _snapshot(world) == before


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("admin", 200),
        ("director", 200),
        ("north", 403),
        ("south", 200),
        ("rep1", 403),
        ("rep3", 403),
        ("merch2", 403),
        ("shop1", 403),
    ],
)
def test_a_south_recommendation_per_role(
    who: str, status: int, client: TestClient, api_keys: dict[str, str], world: World
) -> None:
    """Each role's key reading south's recommendation: admin, director and south's manager
    may; north, reps (no recommendations scope) and shops may not."""
    response = client.get(
        f"/api/v1/recommendations/{world.rec_ids['C4']}", headers=bearer(api_keys[who])
    )
    assert response.status_code == status


@pytest.mark.parametrize("who", ["director", "rep1", "merch2", "shop1"])
def test_bulk_accept_refuses_who_may_decide_nothing(
    who: str, browser: Callable[[str], Browser], world: World
) -> None:
    """The bulk accept answers 403 as a whole (not 200 with every line refused) to the roles
    that may decide no recommendation, and changes nothing."""
    before = _snapshot(world)
    response = browser(who).post("/recommendations/bulk", {"ids": [world.rec_ids["C2"]]})
    assert response.status_code == 403, response.text[:300]
    assert _snapshot(world) == before
