"""The pages a manager and a rep use: what they show and what their forms do."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import sqlalchemy as sa

from salescope.storage.models import CoverageRecommendation, Visit
from tests.web.conftest import Browser
from tests.webworld import World

SOON = (dt.date.today() + dt.timedelta(days=7)).isoformat()


def test_each_role_lands_on_its_home(browser: Callable[[str], Browser]) -> None:
    """Managers land on the dashboard, reps on their tasks, shops on their order."""
    for who, home in (("north", "/dashboard"), ("rep1", "/tasks"), ("shop1", "/order")):
        response = browser(who).client.get("/", follow_redirects=False)
        assert response.headers["location"] == home


def test_the_dashboard_shows_the_region(browser: Callable[[str], Browser]) -> None:
    """North's dashboard: tiles, the map source, segments and the queue of open items."""
    page = browser("north").get("/dashboard")
    text = page.text  # type: ignore[attr-defined]
    assert 'data-src="/map-data?region=north"' in text
    assert "served shops" in text and "to review" in text
    assert "Prospect Two" in text and "Kiosk Three" in text
    assert "Corner" not in text.split("Queue", 1)[1]  # keep: not in the open queue


def test_the_queue_filters_through_htmx(browser: Callable[[str], Browser]) -> None:
    """The queue's rows, filtered by recommendation, come back as a fragment."""
    north = browser("north")
    response = north.client.get(
        "/queue?region=north&recommendation=drop", headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert "Kiosk Three" in response.text and "Prospect Two" not in response.text
    assert "<html" not in response.text


def test_the_map_data_holds_shops_and_reps(browser: Callable[[str], Browser]) -> None:
    """The map gets the region's shops with their kind and the reps."""
    data = browser("north").client.get("/map-data?region=north").json()
    kinds = {s["id"]: s["kind"] for s in data["shops"]}
    assert kinds == {"C1": "served", "C2": "add", "C3": "drop"}
    assert {r["id"] for r in data["reps"]} == {"R1", "R2"}


def test_deciding_on_the_page_updates_the_panel(
    browser: Callable[[str], Browser], world: World
) -> None:
    """Accept through the htmx form: the panel comes back with the decision and the trail."""
    north = browser("north")
    response = north.client.post(
        f"/recommendations/{world.rec_ids['C2']}/decision",
        data={"action": "accept", "version": "1", "rep_id": "R1", "visits_per_month": "3"},
        headers={"HX-Request": "true", "X-CSRF-Token": north.csrf},
    )
    assert response.status_code == 200
    assert 'id="decision"' in response.text and "3 visits/month" in response.text
    assert "accept" in response.text.split('id="trail"', 1)[1]


def test_a_refused_decision_is_explained_and_changes_nothing(
    browser: Callable[[str], Browser], world: World
) -> None:
    """Rejecting without a reason shows why, with a 422, and the status stays."""
    north = browser("north")
    response = north.post(
        f"/recommendations/{world.rec_ids['C2']}/decision", {"action": "reject", "version": "1"}
    )
    assert response.status_code == 422  # type: ignore[attr-defined]
    assert "say why" in response.text  # type: ignore[attr-defined]
    with world.db.session() as s:
        rec = s.get(CoverageRecommendation, world.rec_ids["C2"])
        assert rec is not None and rec.status == "proposed"


def test_a_stale_page_gets_a_conflict(browser: Callable[[str], Browser], world: World) -> None:
    """Two managers on the same page: the second decision, from version 1, is refused."""
    first, second = browser("north"), browser("admin")
    url = f"/recommendations/{world.rec_ids['C3']}/decision"
    assert first.post(url, {"action": "accept", "version": "1"}).status_code == 200  # type: ignore[attr-defined]
    late = second.post(url, {"action": "reject", "version": "1", "reason": "no"})
    assert late.status_code == 409  # type: ignore[attr-defined]
    assert "changed since you read it" in late.text  # type: ignore[attr-defined]


def test_bulk_accept(browser: Callable[[str], Browser], world: World) -> None:
    """Ticked recommendations are accepted as proposed; the page says how many."""
    north = browser("north")
    response = north.post(
        "/recommendations/bulk", {"ids": [world.rec_ids["C2"], world.rec_ids["C3"]]}
    )
    assert "2 accepted" in response.text  # type: ignore[attr-defined]


def test_a_director_reads_but_cannot_decide(
    browser: Callable[[str], Browser], world: World
) -> None:
    """The director's recommendation page has no decision form."""
    page = browser("director").get(f"/recommendations/{world.rec_ids['C4']}")
    assert page.status_code == 200  # type: ignore[attr-defined]
    assert 'class="decision"' not in page.text  # type: ignore[attr-defined]


def test_the_rep_drafts_and_files_a_report(browser: Callable[[str], Browser], world: World) -> None:
    """The rep's task list, the report form with the shelf grid, a draft saved by htmx, then
    the report filed: back to the tasks, the recommendation visit reported."""
    browser("north").post(
        f"/recommendations/{world.rec_ids['C2']}/decision",
        {"action": "request_verification", "version": "1", "rep_id": "R1", "due_date": SOON},
    )
    rep = browser("rep1")
    tasks = rep.get("/tasks").text  # type: ignore[attr-defined]
    with world.db.session() as s:
        visit_id = s.scalar(sa.select(Visit.id))
    assert f"/visits/{visit_id}" in tasks
    form = rep.get(f"/visits/{visit_id}").text  # type: ignore[attr-defined]
    assert 'name="readiness"' in form and "File the report" in form
    draft = rep.client.post(
        f"/visits/{visit_id}/draft",
        data={"notes": "door closed at first", "shelf-0-product_id": "P9", "shelf-0-present": "1"},
        headers={"HX-Request": "true", "X-CSRF-Token": rep.csrf},
    )
    assert "Draft saved at" in draft.text
    with world.db.session() as s:
        visit = s.get(Visit, visit_id)
        assert visit is not None and visit.report["notes"] == "door closed at first"
    filed = rep.post(
        f"/visits/{visit_id}/report",
        {"readiness": "4", "interview_notes": "wants a trial", "shelf-0-product_id": "P9"},
        follow_redirects=False,
    )
    assert filed.status_code == 303  # type: ignore[attr-defined]
    with world.db.session() as s:
        rec = s.get(CoverageRecommendation, world.rec_ids["C2"])
        assert rec is not None and rec.status == "visit_reported"
    page = browser("north").get(f"/recommendations/{world.rec_ids['C2']}").text  # type: ignore[attr-defined]
    assert "Readiness 4/5" in page and "wants a trial" in page


def test_a_recommendation_shows_the_reps_load_and_the_runs_assumptions(
    browser: Callable[[str], Browser], world: World
) -> None:
    """The proposed rep's capacity and load before and after, and the run's assumptions."""
    page = browser("north").get(f"/recommendations/{world.rec_ids['C2']}").text  # type: ignore[attr-defined]
    assert "Capacity of R1" in page and "load today 3,000" in page and "3,500" in page
    assert "Assumptions of coverage run" in page and "0.41" in page


def test_a_recommendation_shows_its_peers(browser: Callable[[str], Browser], world: World) -> None:
    """The served shops of the same segment in the region are summed up beside the shop."""
    page = browser("north").get(f"/recommendations/{world.rec_ids['C2']}").text  # type: ignore[attr-defined]
    assert 'id="peers"' in page and "Peers (2 served shops" in page
