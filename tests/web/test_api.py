"""The HTTP API of CONTRACTS.md: keys, errors, pages, decisions with If-Match, visits."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from salescope.storage.models import CoverageRecommendation
from tests.web.conftest import bearer
from tests.webworld import World

SOON = (dt.date.today() + dt.timedelta(days=7)).isoformat()


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), (0, 90, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_healthz_needs_no_key(client: TestClient) -> None:
    """/healthz answers without credentials."""
    assert client.get("/healthz").json()["status"] == "ok"


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc", "Bearer slk_0123_456"])
def test_api_without_a_valid_key_is_401_with_the_error_body(
    client: TestClient, header: str | None
) -> None:
    """No key, a wrong key or another scheme: 401 and {"error": {code, message, field}}."""
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/v1/recommendations", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert set(response.json()["error"]) == {"code", "message", "field"}


def test_a_north_key_sees_north_only_and_cannot_decide_south(
    client: TestClient, api_keys: dict[str, str], world: World
) -> None:
    """The issue's bar: a key of north's manager lists only north's recommendations, and a
    decision posted on a south recommendation answers 403 and changes nothing."""
    response = client.get("/api/v1/recommendations", headers=bearer(api_keys["north"]))
    assert response.status_code == 200
    assert {r["region"] for r in response.json()["items"]} == {"north"}
    south = world.rec_ids["C4"]
    refused = client.post(
        f"/api/v1/recommendations/{south}/decision",
        json={"action": "reject", "reason": "not mine"},
        headers=bearer(api_keys["north"]),
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    with world.db.session() as s:
        rec = s.get(CoverageRecommendation, south)
        assert rec is not None and (rec.status, rec.version) == ("proposed", 1)


def test_decisions_use_if_match_and_answer_409_on_conflicts(
    client: TestClient, api_keys: dict[str, str], world: World
) -> None:
    """The ETag is the version; an old If-Match and a decision on a decided recommendation
    both answer 409 with a message."""
    rec_id = world.rec_ids["C2"]
    headers = bearer(api_keys["north"])
    read = client.get(f"/api/v1/recommendations/{rec_id}", headers=headers)
    assert read.headers["etag"] == '"1"' and read.json()["audit"] == []
    body = {"action": "accept", "rep_id": "R1", "visits_per_month": 2}
    done = client.post(
        f"/api/v1/recommendations/{rec_id}/decision",
        json=body,
        headers={**headers, "If-Match": '"1"'},
    )
    assert done.status_code == 200 and done.json()["status"] == "accepted"
    again = client.post(
        f"/api/v1/recommendations/{rec_id}/decision",
        json=body,
        headers={**headers, "If-Match": '"1"'},
    )
    assert (
        again.status_code == 409 and "changed since you read it" in again.json()["error"]["message"]
    )
    final = client.post(f"/api/v1/recommendations/{rec_id}/decision", json=body, headers=headers)
    assert final.status_code == 409 and "already accepted" in final.json()["error"]["message"]
    trail = client.get(f"/api/v1/recommendations/{rec_id}", headers=headers).json()["audit"]
    assert [e["action"] for e in trail] == ["recommendation.accept"]


def test_invalid_values_name_their_field(
    client: TestClient, api_keys: dict[str, str], world: World
) -> None:
    """A missing reason or an unknown action answers 422 naming the field."""
    url = f"/api/v1/recommendations/{world.rec_ids['C2']}/decision"
    missing = client.post(url, json={"action": "reject"}, headers=bearer(api_keys["north"]))
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "reason"
    unknown = client.post(url, json={"action": "explode"}, headers=bearer(api_keys["north"]))
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "action"


def test_lists_are_paginated_with_a_cursor(client: TestClient, api_keys: dict[str, str]) -> None:
    """limit and cursor walk the list once; a made-up cursor is a 422."""
    headers = bearer(api_keys["admin"])
    ids: list[str] = []
    url = "/api/v1/customers?limit=2"
    while url:
        page = client.get(url, headers=headers).json()
        ids += [c["customer_id"] for c in page["items"]]
        url = (
            f"/api/v1/customers?limit=2&cursor={page['next_cursor']}" if page["next_cursor"] else ""
        )
    assert ids == ["C1", "C2", "C3", "C4", "C5"]
    bad = client.get("/api/v1/customers?cursor=zzz", headers=headers)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "cursor"


def test_a_key_without_the_scope_is_403(
    client: TestClient, api_keys: dict[str, str], world: World
) -> None:
    """A director's read-only key cannot decide, and says which scope is missing or why."""
    response = client.post(
        f"/api/v1/recommendations/{world.rec_ids['C2']}/decision",
        json={"action": "reject", "reason": "x"},
        headers=bearer(api_keys["director"]),
    )
    assert response.status_code == 403


def test_the_rep_reports_a_visit_through_the_api(
    client: TestClient, api_keys: dict[str, str], world: World
) -> None:
    """Request verification (manager), then the rep lists its visit, adds a photo, saves a
    draft and files the report; the recommendation is then visit reported."""
    rec_id = world.rec_ids["C2"]
    client.post(
        f"/api/v1/recommendations/{rec_id}/decision",
        json={"action": "request_verification", "rep_id": "R1", "due_date": SOON},
        headers=bearer(api_keys["admin"]),
    )
    rep = bearer(api_keys["rep1"])
    (visit,) = client.get("/api/v1/visits", headers=rep).json()["items"]
    photo = client.post(
        f"/api/v1/visits/{visit['id']}/photos",
        files={"photo": ("shelf.png", _png(), "image/png")},
        headers=rep,
    )
    assert photo.status_code == 201, photo.text
    assert client.get(photo.json()["url"], headers=rep).headers["content-type"] == "image/png"
    draft = client.post(
        f"/api/v1/visits/{visit['id']}/report", json={"draft": True, "notes": "first"}, headers=rep
    )
    assert draft.json()["status"] == "draft"
    filed = client.post(
        f"/api/v1/visits/{visit['id']}/report",
        json={
            "readiness": 5,
            "shelf": [{"product_id": "P1", "own": True, "present": True, "facings": 3}],
        },
        headers=rep,
    )
    assert filed.status_code == 200 and filed.json()["status"] == "reported"
    rec = client.get(f"/api/v1/recommendations/{rec_id}", headers=bearer(api_keys["north"])).json()
    assert rec["status"] == "visit_reported"
    other = client.get(f"/api/v1/visits/{visit['id']}", headers=bearer(api_keys["rep3"]))
    assert other.status_code == 403


def test_customers_are_scoped_per_role(client: TestClient, api_keys: dict[str, str]) -> None:
    """Each role lists the customers it may see: a shop itself, a rep its own."""

    def ids(who: str) -> set[str]:
        page = client.get("/api/v1/customers", headers=bearer(api_keys[who])).json()
        return {c["customer_id"] for c in page["items"]}

    assert ids("shop1") == {"C1"}
    assert ids("rep1") == {"C1", "C3"}
    assert ids("south") == {"C4", "C5"}
    assert ids("director") == {"C1", "C2", "C3", "C4", "C5"}
    assert (
        client.get("/api/v1/customers?region=south", headers=bearer(api_keys["north"])).status_code
        == 403
    )


def test_the_recommendation_columns_of_the_contract(
    client: TestClient, api_keys: dict[str, str]
) -> None:
    """A listed recommendation has the fields CONTRACTS.md names."""
    (item, *_) = client.get("/api/v1/recommendations", headers=bearer(api_keys["admin"])).json()[
        "items"
    ]
    assert {
        "id",
        "customer_id",
        "region",
        "recommendation",
        "status",
        "reason",
        "evidence",
        "version",
    } <= set(item)
