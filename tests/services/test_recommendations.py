"""The coverage review: publishing runs, the state machine, locking, audit, region scoping,
field verification with photos; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image
from tests.webworld import EMAILS, World, write_coverage

from salescope.data.io import read_coverage_output
from salescope.domain.errors import (
    ConflictError,
    FieldError,
    InputError,
    PermissionDeniedError,
    StaleError,
)
from salescope.domain.lifecycle import TransitionError, allowed_actions, transition
from salescope.domain.statuses import DecisionAction, RecommendationStatus
from salescope.services import recommendations as recs
from salescope.services import visits
from salescope.services.access import Scope, scope_of
from salescope.services.users import find_user
from salescope.storage.models import AuditEvent, CoverageRecommendation, Customer, Visit

TODAY = dt.date(2024, 9, 2)
A = DecisionAction


def _scope(w: World, who: str) -> Scope:
    with w.db.session(readonly=True) as s:
        return scope_of(find_user(s, EMAILS[who]))


def _decide(
    w: World, who: str, customer: str, request: recs.DecisionInput, **kw: object
) -> CoverageRecommendation:
    with w.db.session() as s:
        return recs.decide(s, _scope(w, who), w.rec_ids[customer], request, today=TODAY, **kw)  # type: ignore[arg-type]


def _trail(w: World, customer: str) -> list[str]:
    with w.db.session() as s:
        return [e.action for e in recs.audit_trail(s, _scope(w, "admin"), w.rec_ids[customer])]


def test_every_state_refuses_what_the_machine_does_not_list() -> None:
    """Final states allow nothing; a second verification request and a report without a
    request are refused with a message."""
    for status in RecommendationStatus:
        for action in A:
            if action in allowed_actions(status):
                assert transition(status, action) in RecommendationStatus
            else:
                with pytest.raises(TransitionError, match="cannot"):
                    transition(status, action)
    assert allowed_actions(RecommendationStatus.ACCEPTED) == []


def test_publish_reads_columns_by_name_and_sorts_actionable_rows(world: World) -> None:
    """Keep rows have nothing to decide, the others are to review; the region comes from the
    customer; extra columns are kept as evidence."""
    with world.db.session() as s:
        rows = {r.customer_id: r for r in s.scalars(sa.select(CoverageRecommendation))}
    assert rows["C1"].status == "no_action"
    assert {rows[c].status for c in ("C2", "C3", "C4", "C5")} == {"proposed"}
    assert rows["C2"].region == "north" and rows["C5"].region == "south"
    assert rows["C2"].proposed_rep_id == "R1"
    assert rows["C2"].evidence["expected_margin_recommended"] == 1200.0
    assert rows["C2"].potential == 10000.0


def test_publishing_the_same_output_twice_changes_nothing(world: World) -> None:
    """A coverage output already published is recognised and nothing is written."""
    with world.db.session() as s:
        report = recs.do_publish(
            s, recs.check_coverage_output(read_coverage_output(world.coverage_dir)), actor="t"
        )
    assert report.already


def test_a_bad_coverage_output_is_refused(tmp_path: Path) -> None:
    """An unknown recommendation word is refused with its row and value."""
    folder = write_coverage(tmp_path / "bad", {"C1": "keep", "C2": "explode"})
    with pytest.raises(InputError) as caught:
        recs.check_coverage_output(read_coverage_output(folder))
    assert "explode" in str(caught.value) and "row 3" in str(caught.value)


def test_a_new_run_never_overwrites_a_decision(world: World, tmp_path: Path) -> None:
    """A decided recommendation keeps its decision and gets the new proposal beside it; an
    open one is refreshed, with the change in its audit trail."""
    _decide(world, "north", "C3", recs.DecisionInput(A.REJECT, reason="still profitable"))
    again = write_coverage(tmp_path / "run2", {"C3": "reduce", "C2": "not_now", "C4": "grow"})
    with world.db.session() as s:
        report = recs.do_publish(
            s, recs.check_coverage_output(read_coverage_output(again)), actor="t"
        )
    assert report.decided_kept == 1 and report.refreshed == 1
    with world.db.session() as s:
        c3 = s.get(CoverageRecommendation, world.rec_ids["C3"])
        c2 = s.get(CoverageRecommendation, world.rec_ids["C2"])
        assert c3 is not None and c2 is not None
        assert c3.status == "rejected" and c3.decision_reason == "still profitable"
        assert c3.rerun is not None and c3.rerun["recommendation"] == "reduce"
        assert (c2.status, c2.recommendation) == ("no_action", "not_now")
    assert "recommendation.refreshed" in _trail(world, "C2")


def test_accepting_an_add_puts_the_shop_in_coverage_and_audits_it(world: World) -> None:
    """Accept with a rep and a frequency: the status, the customer's rep, mode and visits
    change, and the audit record holds who, what, before and after."""
    rec = _decide(
        world, "north", "C2", recs.DecisionInput(A.ACCEPT, rep_id="R1", visits_per_month=3)
    )
    assert rec.status == "accepted" and rec.version == 2
    with world.db.session() as s:
        customer = s.scalar(sa.select(Customer).where(Customer.customer_id == "C2"))
        assert customer is not None
        assert (customer.status, customer.rep_id, customer.visits_per_month) == ("served", "R1", 3)
        event = s.scalar(sa.select(AuditEvent).where(AuditEvent.action == "recommendation.accept"))
    assert event is not None and event.actor == EMAILS["north"]
    assert event.details["before"]["status"] == "proposed"
    assert event.details["after"]["status"] == "accepted"
    assert event.details["customer"]["after"]["rep_id"] == "R1"


def test_a_decision_is_final(world: World) -> None:
    """Deciding twice is refused with a clear message, and nothing changes."""
    _decide(world, "north", "C3", recs.DecisionInput(A.ACCEPT))
    with pytest.raises(TransitionError, match="already accepted"):
        _decide(world, "north", "C3", recs.DecisionInput(A.REJECT, reason="oops"))


def test_a_stale_version_is_a_conflict(world: World) -> None:
    """If-Match with an old version is refused; the current version is accepted."""
    with pytest.raises(StaleError, match="changed since you read it"):
        _decide(world, "north", "C2", recs.DecisionInput(A.REJECT, reason="x"), expected_version=7)
    rec = _decide(
        world, "north", "C2", recs.DecisionInput(A.REJECT, reason="x"), expected_version=1
    )
    assert rec.status == "rejected"


def test_two_managers_deciding_at_once_one_wins(world: World) -> None:
    """Two managers read version 1 and decide, each in its own transaction (as two requests
    with If-Match do): the first decision commits, the other gets a conflict and changes
    nothing."""
    scope = _scope(world, "north")
    rec_id = world.rec_ids["C2"]
    with world.db.session(readonly=True) as s:
        read = s.get(CoverageRecommendation, rec_id)
        assert read is not None
        version = read.version
    with world.db.session() as s:
        decision = recs.check_decision(
            s,
            scope,
            rec_id,
            recs.DecisionInput(A.REJECT, reason="a"),
            expected_version=version,
            today=TODAY,
        )
        recs.do_decision(s, scope, decision)
    with pytest.raises(StaleError), world.db.session() as s:
        recs.check_decision(
            s,
            scope,
            rec_id,
            recs.DecisionInput(A.ACCEPT, rep_id="R1"),
            expected_version=version,
            today=TODAY,
        )
    with world.db.session() as s:
        rec = s.get(CoverageRecommendation, rec_id)
        assert rec is not None and rec.status == "rejected"


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (recs.DecisionInput(A.REJECT), "reason"),
        (recs.DecisionInput(A.REQUEST_VERIFICATION, due_date=TODAY), "rep_id"),
        (recs.DecisionInput(A.REQUEST_VERIFICATION, rep_id="R3", due_date=TODAY), "rep_id"),
        (recs.DecisionInput(A.REQUEST_VERIFICATION, rep_id="R1"), "due_date"),
        (
            recs.DecisionInput(
                A.REQUEST_VERIFICATION, rep_id="R1", due_date=TODAY - dt.timedelta(1)
            ),
            "due_date",
        ),
        (recs.DecisionInput(A.CHANGE_MODE), "interaction_mode"),
        (recs.DecisionInput(A.CHANGE_MODE, interaction_mode="pigeon"), "interaction_mode"),
        (recs.DecisionInput(A.ACCEPT, visits_per_month=99), "visits_per_month"),
    ],
)
def test_decisions_need_their_values(
    world: World, request_: recs.DecisionInput, field: str
) -> None:
    """Each action refuses missing or wrong values, naming the field (a rep of another
    region, a past due date, an unknown mode...)."""
    with pytest.raises(FieldError) as caught:
        _decide(world, "north", "C2", request_)
    assert caught.value.field == field


@pytest.mark.parametrize("who", ["south", "director", "rep1", "shop1"])
def test_only_managers_of_the_region_and_admins_decide(world: World, who: str) -> None:
    """Another region's manager, a director, a rep and a shop cannot decide on north's
    recommendation, and it stays as it was."""
    with pytest.raises(PermissionDeniedError):
        _decide(world, who, "C2", recs.DecisionInput(A.REJECT, reason="not mine"))
    with world.db.session() as s:
        rec = s.get(CoverageRecommendation, world.rec_ids["C2"])
        assert rec is not None and (rec.status, rec.version) == ("proposed", 1)


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("admin", {"C1", "C2", "C3", "C4", "C5"}),
        ("director", {"C1", "C2", "C3", "C4", "C5"}),
        ("north", {"C1", "C2", "C3"}),
        ("south", {"C4", "C5"}),
    ],
)
def test_lists_hold_only_the_callers_regions(world: World, who: str, expected: set[str]) -> None:
    """Each role lists exactly the recommendations of its regions."""
    with world.db.session() as s:
        rows, cursor = recs.list_recommendations(s, _scope(world, who), recs.RecommendationFilter())
    assert {r.customer_id for r in rows} == expected and cursor is None


def test_filtering_on_another_region_is_forbidden(world: World) -> None:
    """A manager asking for another region's list is refused, not given an empty list."""
    with world.db.session() as s, pytest.raises(PermissionDeniedError):
        recs.list_recommendations(
            s, _scope(world, "north"), recs.RecommendationFilter(region="south")
        )


def test_pages_follow_the_cursor_without_repeats(world: World) -> None:
    """Two-item pages walk through every visible recommendation once."""
    seen: list[str] = []
    cursor = None
    with world.db.session() as s:
        while True:
            rows, cursor = recs.list_recommendations(
                s, _scope(world, "admin"), recs.RecommendationFilter(), limit=2, cursor=cursor
            )
            seen += [r.customer_id for r in rows]
            if cursor is None:
                break
    assert sorted(seen) == ["C1", "C2", "C3", "C4", "C5"]


def _png(size: tuple[int, int] = (40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_verification_story(world: World) -> None:
    """Request verification, the rep saves a draft, adds a photo and files the report; the
    recommendation moves to visit reported, then the manager accepts; the trail has each
    step in order."""
    _decide(
        world,
        "north",
        "C2",
        recs.DecisionInput(A.REQUEST_VERIFICATION, rep_id="R1", due_date=TODAY, reason="check"),
    )
    rep = _scope(world, "rep1")
    with world.db.session() as s:
        (visit,), _ = visits.list_visits(s, rep)
        template = visits.shelf_template(s, world.settings, visit)
        draft = visits.VisitReport(notes="half way", shelf=template)
        visits.save_draft(s, rep, visit.id, draft)
        visit_id = visit.id
    with world.db.session() as s:
        visits.add_photo(s, rep, world.settings, visit_id, _png(), "shelf.png")
    with world.db.session() as s:
        assert s.get(Visit, visit_id).report["notes"] == "half way"  # type: ignore[union-attr]
        with pytest.raises(FieldError, match="readiness"):
            visits.submit_report(s, rep, visit_id, draft, today=TODAY)
    with world.db.session() as s:
        visits.submit_report(
            s, rep, visit_id, draft.model_copy(update={"readiness": 4}), today=TODAY
        )
    with world.db.session() as s, pytest.raises(ConflictError, match="reported"):
        visits.save_draft(s, rep, visit_id, draft)
    _decide(world, "north", "C2", recs.DecisionInput(A.ACCEPT, rep_id="R1", visits_per_month=2))
    assert _trail(world, "C2") == [
        "recommendation.request_verification",
        "recommendation.visit_reported",
        "recommendation.report_filed",
        "recommendation.accept",
    ]


def test_a_rep_sees_only_its_tasks_and_their_photos(world: World) -> None:
    """Another rep can neither see the visit nor its photo, nor file it."""
    _decide(
        world,
        "north",
        "C2",
        recs.DecisionInput(A.REQUEST_VERIFICATION, rep_id="R1", due_date=TODAY),
    )
    rep1, merch2 = _scope(world, "rep1"), _scope(world, "merch2")
    with world.db.session() as s:
        (visit,), _ = visits.list_visits(s, rep1)
        photo = visits.add_photo(s, rep1, world.settings, visit.id, _png(), "a.png")
    with world.db.session() as s:
        assert visits.list_visits(s, merch2)[0] == []
        with pytest.raises(PermissionDeniedError):
            visits.photo_file(s, merch2, world.settings, photo.id)
        with pytest.raises(PermissionDeniedError):
            visits.save_draft(s, merch2, visit.id, visits.VisitReport())
        assert visits.photo_file(s, rep1, world.settings, photo.id).content_type == "image/png"
        assert visits.photo_file(s, _scope(world, "north"), world.settings, photo.id)
        with pytest.raises(PermissionDeniedError):
            visits.photo_file(s, _scope(world, "south"), world.settings, photo.id)
