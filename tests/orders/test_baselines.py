"""The baselines the engine is compared with: G-, P-, GP-TopFreq, the last quantity, TIFU-KNN."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from salescope.orders import baselines
from salescope.orders.baselines import (
    TifuGrid,
    TifuKnn,
    calendar_validation,
    g_topfreq,
    gp_topfreq,
    last_order_validation,
    last_quantity,
    p_topfreq,
    tune_tifu,
)
from salescope.orders.neighbours import TifuParams

DAY = dt.date(2024, 1, 1)


def _lines(*rows: tuple[int, int, int, int, float]) -> pl.DataFrame:
    """Lines ``c, o, d, p, q`` from (customer, order, day offset, product, quantity)."""
    return pl.DataFrame(
        [(c, o, DAY + dt.timedelta(days=d), p, q) for c, o, d, p, q in rows],
        schema={"c": pl.UInt32, "o": pl.UInt32, "d": pl.Date, "p": pl.UInt32, "q": pl.Float64},
        orient="row",
    )


# customer 0 buys product 1 in three orders and 2 once; customer 1 buys 3 twice and 1 once
LINES = _lines(
    (0, 0, 0, 1, 2.0),
    (0, 1, 7, 1, 4.0),
    (0, 1, 7, 2, 1.0),
    (0, 2, 14, 1, 6.0),
    (1, 3, 0, 3, 1.0),
    (1, 4, 7, 3, 1.0),
    (1, 4, 7, 1, 5.0),
)
TARGETS = pl.DataFrame({"c": [0, 1]}, schema={"c": pl.UInt32})


def _ranked(frame: pl.DataFrame, c: int) -> list[int]:
    return frame.filter(pl.col("c") == c).sort("rank")["p"].to_list()


def test_g_topfreq_gives_everyone_the_products_in_most_orders() -> None:
    """G-TopFreq ranks products by the number of orders holding them, the same for all."""
    ranked = g_topfreq(LINES, TARGETS, 2)
    assert _ranked(ranked, 0) == _ranked(ranked, 1) == [1, 3]


def test_p_topfreq_ranks_each_customers_own_products() -> None:
    """P-TopFreq ranks a customer's own products by its orders holding them; ties go to the
    most recent."""
    ranked = p_topfreq(LINES, TARGETS, 5)
    assert _ranked(ranked, 0) == [1, 2]
    assert _ranked(ranked, 1) == [3, 1]


def test_gp_topfreq_completes_own_products_with_popular_ones() -> None:
    """GP-TopFreq lists the customer's own products first, then popular products it lacks,
    never twice, up to the number asked."""
    ranked = gp_topfreq(LINES, TARGETS, 3)
    assert _ranked(ranked, 0) == [1, 2, 3]
    assert _ranked(ranked, 1) == [3, 1, 2]


def test_last_quantity_is_the_most_recent_orders_quantity() -> None:
    """The last-quantity baseline repeats the quantity of the pair's most recent order."""
    last = last_quantity(LINES).filter((pl.col("c") == 0) & (pl.col("p") == 1))
    assert last["quantity"].item() == 6.0


def test_tifu_knn_with_alpha_one_ranks_by_the_customers_own_vector() -> None:
    """TIFU-KNN with alpha 1 ignores the neighbours: a customer's top product is the one in
    its orders most recently and most often."""
    model = TifuKnn(TifuParams(k=1, alpha=1.0)).fit(LINES, 2, 4)
    ranked = model.rank(TARGETS, 2)
    assert _ranked(ranked, 0)[0] == 1
    assert _ranked(ranked, 1)[0] == 3


def test_calendar_validation_holds_out_each_customers_first_order_after_the_cut() -> None:
    """The calendar split keeps the lines before ``days`` before the end as history and each
    customer's first order after as the truth."""
    history, truth = calendar_validation(7)(LINES)
    assert history["d"].max() < DAY + dt.timedelta(days=7)
    assert sorted(truth.select("c", "o").unique().rows()) == [(0, 1), (1, 4)]


def test_tifu_knn_fitted_for_some_rows_ranks_them_as_the_full_fit() -> None:
    """Neighbours computed only for the customers to rank (among all customers) give the
    same ranking as neighbours of everyone; ranking a customer outside them is refused."""
    full = TifuKnn(TifuParams(k=1, alpha=0.5)).fit(LINES, 2, 4)
    some = TifuKnn(TifuParams(k=1, alpha=0.5)).fit(LINES, 2, 4, rows=np.array([1]))
    one = TARGETS.filter(pl.col("c") == 1)
    assert some.rank(one, 3).equals(full.rank(one, 3))
    try:
        some.rank(TARGETS, 3)
    except ValueError:
        return
    raise AssertionError("ranked a customer it has no neighbours for")


def _thirty_customers(seed: int) -> pl.DataFrame:
    """30 customers with 5 weekly orders of 3 random products each among 12."""
    rng = np.random.default_rng(seed)
    rows = [
        (c, c * 10 + o, o * 7, int(p), 1.0)
        for c in range(30)
        for o in range(5)
        for p in rng.choice(12, size=3, replace=False)
    ]
    return _lines(*rows)


def test_tuning_on_a_customer_sample_ranks_at_most_that_many(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``tune_tifu(customers=n)`` ranks at most ``n`` validation customers, and with ``n``
    at least their number it is the full tuning (same parameters, same recall)."""
    lines = _thirty_customers(seed=0)
    grid = TifuGrid(group_size=(3,), within_decay=(0.9,), group_decay=(0.8,), k=(5,), alpha=(0.7,))
    full = tune_tifu(lines, 30, 12, validation=last_order_validation, grid=grid)
    same = tune_tifu(lines, 30, 12, validation=last_order_validation, grid=grid, customers=30)
    assert same[0] == full[0] and same[1] == pytest.approx(full[1])
    ranked: list[int] = []
    measure = baselines.ranking_metrics

    def counting(frame: pl.DataFrame, truth: pl.DataFrame, ks: tuple[int, ...]) -> dict[str, float]:
        ranked.append(frame["c"].n_unique())
        return measure(frame, truth, ks)

    monkeypatch.setattr(baselines, "ranking_metrics", counting)
    tune_tifu(lines, 30, 12, validation=last_order_validation, grid=grid, customers=8)
    assert ranked and max(ranked) <= 8


def test_vector_weights_tune_on_a_bounded_sample_and_neighbourhoods_on_everyone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With ``vector_lines``, the vector weights are chosen on customers whose lines fit the
    budget, the neighbourhood (k, alpha) on the whole history; with a budget above the
    history's size the tuning is the full one (same vector weights, same recall)."""
    lines = _thirty_customers(seed=1)
    grid = TifuGrid(
        group_size=(3, 7), within_decay=(0.9,), group_decay=(0.8,), k=(5,), alpha=(0.7,)
    )
    full = tune_tifu(lines, 30, 12, validation=last_order_validation, grid=grid)
    roomy = tune_tifu(
        lines, 30, 12, validation=last_order_validation, grid=grid, vector_lines=10_000
    )
    # (k and the similarity can tie on so small a history: a tie goes either way)
    vector = ("group_size", "within_decay", "group_decay")
    assert [getattr(roomy[0], n) for n in vector] == [getattr(full[0], n) for n in vector]
    assert roomy[1] == pytest.approx(full[1])
    sizes: list[int] = []
    place = baselines.placed_lines

    def counting(frame: pl.DataFrame, orders: pl.DataFrame) -> pl.DataFrame:
        sizes.append(frame.height)
        return place(frame, orders)

    monkeypatch.setattr(baselines, "placed_lines", counting)
    history, _ = last_order_validation(lines)
    tune_tifu(lines, 30, 12, validation=last_order_validation, grid=grid, vector_lines=100)
    assert len(sizes) == 2 and 0 < sizes[0] <= 100 and sizes[1] == history.height
