"""Feedback matching (proposals against the orders placed) and the resting of novelties."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from salescope.orders.outcomes import (
    OUTCOME_SCHEMA,
    RESTING_SCHEMA,
    answering_orders,
    match_outcomes,
    next_resting,
)

D = dt.date

ProposalRow = tuple[str, dt.date, str, str, float, float]
OrderRow = tuple[str, str, dt.date, str, float]


def proposals_frame(rows: list[ProposalRow]) -> pl.DataFrame:
    """Proposal lines ``customer_id, order_date, product_id, kind, probability, quantity``."""
    return pl.DataFrame(
        rows,
        schema={
            "customer_id": pl.String,
            "order_date": pl.Date,
            "product_id": pl.String,
            "kind": pl.String,
            "probability": pl.Float64,
            "quantity": pl.Float64,
        },
        orient="row",
    )


def orders_frame(rows: list[OrderRow]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "customer_id": pl.String,
            "order_id": pl.String,
            "order_date": pl.Date,
            "product_id": pl.String,
            "quantity": pl.Float64,
        },
        orient="row",
    )


def outcome_of(outcomes: pl.DataFrame) -> dict[tuple[str, str], str]:
    return {(c, p): o for c, p, o in outcomes.select("customer_id", "product_id", "outcome").rows()}


def test_each_line_gets_its_outcome() -> None:
    """Ordered as proposed (within tolerance) is accepted, another quantity is quantity
    changed, not ordered is removed, ordered but not proposed is added."""
    proposals = proposals_frame(
        [
            ("a", D(2024, 3, 1), "same", "usual", 0.9, 10.0),
            ("a", D(2024, 3, 1), "close", "usual", 0.8, 10.0),
            ("a", D(2024, 3, 1), "more", "usual", 0.8, 10.0),
            ("a", D(2024, 3, 1), "small", "usual", 0.5, 1.0),
            ("a", D(2024, 3, 1), "gone", "extension", 0.3, 2.0),
        ]
    )
    orders = orders_frame(
        [
            ("a", "o1", D(2024, 3, 2), "same", 4.0),
            ("a", "o1", D(2024, 3, 2), "same", 6.0),  # repeated lines are summed: 10
            ("a", "o1", D(2024, 3, 2), "close", 11.0),  # within 10 %
            ("a", "o1", D(2024, 3, 2), "more", 12.0),
            ("a", "o1", D(2024, 3, 2), "small", 1.5),  # within 0.5 units
            ("a", "o1", D(2024, 3, 2), "new", 3.0),
        ]
    )
    outcomes, summary = match_outcomes(proposals, orders)
    assert outcome_of(outcomes) == {
        ("a", "same"): "accepted",
        ("a", "close"): "accepted",
        ("a", "more"): "quantity_changed",
        ("a", "small"): "accepted",
        ("a", "gone"): "removed",
        ("a", "new"): "added",
    }
    assert outcomes.schema == pl.Schema(OUTCOME_SCHEMA)
    added = outcomes.filter(pl.col("product_id") == "new").row(0, named=True)
    assert added["kind"] is None and added["proposed_quantity"] is None
    assert added["ordered_quantity"] == 3.0 and added["order_id"] == "o1"
    assert added["order_date"] == D(2024, 3, 1) and added["ordered_on"] == D(2024, 3, 2)
    assert summary.lines == {"accepted": 3, "quantity_changed": 1, "removed": 1, "added": 1}
    assert (summary.proposals, summary.answered, summary.pending) == (1, 1, 0)


def test_the_first_order_in_the_window_answers() -> None:
    """The answering order is the customer's first dated on or after the proposal and within
    the window — every order id of that day, named by the smallest; without one the proposal
    is pending."""
    proposals = proposals_frame(
        [
            ("a", D(2024, 3, 1), "x", "usual", 0.9, 1.0),
            ("b", D(2024, 3, 1), "x", "usual", 0.9, 1.0),
            ("c", D(2024, 3, 1), "x", "usual", 0.9, 1.0),
        ]
    )
    orders = orders_frame(
        [
            ("a", "o0", D(2024, 2, 28), "x", 1.0),  # before the proposal
            ("a", "o2", D(2024, 3, 5), "x", 1.0),
            ("a", "o1", D(2024, 3, 5), "y", 1.0),  # same day, smaller id: names the answer
            ("a", "o3", D(2024, 3, 6), "x", 1.0),
            ("b", "o4", D(2024, 3, 16), "x", 1.0),  # 15 days later: out of the window
        ]
    )
    answers = answering_orders(proposals, orders, window_days=14)
    assert answers.rows() == [
        ("a", D(2024, 3, 1), "o1", D(2024, 3, 5)),
        ("b", D(2024, 3, 1), None, None),
        ("c", D(2024, 3, 1), None, None),
    ]
    outcomes, summary = match_outcomes(proposals, orders, window_days=14)
    # x, proposed, came in the day's other invoice: taken, not removed
    assert outcome_of(outcomes) == {("a", "x"): "accepted", ("a", "y"): "added"}
    assert set(outcomes["order_id"]) == {"o1"}
    assert (summary.answered, summary.pending) == (1, 2)
    wider = answering_orders(proposals, orders, window_days=15)
    assert wider.filter(pl.col("customer_id") == "b")["order_id"].to_list() == ["o4"]


def test_a_later_proposal_supersedes_an_earlier_one() -> None:
    """An order placed after the customer's next proposal answers that one, not the earlier:
    one order never answers two proposals."""
    proposals = proposals_frame(
        [
            ("a", D(2024, 3, 1), "x", "usual", 0.9, 1.0),
            ("a", D(2024, 3, 8), "x", "usual", 0.9, 1.0),
        ]
    )
    orders = orders_frame([("a", "o1", D(2024, 3, 9), "x", 1.0)])
    answers = answering_orders(proposals, orders, window_days=14)
    assert answers["order_id"].to_list() == [None, "o1"]
    outcomes, summary = match_outcomes(proposals, orders)
    assert outcomes["order_date"].to_list() == [D(2024, 3, 8)]
    assert (summary.answered, summary.pending) == (1, 1)


def test_stored_line_ids_and_probabilities_are_carried() -> None:
    """Outcomes keep the stored line's id, the probability shown, the engine's own
    probability and the promotion."""
    proposals = proposals_frame([("a", D(2024, 3, 1), "x", "extension", 0.4, 2.0)]).with_columns(
        pl.lit(17).alias("id"),
        pl.lit(0.3).alias("model_probability"),
        pl.lit("PR1").alias("promotion_id"),
    )
    orders = orders_frame([("a", "o1", D(2024, 3, 1), "x", 2.0)])
    outcomes, _ = match_outcomes(proposals, orders)
    row = outcomes.row(0, named=True)
    assert row["proposal_line_id"] == 17
    assert (row["probability"], row["model_probability"]) == (0.4, 0.3)
    assert (row["promotion_id"], row["outcome"]) == ("PR1", "accepted")


def test_no_orders_leaves_every_proposal_pending() -> None:
    """Without orders nothing is matched and every proposal is pending."""
    proposals = proposals_frame([("a", D(2024, 3, 1), "x", "usual", 0.9, 1.0)])
    outcomes, summary = match_outcomes(proposals, orders_frame([]))
    assert outcomes.is_empty() and outcomes.schema == pl.Schema(OUTCOME_SCHEMA)
    assert (summary.proposals, summary.pending) == (1, 1)


# -- resting -------------------------------------------------------------------------------------
def novelty_outcome(
    product: str, outcome: str, ordered_on: dt.date, kind: str = "extension"
) -> dict[str, object]:
    return {
        "customer_id": "a",
        "order_date": ordered_on - dt.timedelta(days=1),
        "ordered_on": ordered_on,
        "product_id": product,
        "kind": kind,
        "outcome": outcome,
    }


def outcomes_of(rows: list[dict[str, object]]) -> pl.DataFrame:
    schema = {c: OUTCOME_SCHEMA[c] for c in rows[0]}
    return pl.DataFrame(rows, schema=schema)


NO_RESTING = pl.DataFrame(schema=RESTING_SCHEMA)


def test_two_rejections_in_a_row_rest_the_product() -> None:
    """The second rejection in a row (in another batch, via the stored state) rests the
    product for rest_days after the order that turned it down."""
    first = next_resting(
        outcomes_of([novelty_outcome("x", "removed", D(2024, 3, 2))]), NO_RESTING, rest_days=90
    )
    assert first.rows() == [("a", "x", 1, D(2024, 3, 2), None)]
    second = next_resting(
        outcomes_of([novelty_outcome("x", "removed", D(2024, 4, 2))]), first, rest_days=90
    )
    assert second.rows() == [("a", "x", 2, D(2024, 4, 2), D(2024, 4, 2) + dt.timedelta(90))]


def test_a_take_resets_the_run_and_order_matters_within_a_batch() -> None:
    """Rejected, taken, rejected does not rest; rejected twice after a take does, at the
    second of those rejections; events are taken in order of the answering orders."""
    rows = [
        novelty_outcome("x", "removed", D(2024, 1, 2)),
        novelty_outcome("x", "removed", D(2024, 3, 2)),
        novelty_outcome("x", "quantity_changed", D(2024, 2, 2)),
        novelty_outcome("y", "removed", D(2024, 1, 2)),
        novelty_outcome("y", "accepted", D(2024, 2, 2)),
        novelty_outcome("y", "removed", D(2024, 3, 2)),
        novelty_outcome("y", "removed", D(2024, 4, 2)),
    ]
    resting = next_resting(outcomes_of(rows), NO_RESTING, rest_days=30)
    assert resting.rows() == [
        ("a", "x", 1, D(2024, 3, 2), None),
        ("a", "y", 2, D(2024, 4, 2), D(2024, 5, 2)),
    ]


def test_a_take_after_stored_rejections_resets_and_keeps_the_past_rest() -> None:
    """A taken novelty sets the run to 0; the day it rested until stays on record."""
    stored = pl.DataFrame(
        [("a", "x", 3, D(2024, 1, 2), D(2024, 4, 1))], schema=RESTING_SCHEMA, orient="row"
    )
    taken = outcomes_of([novelty_outcome("x", "accepted", D(2024, 5, 2))])
    assert next_resting(taken, stored).rows() == [("a", "x", 0, D(2024, 1, 2), D(2024, 4, 1))]


def test_usual_and_added_lines_never_rest() -> None:
    """Only proposed novelties count: usual lines and lines the customer added do not."""
    rows = [
        novelty_outcome("x", "removed", D(2024, 1, 2), kind="usual"),
        novelty_outcome("x", "removed", D(2024, 2, 2), kind="usual"),
        {**novelty_outcome("z", "added", D(2024, 2, 2)), "kind": None},
    ]
    assert next_resting(outcomes_of(rows), NO_RESTING, rejections=1).is_empty()


def test_the_number_of_rejections_is_configurable() -> None:
    """With rejections=1 a single rejection rests the product; 0 is refused."""
    one = outcomes_of([novelty_outcome("x", "removed", D(2024, 3, 2), kind="objective")])
    assert next_resting(one, NO_RESTING, rest_days=10, rejections=1)["rest_until"].to_list() == [
        D(2024, 3, 12)
    ]
    with pytest.raises(ValueError, match="rejections"):
        next_resting(one, NO_RESTING, rejections=0)
