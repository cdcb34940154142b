"""Repositories of feedback: proposals stored once, outcomes recorded once, resting products
and fits of the acceptance calibrator."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
import sqlalchemy as sa

from salescope.storage import repositories as repo
from salescope.storage.db import Database

D = dt.date


def proposals(customer: str, day: dt.date, products: list[str]) -> pl.DataFrame:
    n = len(products)
    return pl.DataFrame(
        {
            "customer_id": [customer] * n,
            "order_date": [day] * n,
            "rank": list(range(1, n + 1)),
            "product_id": products,
            "kind": ["extension"] * n,
            "probability": [0.4] * n,
            "model_probability": [float("nan")] + [0.3] * (n - 1),
            "quantity": [2.0] * n,
            "extra": ["ignored"] * n,
        }
    )


def outcome(customer: str, day: dt.date, product: str, result: str) -> dict[str, object]:
    return {
        "customer_id": customer,
        "order_date": day,
        "order_id": "o1",
        "ordered_on": day,
        "product_id": product,
        "kind": "extension",
        "outcome": result,
        "proposed_quantity": 2.0,
        "ordered_quantity": None,
        "probability": 0.4,
        "model_probability": 0.3,
    }


def test_a_proposal_is_stored_once_and_never_extended(db: Database) -> None:
    """Lines of a proposal (customer, date) already stored are skipped, even new products;
    absent optional columns are NULL, NaN is no value, extra columns are ignored."""
    with db.session() as session:
        run = repo.add_proposal_run(session, source="test", fingerprint="f1")
        assert repo.add_proposal_lines(session, run.id, proposals("a", D(2024, 1, 1), ["x", "y"]))
        assert repo.find_proposal_run(session, "f1") is not None
        assert repo.find_proposal_run(session, "f2") is None
    with db.session() as session:
        stored = repo.add_proposal_lines(
            session,
            run.id,
            pl.concat([proposals("a", D(2024, 1, 1), ["z"]), proposals("a", D(2024, 1, 8), ["x"])]),
        )
        assert stored == 1
        lines = repo.proposal_lines(session)
        assert repo.stored_proposals(session).height == 2
        in_january = repo.proposal_lines(session, ["a"], since=D(2024, 1, 2), until=D(2024, 1, 31))
    assert lines.select("order_date", "product_id").rows() == [
        (D(2024, 1, 1), "x"),
        (D(2024, 1, 1), "y"),
        (D(2024, 1, 8), "x"),
    ]
    assert lines["model_probability"].to_list() == [None, 0.3, None]
    assert lines["promotion_id"].null_count() == 3
    assert in_january["order_date"].to_list() == [D(2024, 1, 8)]


def test_outcomes_are_recorded_once_and_say_which_were_new(db: Database) -> None:
    """Recording outcomes again skips those stored and returns only the new keys."""
    first = pl.DataFrame([outcome("a", D(2024, 1, 1), "x", "removed")])
    with db.session() as session:
        assert repo.add_feedback_outcomes(session, first).height == 1
    both = pl.DataFrame(
        [outcome("a", D(2024, 1, 1), "x", "accepted"), outcome("a", D(2024, 1, 8), "x", "removed")]
    )
    with db.session() as session:
        new = repo.add_feedback_outcomes(session, both)
        stored = repo.feedback_outcomes(session)
        answered = repo.answered_proposals(session, ["a"], since=D(2024, 1, 2))
    assert new.rows() == [("a", D(2024, 1, 8), "x")]
    assert stored["outcome"].to_list() == ["removed", "removed"]
    assert stored["recorded_at"].dtype == pl.Datetime("us", "UTC")
    assert answered.rows() == [("a", D(2024, 1, 8))]


def test_resting_is_upserted_and_read_at_a_date(db: Database) -> None:
    """Resting rows are added then updated by pair; a product rests strictly before its
    rest_until."""
    rows = pl.DataFrame(
        [
            ("a", "x", 2, D(2024, 1, 8), D(2024, 4, 7)),
            ("a", "y", 1, D(2024, 1, 8), None),
        ],
        schema=repo.RESTING_SCHEMA,
        orient="row",
    )
    with db.session() as session:
        assert repo.upsert_resting(session, rows).added == 2
        assert repo.upsert_resting(session, rows).unchanged == 2
        changed = rows.with_columns(pl.lit(0).alias("rejections_in_a_row"))
        assert repo.upsert_resting(session, changed).updated == 2
        assert repo.resting(session, D(2024, 4, 6))["product_id"].to_list() == ["x"]
        assert repo.resting(session, D(2024, 4, 7)).is_empty()
        assert repo.resting(session, D(2024, 4, 6), ["b"]).is_empty()
        assert repo.resting_products(session)["rejections_in_a_row"].to_list() == [0, 0]


def test_the_latest_calibration_is_the_newest_fit(db: Database) -> None:
    """Fits are appended; the latest one is what next orders apply."""
    with db.session() as session:
        assert repo.latest_calibration(session) is None
        repo.add_calibration(session, outcomes=10, parameters={"fitted": False})
        repo.add_calibration(
            session, outcomes=80, parameters={"fitted": True}, ece_before=0.2, ece_after=0.05
        )
    with db.session() as session:
        latest = repo.latest_calibration(session)
    assert latest is not None
    assert (latest.outcomes, latest.parameters, latest.ece_after) == (80, {"fitted": True}, 0.05)


def test_probabilities_outside_zero_and_one_are_refused(db: Database) -> None:
    """The database refuses a model probability above 1, whatever wrote it."""
    bad = proposals("a", D(2024, 1, 1), ["x", "y"]).with_columns(
        pl.lit(1.5).alias("model_probability")
    )
    with db.session() as session:
        run = repo.add_proposal_run(session, source="test", fingerprint="f")
        with pytest.raises(sa.exc.IntegrityError), session.begin_nested():
            repo.add_proposal_lines(session, run.id, bad)
        assert repo.proposal_lines(session).is_empty()
