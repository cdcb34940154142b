"""Features of the candidates: product statistics at a cut-off and customer rhythm."""

from __future__ import annotations

import datetime as dt

import numpy as np
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


@pytest.mark.parametrize("seed", range(10))
def test_dated_candidates_with_numpy_equal_the_query(seed: int) -> None:
    """The dated features computed with NumPy equal the query's, nulls and NaN alike: nulls,
    NaN and zeros in every input, customers without a target, null date lists, products the
    season profile lacks, with and without the item-neighbour column."""
    from salescope.orders.features import ProductStats, dated_candidates, dated_query

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 80))
    day0 = dt.date(2023, 1, 1)

    def dates(null: float) -> list[dt.date | None]:
        return [
            None if rng.random() < null else day0 + dt.timedelta(days=int(d))
            for d in rng.integers(0, 500, n)
        ]

    def floats(null: float, nan: float) -> list[float | None]:
        values = rng.choice([0.0, 1.0, 2.5, 30.0, -1.0, 400.0], n)
        return [
            None if r < null else (float("nan") if r < null + nan else float(v))
            for v, r in zip(values, rng.random(n), strict=True)
        ]

    customers = rng.integers(0, 6, n)
    frame = pl.DataFrame(
        {
            "c": pl.Series(customers, dtype=pl.UInt32),
            "p": pl.Series(rng.integers(0, 12, n), dtype=pl.UInt32),
            "n_cp": pl.Series([None if r < 0.2 else int(r * 5) for r in rng.random(n)]),
            "last_cp": dates(0.3),
            "orders_since_cp": floats(0.3, 0.0),
            "gap_days_cp": floats(0.3, 0.1 * (seed % 2)),
            "gap_sd_cp": floats(0.3, 0.1),
            "gap_days_recent_cp": floats(0.2, 0.0),
            "gap_orders_cp": floats(0.2, 0.0),
            "q_last": floats(0.5, 0.1),
            "_dates": [
                None
                if rng.random() < 0.15
                else [day0 + dt.timedelta(days=int(d)) for d in rng.integers(0, 900, k)]
                for k in rng.integers(0, 5, n)
            ],
            "t": pl.Series([None] * n, dtype=pl.Date),
            "seen": [None if r < 0.1 * (seed % 3) else r < 0.6 for r in rng.random(n)],
            "c_orders": pl.Series(rng.integers(0, 4, n), dtype=pl.UInt32),
            "c_last": dates(0.1),
            "c_gap": floats(0.2, 0.0),
            "c_gap_recent": floats(0.2, 0.0),
            "c_first": dates(0.0),
            "nb": floats(0.3, 0.1),
            "nb_share": floats(0.3, 0.0),
            "u": floats(0.3, 0.0),
        },
        schema_overrides={"n_cp": pl.UInt32, "_dates": pl.List(pl.Date)},
    )
    if seed % 2:
        frame = frame.with_columns(pl.Series("ii", floats(0.4, 0.0), dtype=pl.Float64))
    if seed % 4 == 3:
        frame = frame.drop("t")
    season = pl.DataFrame(
        {
            "p": pl.Series([1, 1, 2, 3, 5, 8], dtype=pl.UInt32),
            "month": pl.Series([1, 7, 3, 12, 6, 2], dtype=pl.Int8),
            "p_season": [0.5, 1.5, None, 2.0, float("nan"), 0.9],
        }
    )
    products = ProductStats(pl.DataFrame({"p": pl.Series([0], dtype=pl.UInt32)}), season)
    known = sorted(set(customers.tolist()) - {int(rng.integers(0, 6))})
    targets = pl.DataFrame(
        {
            "c": pl.Series(known, dtype=pl.UInt32),
            "t": [day0 + dt.timedelta(days=int(d)) for d in rng.integers(300, 900, len(known))],
        }
    )
    numpy = dated_candidates(frame, targets, products)
    query = dated_query(frame, targets, products)
    assert numpy.schema == query.schema
    assert numpy.equals(query, null_equal=True)
