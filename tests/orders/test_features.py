"""Features of the candidates: product statistics at a cut-off and customer rhythm."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from salescope.orders.features import customer_history, product_stats
from salescope.orders.history import order_table

CUTOFF = dt.date(2024, 7, 1)


def _lines(*rows: tuple[int, int, int, int]) -> pl.DataFrame:
    """Lines ``c, o, d, p, q`` from (customer, order, days before the cut-off, product)."""
    return pl.DataFrame(
        [(c, o, CUTOFF - dt.timedelta(days=d), p, 1.0) for c, o, d, p in rows],
        schema={"c": pl.UInt32, "o": pl.UInt32, "d": pl.Date, "p": pl.UInt32, "q": pl.Float64},
        orient="row",
    )


def test_product_popularity_is_the_share_of_active_customers_buying_it() -> None:
    """pop_30 is the share of the customers active in the last 30 days who bought the
    product then; a product bought only earlier has pop_30 0 but pop_365 above 0."""
    lines = _lines((0, 0, 10, 0), (1, 1, 20, 0), (1, 1, 20, 1), (2, 2, 200, 1), (3, 3, 5, 2))
    first = pl.DataFrame({"p": [0, 1, 2], "first_d": [CUTOFF - dt.timedelta(days=300)] * 3})
    stats = product_stats(lines, CUTOFF, first.cast({"p": pl.UInt32})).frame.sort("p")
    pop = dict(zip(stats["p"].to_list(), stats["pop_30"].to_list(), strict=True))
    assert pop == pytest.approx({0: 2 / 3, 1: 1 / 3, 2: 1 / 3})
    year = dict(zip(stats["p"].to_list(), stats["pop_365"].to_list(), strict=True))
    assert year[1] == pytest.approx(2 / 4)
    assert stats["p_age_days"].to_list() == [300, 300, 300]


def test_repeat_rate_is_smoothed_share_of_buyers_buying_twice() -> None:
    """p_repeat_rate = (customers buying it at least twice + 1) / (buyers + 2)."""
    lines = _lines((0, 0, 10, 0), (0, 1, 40, 0), (1, 2, 10, 0), (2, 3, 10, 1))
    first = pl.DataFrame({"p": [0, 1], "first_d": [CUTOFF] * 2}).cast({"p": pl.UInt32})
    stats = product_stats(lines, CUTOFF, first).frame.sort("p")
    assert stats["p_repeat_rate"].to_list() == pytest.approx([(1 + 1) / (2 + 2), 1 / 3])


def test_customer_history_measures_the_rhythm() -> None:
    """A customer ordering every 7 days has c_gap 7 and a regularity (gap CV) of 0."""
    lines = _lines(*[(0, o, 7 * o, 0) for o in range(5)])
    orders = order_table(lines)
    first = pl.DataFrame({"c": [0], "c_first": [CUTOFF]}).cast({"c": pl.UInt32})
    history = customer_history(orders, first)
    row = history.row(0, named=True)
    assert row["c_orders"] == 5
    assert row["c_gap"] == pytest.approx(7.0)
    assert row["c_gap_cv"] == pytest.approx(0.0)
    assert row["c_last"] == CUTOFF


def test_season_lookup_is_the_join_and_belongs_to_its_statistics() -> None:
    """``ProductStats.season_of`` (a products x months table built on first use) gives the
    ``p_season`` a join of the month profile gives, null where it has none (unknown product
    or month), and statistics at another cut-off look up their own profile."""
    lines = _lines((0, 0, 10, 0), (1, 1, 40, 0), (1, 1, 40, 1), (2, 2, 200, 1), (3, 3, 75, 2))
    first = pl.DataFrame({"p": [0, 1, 2], "first_d": [CUTOFF] * 3}).cast({"p": pl.UInt32})
    stats = product_stats(lines, CUTOFF, first)
    pairs = pl.DataFrame(
        {"p": [2, 0, 1, 9, 0, 1], "month": [4, 6, 5, 6, None, 12]},
        schema={"p": pl.UInt32, "month": pl.Int8},
    )
    joined = pairs.join(stats.season, on=["p", "month"], how="left", maintain_order="left")
    for _ in range(2):  # the table is built by the first call and reused by the second
        looked = stats.season_of(pairs["p"], pairs["month"])
        assert looked.to_list() == joined["p_season"].to_list()
    assert looked[3] is None and looked[4] is None  # unknown product, unknown month
    later = product_stats(lines, CUTOFF + dt.timedelta(days=400), first)
    assert later.season_of(pairs["p"], pairs["month"]).to_list() == (
        pairs.join(later.season, on=["p", "month"], how="left", maintain_order="left")[
            "p_season"
        ].to_list()
    )
