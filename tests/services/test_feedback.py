"""Feedback end to end: proposals and orders in, outcomes, resting, calibration and the audit
trail stored — idempotent, on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from tests.reading import read_inputs

from salescope.config import Settings, get_settings
from salescope.domain.errors import FieldError, InputError
from salescope.services.feedback import (
    FeedbackReport,
    acceptance_calibrator,
    check_feedback,
    do_feedback,
    resting_at,
)
from salescope.storage import repositories as repo
from salescope.storage.db import Database

PROPOSALS_HEADER = (
    "customer_id,rank,product_id,kind,probability,quantity,promotion_id,reason,order_date,"
    "model_probability\n"
)
ORDERS_HEADER = "customer_id,order_id,order_date,product_id,quantity\n"

MARCH = (
    "c1,1,p1,usual,0.9,10,,orders it every 2 weeks,2024-03-01,\n"
    "c1,2,p2,usual,0.7,4,,,2024-03-01,\n"
    "c1,3,x1,extension,0.3,2,PR1,7 of 10 similar shops buy it,2024-03-01,0.25\n"
    "c2,1,p1,usual,0.8,5,,,2024-03-01,\n"
    "c2,2,d1,development,0.4,6,,,2024-03-01,0.35\n"
    "c3,1,p1,usual,0.8,5,,,2024-03-01,\n"
)
MARCH_ORDERS = (
    "c1,o1,2024-03-04,p1,10\n"
    "c1,o1,2024-03-04,p2,6\n"
    "c1,o1,2024-03-04,p5,1\n"
    "c2,o2,2024-03-02,p1,5\n"
    "c2,o2,2024-03-02,d1,6\n"
)
APRIL = "c1,1,p1,usual,0.9,10,,,2024-04-01,\nc1,2,x1,extension,0.3,2,,,2024-04-01,0.25\n"
APRIL_ORDERS = "c1,o3,2024-04-03,p1,10\nc3,o4,2024-03-10,p1,5\n"


@pytest.fixture
def settings(data_dir: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Every feedback test runs on SQLite and on PostgreSQL."""
    monkeypatch.setenv("SALESCOPE_DATABASE_URL", database_url)
    return get_settings()


def write(path: Path, header: str, rows: str) -> Path:
    path.write_text(header + rows, encoding="utf-8")
    return path


def feedback(
    settings: Settings, tmp_path: Path, name: str, proposals: str, orders: str, **options: int
) -> FeedbackReport:
    request = check_feedback(
        **read_inputs(
            proposals=write(tmp_path / f"{name}-proposals.csv", PROPOSALS_HEADER, proposals),
            orders=write(tmp_path / f"{name}-orders.csv", ORDERS_HEADER, orders),
        ),
        **options,
    )
    return do_feedback(request, settings, actor="analyst")


def outcomes_of(settings: Settings) -> dict[tuple[str, str, str], str]:
    with Database.from_settings(settings) as database, database.session() as session:
        frame = repo.feedback_outcomes(session)
    return {
        (c, d.isoformat(), p): o
        for c, d, p, o in frame.select("customer_id", "order_date", "product_id", "outcome").rows()
    }


def test_feedback_records_each_line_and_is_audited(settings: Settings, tmp_path: Path) -> None:
    """Each proposed line gets its outcome, the product added by the customer too; the
    proposal without an order is pending; one audit event says what was done."""
    report = feedback(settings, tmp_path, "march", MARCH, MARCH_ORDERS)
    assert report.proposals == 3 and report.proposals_stored == 3
    assert (report.answered, report.pending) == (2, 1)
    assert report.outcomes == {
        "accepted": 3,
        "quantity_changed": 1,
        "removed": 1,
        "added": 1,
    }
    assert outcomes_of(settings) == {
        ("c1", "2024-03-01", "p1"): "accepted",
        ("c1", "2024-03-01", "p2"): "quantity_changed",
        ("c1", "2024-03-01", "x1"): "removed",
        ("c1", "2024-03-01", "p5"): "added",
        ("c2", "2024-03-01", "p1"): "accepted",
        ("c2", "2024-03-01", "d1"): "accepted",
    }
    with Database.from_settings(settings) as database, database.session() as session:
        lines = repo.proposal_lines(session)
        events = repo.list_audit(session, action_prefix="feedback.")
        stored = (
            repo.feedback_outcomes(session).filter(pl.col("product_id") == "x1").row(0, named=True)
        )
    assert lines.height == 6
    assert lines.filter(pl.col("product_id") == "x1")["model_probability"].to_list() == [0.25]
    assert stored["model_probability"] == 0.25 and stored["promotion_id"] == "PR1"
    assert stored["proposal_line_id"] is not None
    assert [(e.action, e.actor, e.entity_type) for e in events] == [
        ("feedback.recorded", "analyst", "proposal_run")
    ]
    assert events[0].details["outcomes"]["removed"] == 1
    assert events[0].details["pending"] == 1


def test_the_same_files_twice_record_nothing_new(settings: Settings, tmp_path: Path) -> None:
    """Feeding the same proposals and orders again stores no proposal, outcome or run, and
    the audit trail says nothing changed."""
    first = feedback(settings, tmp_path, "a", MARCH, MARCH_ORDERS)
    second = feedback(settings, tmp_path, "b", MARCH, MARCH_ORDERS)
    assert second.run_id == first.run_id
    assert second.lines_stored == 0 and not second.changed
    assert sum(second.outcomes.values()) == 0
    assert (second.answered_before, second.pending) == (2, 1)
    with Database.from_settings(settings) as database, database.session() as session:
        assert repo.proposal_lines(session).height == 6
        assert repo.feedback_outcomes(session).height == 6
        actions = [e.action for e in repo.list_audit(session, action_prefix="feedback.")]
        fits = repo.latest_calibration(session)
    assert actions == ["feedback.recorded", "feedback.unchanged"]
    assert fits is not None and fits.id == 1


def test_a_stored_proposal_is_never_replaced(settings: Settings, tmp_path: Path) -> None:
    """A file that brings other lines for a proposal already stored adds none of them."""
    feedback(settings, tmp_path, "a", MARCH, "")
    other = "c1,1,p9,usual,0.5,1,,,2024-03-01,\nc4,1,p1,usual,0.5,1,,,2024-03-01,\n"
    report = feedback(settings, tmp_path, "b", other, "")
    assert (report.proposals_stored, report.lines_stored) == (1, 1)
    with Database.from_settings(settings) as database, database.session() as session:
        lines = repo.proposal_lines(session, ["c1"])
    assert "p9" not in lines["product_id"].to_list()


def test_two_rejections_in_a_row_rest_the_novelty(settings: Settings, tmp_path: Path) -> None:
    """The extension turned down in March and again in April rests rest_days from the April
    order; the next orders see it resting until then."""
    feedback(settings, tmp_path, "march", MARCH, MARCH_ORDERS, rest_days=60)
    april = feedback(settings, tmp_path, "april", APRIL, APRIL_ORDERS, rest_days=60)
    until = dt.date(2024, 4, 3) + dt.timedelta(days=60)
    assert april.resting == 1 and april.resting_started == 1
    with Database.from_settings(settings) as database, database.session() as session:
        rows = repo.resting_products(session)
        assert resting_at(session, dt.date(2024, 4, 10)).rows() == [("c1", "x1", until)]
        assert resting_at(session, until).is_empty()
        assert resting_at(session, dt.date(2024, 4, 10), ["c2"]).is_empty()
    assert rows.filter(pl.col("product_id") == "x1")["rejections_in_a_row"].to_list() == [2]
    assert rows.filter(pl.col("product_id") == "d1")["rejections_in_a_row"].to_list() == [0]


def test_later_orders_answer_a_pending_proposal(settings: Settings, tmp_path: Path) -> None:
    """A stored proposal left pending is answered by an order of a later orders file, even
    when the proposals file no longer holds it."""
    feedback(settings, tmp_path, "march", MARCH, MARCH_ORDERS)
    april = feedback(settings, tmp_path, "april", APRIL, APRIL_ORDERS)
    assert outcomes_of(settings)[("c3", "2024-03-01", "p1")] == "accepted"
    assert april.answered == 2


def test_enough_outcomes_recalibrate_acceptance(settings: Settings, tmp_path: Path) -> None:
    """With enough outcomes of shown novelties the calibrator is refitted, stored, lowers the
    calibration error, and is what the next orders get."""
    proposals, orders = [], []
    for i in range(120):
        # The engine says 0.6 for everyone; only one customer in three takes the line.
        proposals.append(f"s{i},1,n{i % 7},extension,0.6,1,,,2024-05-01,0.6\n")
        proposals.append(f"s{i},2,u,usual,0.9,1,,,2024-05-01,\n")
        orders.append(f"s{i},o{i},2024-05-02,u,1\n")
        if i % 3 == 0:
            orders.append(f"s{i},o{i},2024-05-02,n{i % 7},1\n")
    report = feedback(settings, tmp_path, "may", "".join(proposals), "".join(orders))
    calibration = report.calibration
    assert calibration.fitted and calibration.refitted and calibration.outcomes == 120
    assert calibration.ece_after < calibration.ece_before
    lines = pl.DataFrame({"kind": ["extension", "usual"], "model_probability": [0.6, 0.9]})
    with Database.from_settings(settings) as database, database.session() as session:
        calibrated = acceptance_calibrator(session).apply(lines).to_list()
    assert calibrated[0] == pytest.approx(1 / 3, abs=0.05)
    assert calibrated[1] == 0.9
    acceptance = report.acceptance.filter(pl.col("value") == "extension").row(0)
    assert acceptance[2:4] == (120, 40)


def test_without_feedback_the_calibrator_is_the_identity(database_url: str) -> None:
    """Before any feedback, next orders get an identity calibrator and nothing rests."""
    with Database(database_url) as database:
        database.upgrade()
        with database.session() as session:
            calibrator = acceptance_calibrator(session)
            assert not calibrator.is_fitted
            assert resting_at(session, dt.date(2024, 1, 1)).is_empty()


def test_feedback_in_the_callers_transaction(database_url: str, tmp_path: Path) -> None:
    """Given a session (the API's), feedback writes inside the caller's transaction: rolled
    back with it, kept when it commits."""
    request = check_feedback(
        **read_inputs(
            proposals=write(tmp_path / "p.csv", PROPOSALS_HEADER, MARCH),
            orders=write(tmp_path / "o.csv", ORDERS_HEADER, MARCH_ORDERS),
        )
    )
    with Database(database_url) as database:
        database.upgrade()

        def fail_after_feedback() -> None:
            with database.session() as session:
                do_feedback(request, session, actor="shop", source="api")
                raise RuntimeError("the caller fails after feedback")

        with pytest.raises(RuntimeError):
            fail_after_feedback()
        with database.session() as session:
            assert repo.proposal_lines(session).is_empty()
            assert repo.list_audit(session) == []
        with database.session() as session:
            report = do_feedback(request, session, actor="shop", source="api")
        with database.session() as session:
            assert repo.feedback_outcomes(session).height == 6
            assert [e.actor for e in repo.list_audit(session)] == ["shop"]
    assert report.changed


def test_bad_files_are_reported_with_file_line_and_column(tmp_path: Path) -> None:
    """Problems of both files are reported together, each with its file, line and column."""
    proposals = write(tmp_path / "p.csv", PROPOSALS_HEADER, "c1,1,p1,unusual,1.5,2,,,2024-03-01,\n")
    orders = write(tmp_path / "o.csv", ORDERS_HEADER, "c1,o1,2024-02-30,p1,1\n")
    with pytest.raises(InputError) as caught:
        check_feedback(**read_inputs(proposals=proposals, orders=orders))
    text = str(caught.value)
    assert "p.csv, line 2, column 'kind': 'unusual' is not one of" in text
    assert "p.csv, line 2, column 'probability'" in text
    assert "o.csv, line 2, column 'order_date'" in text


def test_negative_window_is_refused(settings: Settings, tmp_path: Path) -> None:
    """A negative window is refused as a FieldError on the request's field, with its
    value."""
    with pytest.raises(FieldError) as caught:
        feedback(settings, tmp_path, "x", MARCH, MARCH_ORDERS, window_days=-1)
    assert (caught.value.field, caught.value.value) == ("window_days", "-1")


def test_proposals_may_lack_optional_columns_and_hold_others(tmp_path: Path) -> None:
    """A proposals file without promotion, reason and model probability, with columns of its
    own, is read; its own columns are ignored."""
    proposals = write(
        tmp_path / "p.csv",
        "segment,customer_id,order_date,rank,product_id,kind,probability,quantity\n",
        "bars,c1,2024-03-01,1,p1,usual,0.9,2\n",
    )
    orders = write(tmp_path / "o.csv", ORDERS_HEADER, "")
    request = check_feedback(**read_inputs(proposals=proposals, orders=orders))
    assert "segment" not in request.proposals.columns
    assert request.proposals["model_probability"].to_list() == [None]
    assert request.orders.is_empty()
