"""Dynamic segmentation: profiles per period and moves between segments."""

from __future__ import annotations

import datetime as dt
import itertools
from functools import cache

import numpy as np
import polars as pl

from salescope.coverage.kpis import kpis_by_period, period_ends
from salescope.coverage.segmentation import (
    LAPSED,
    NEW,
    NO_ORDERS,
    Segmentation,
    Segmenter,
    SegmentParams,
    segment_periods,
)
from salescope.data.demo import DemoConfig, generate_demo


@cache
def demo_segments() -> tuple[pl.DataFrame, Segmentation]:
    company = generate_demo(DemoConfig.small())
    t = company.tables
    as_of = company.config.end + dt.timedelta(days=1)
    kpis = kpis_by_period(
        t["orders"],
        t["customers"],
        periods=period_ends(company.config.start, as_of),
        products=t["products"],
        reps=t["reps"],
    )
    return kpis, segment_periods(kpis, SegmentParams(n_segments=4))


def test_every_customer_has_one_segment_per_period() -> None:
    """Memberships hold each customer once per period, and the profiles count them all."""
    kpis, result = demo_segments()
    assert result.memberships.height == kpis.height
    assert result.memberships.select(pl.struct("customer_id", "period").is_unique().all()).item()
    sizes = result.profiles.group_by("period").agg(pl.col("customers").sum())
    per_period = kpis.group_by("period").len()
    assert (
        sizes.join(per_period, on="period")
        .select((pl.col("customers") == pl.col("len")).all())
        .item()
    )


def test_profiles_are_readable_and_ordered_by_value() -> None:
    """Each segment has a name, a definition and its size and value; S1 is the most valuable."""
    _, result = demo_segments()
    latest = result.profiles.filter(pl.col("period") == result.profiles["period"].max())
    assert latest["segment_name"].null_count() == 0
    assert latest["definition"].str.len_chars().min() > 10  # type: ignore[operator]
    assert latest["segment_name"].n_unique() == latest.height
    clusters = latest.filter(pl.col("segment").str.starts_with("S"))
    assert clusters.height >= 3
    values = clusters.sort("segment")["median_revenue_per_year"].to_list()
    assert values[0] == max(values)
    shares = latest["share_of_customers"].sum()
    assert abs(shares - 1.0) < 1e-3
    assert {NO_ORDERS} <= set(latest["segment"].to_list())  # the prospects


def test_transitions_record_each_change_between_consecutive_periods() -> None:
    """A transition is a change of segment from one period to the next, and only that."""
    _, result = demo_segments()
    moves = result.transitions
    assert moves.height > 0
    assert (moves["segment_from"] != moves["segment_to"]).all()
    periods = sorted(result.memberships["period"].unique().to_list())
    following = dict(itertools.pairwise(periods))
    assert all(following[a] == b for a, b in moves.select("period_from", "period_to").iter_rows())
    counted = result.moves()
    assert counted["customers"].sum() == moves.height


def _history(rows: list[tuple[str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": [c for c, _ in rows],
            "order_id": [f"o{i}" for i in range(len(rows))],
            "order_date": [dt.date.fromisoformat(d) for _, d in rows],
            "product_id": ["p"] * len(rows),
            "quantity": [1.0] * len(rows),
            "amount": [10.0] * len(rows),
        }
    )


def test_a_customer_who_stops_ordering_moves_to_lapsed_and_a_late_starter_is_new() -> None:
    """Rule segments: no order for months -> lapsed; first order late in the history -> new."""
    weekly = [f"2024-{m:02d}-{d:02d}" for m in range(1, 7) for d in (3, 10, 17, 24)]
    rows = [("steady", d) for d in weekly]
    rows += [("stops", d) for d in weekly if d < "2024-03-01"]
    rows += [("late", d) for d in weekly if d >= "2024-06-01"]
    orders = _history(rows)
    customers = pl.DataFrame({"customer_id": ["steady", "stops", "late", "never"]})
    kpis = kpis_by_period(
        orders,
        customers,
        periods=[("2024Q1", dt.date(2024, 4, 1)), ("2024Q2", dt.date(2024, 7, 1))],
    )
    result = segment_periods(kpis)
    seg = {
        (c, p): s
        for c, p, s in result.memberships.select("customer_id", "period", "segment").iter_rows()
    }
    assert seg[("stops", "2024Q2")] == LAPSED
    assert seg[("stops", "2024Q1")] != LAPSED
    assert seg[("late", "2024Q2")] == NEW
    assert seg[("never", "2024Q2")] == NO_ORDERS
    assert seg[("steady", "2024Q2")].startswith("S")
    stops = result.transitions.filter(pl.col("customer_id") == "stops")
    assert stops.select("period_from", "period_to", "segment_to").row(0) == (
        "2024Q1",
        "2024Q2",
        LAPSED,
    )


def test_segment_names_are_unique_whatever_the_order_of_their_words() -> None:
    """Two clusters set apart by the same KPIs in another order never share a name, nor the
    same words in another order ("High value, frequent orders" vs "Frequent orders, high
    value")."""
    segmenter = Segmenter()
    segmenter.weights_ = np.array([1.5, 1.0, 1.0, 0.6, 0.6])
    z = np.array(
        [
            [1.0, 0.9, 0.0, 0.0, 0.0],
            [0.9, 1.0, 0.5, 0.0, 0.0],
            [0.9, 1.0, 0.0, 0.0, 0.0],
            [-1.0, -0.8, 0.0, 0.0, 0.0],
        ]
    )
    names, _ = segmenter._describe(z * segmenter.weights_)
    assert len(set(names)) == len(names)
    word_sets = {frozenset(name.lower().split(", ")) for name in names}
    assert len(word_sets) == len(names)
    assert names[0] == "High value, frequent orders"
