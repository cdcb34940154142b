"""Training events of the next-order engine: where the next orders are."""

from __future__ import annotations

import datetime as dt

import polars as pl

from salescope.orders.examples import (
    EventParams,
    merge_anchors,
    own_window,
    spread_dates,
    training_events,
)

D = dt.date(2024, 1, 1)


def lines(*rows: tuple[int, int, int]) -> pl.DataFrame:
    """Coded lines ``c, o, d, p, q`` from (customer, day offset, product); one order per
    customer and day."""
    frame = pl.DataFrame(
        {
            "c": [r[0] for r in rows],
            "d": [D + dt.timedelta(days=r[1]) for r in rows],
            "p": [r[2] for r in rows],
            "q": [1.0] * len(rows),
        },
        schema={"c": pl.UInt32, "d": pl.Date, "p": pl.UInt32, "q": pl.Float64},
    )
    codes = frame.select("c", "d").unique().sort("c", "d").with_row_index("o")
    return frame.join(codes.with_columns(pl.col("o").cast(pl.UInt32)), on=["c", "d"]).select(
        "c", "o", "d", "p", "q"
    )


def test_every_customer_with_two_orders_gives_events_wherever_its_orders_are() -> None:
    """A customer whose orders ended long before the file does still gives its last orders as
    events (each with an anchor on or before its date); a one-order customer gives none."""
    history = lines(
        *[(0, day, 1) for day in (0, 7, 14, 21)],  # ended early
        *[(1, day, 2) for day in range(0, 400, 7)],  # active until the end
        (2, 100, 3),  # a single order
    )
    cutoff = D + dt.timedelta(days=400)
    events, anchors = training_events(
        history, cutoff, step_days=7, params=EventParams(label_orders=3)
    )
    early = events.filter(pl.col("c") == 0)
    assert early["t"].to_list() == [D + dt.timedelta(days=d) for d in (7, 14, 21)]
    assert events.filter(pl.col("c") == 2).height == 0
    assert (events["a"] <= events["t"]).all()
    assert set(events["a"].to_list()) <= set(anchors)
    # one event per label order; each customer's latest validates at most once
    assert events.select("c", "o").is_unique().all()
    assert (events.group_by("c").agg(pl.col("valid").sum())["valid"] <= 1).all()
    latest = events.sort("t").group_by("c").agg(pl.col("valid").last(), pl.col("ev").last())
    assert (
        events.filter(pl.col("valid")).select("ev").to_series().is_in(latest["ev"].implode()).all()
    )
    # customers active at the end also give the calendar cut-offs' first orders
    recent = events.filter((pl.col("c") == 1) & (pl.col("t") >= cutoff - dt.timedelta(days=28)))
    assert recent.height >= 4


def test_slots_keep_one_event_per_customer_and_anchor() -> None:
    """Within an anchor, a customer's events take slots 0, 1, ...: a slot never holds a
    customer twice."""
    history = lines(*[(c, day, c) for c in range(3) for day in range(0, 60, 3)])
    events, _ = training_events(
        history, D + dt.timedelta(days=60), step_days=7, params=EventParams(label_orders=6)
    )
    assert events.select("a", "slot", "c").is_unique().all()


def test_own_window_counts_back_from_each_customers_last_line() -> None:
    """The look-back of a customer is counted from its own last line, not the file's."""
    history = lines((0, 0, 1), (0, 500, 1), (0, 600, 2), (1, 0, 1), (1, 50, 2))
    kept = own_window(history, 200)
    assert kept.filter(pl.col("c") == 0)["d"].to_list() == [
        D + dt.timedelta(days=500),
        D + dt.timedelta(days=600),
    ]
    assert kept.filter(pl.col("c") == 1).height == 2


def test_anchors_are_spread_and_merged() -> None:
    """Quantile dates include the earliest; anchors closer than the gap merge to the earliest."""
    dates = pl.Series([D + dt.timedelta(days=i) for i in range(100)])
    spread = spread_dates(dates, 4)
    assert spread[0] == D and len(spread) == 4
    merged = merge_anchors([D, D + dt.timedelta(days=3), D + dt.timedelta(days=10)], 7)
    assert merged == [D, D + dt.timedelta(days=10)]


def test_the_event_budget_keeps_validation_and_takes_customers_in_rounds() -> None:
    """With a budget of history lines, every validation event stays, the training events'
    lines fit in the budget, and no customer gets a second training event before every
    customer has one (a long dense history does not crowd out the others)."""
    history = lines(*[(c, day, c) for c in range(4) for day in range(0, 120, 7)])
    cutoff = D + dt.timedelta(days=120)
    unlimited, _ = training_events(history, cutoff, step_days=7, params=EventParams(label_orders=4))
    per_customer = history.height // 4  # each customer's lines (all of equal length)
    budget = 5 * per_customer  # room for five training events of four customers
    events, _ = training_events(
        history, cutoff, step_days=7, params=EventParams(label_orders=4, max_event_lines=budget)
    )
    assert events.filter(pl.col("valid")).height == unlimited.filter(pl.col("valid")).height
    train = events.filter(~pl.col("valid"))
    assert train.height == 5
    counts = train.group_by("c").len()["len"]
    assert counts.min() == 1 and counts.max() == 2 and counts.len() == 4
    # the slots and ids are renumbered over the events kept
    assert events["ev"].to_list() == list(range(events.height))
    assert events.select("a", "slot", "c").is_unique().all()


def test_event_params_refuse_impossible_values() -> None:
    """A budget or a label count below one, or a share outside [0, 1], is refused."""
    for bad in ({"max_event_lines": 0}, {"label_orders": 0}, {"validation_share": 1.5}):
        try:
            EventParams(**bad)  # type: ignore[arg-type]
        except ValueError:
            continue
        raise AssertionError(f"EventParams accepted {bad}")
