"""The ranking of the usual lines: the learned model, or the best of the baselines."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from salescope.orders.engine_params import EngineParams
from salescope.orders.quantities import selling_multiples
from salescope.orders.ranker import RankerParams, Ranking, fit_ranking, recall_at
from salescope.orders.training import thin


def candidates(*rows: tuple[int, int, int, float, float, int]) -> pl.DataFrame:
    """Candidate rows (event, product, label, u, nb, n_cp): one customer per event, orders of
    three products each, the customer's products bought n_cp times out of 10 orders."""
    frame = pl.DataFrame(
        {
            "ev": [r[0] for r in rows],
            "c": [r[0] for r in rows],
            "p": [r[1] for r in rows],
            "label": [r[2] for r in rows],
            "u": [r[3] for r in rows],
            "nb": [r[4] for r in rows],
            "n_cp": [r[5] for r in rows],
        },
        schema_overrides={"ev": pl.UInt32, "c": pl.UInt32, "p": pl.UInt32, "label": pl.Int8},
    )
    return frame.with_columns(
        pl.col("label").sum().over("ev").cast(pl.Float64).alias("n_true"),
        (pl.col("n_cp") > 0).cast(pl.Int8).alias("seen"),
        pl.lit(10.0).alias("c_orders"),
        pl.lit(5.0).alias("days_since_cp"),
        pl.lit(0.0).alias("nb_share"),
    )


def test_recall_at_counts_the_ordered_products_in_each_events_top_k() -> None:
    """Recall@1 is the mean over events of (ordered products ranked first) / (order size)."""
    frame = candidates((0, 1, 1, 0, 0, 1), (0, 2, 1, 0, 0, 1), (0, 3, 0, 0, 0, 1))
    frame = frame.with_columns(pl.lit(4.0).alias("n_true"))  # two ordered products missed
    assert recall_at(frame, np.array([3.0, 2.0, 1.0]), k=1) == pytest.approx(0.25)
    assert recall_at(frame, np.array([1.0, 2.0, 3.0]), k=1) == 0.0
    assert recall_at(frame, np.array([3.0, 2.0, 1.0]), k=2) == pytest.approx(0.5)


def test_with_too_little_to_learn_the_best_baseline_ranks_and_is_calibrated() -> None:
    """Below the floors no model is learned; of TIFU-KNN and P-TopFreq the one with the
    better validation recall serves, with calibrated probabilities in [0, 1]."""
    # the customers reorder what they buy most often; their vectors point elsewhere
    rows = []
    for ev in range(40):
        rows += [(ev, 1, 1, 0.1, 0.1, 9)] + [(ev, p, 0, 0.9, 0.9, 1) for p in range(2, 14)]
    frame = candidates(*rows)
    ranking = fit_ranking(frame.head(0), frame, RankerParams(), alpha=0.7)
    assert ranking.trees is None and ranking.degraded
    assert ranking.scorer == "P-TopFreq"
    assert ranking.validation["recall@10"]["P-TopFreq"] == 1.0
    raw = ranking.raw(frame)
    probability = ranking.probability(frame, raw)
    assert ((probability >= 0) & (probability <= 1)).all()
    ordered = frame["label"].to_numpy() == 1
    assert probability[ordered].min() > probability[~ordered].max()


def test_without_validation_the_customers_frequency_ranks_and_gives_the_probability() -> None:
    """No validation event: P-TopFreq ranks and the probability is the customer's share of
    orders holding the product."""
    frame = candidates((0, 1, 1, 0, 0, 4), (0, 2, 0, 0, 0, 0))
    ranking = fit_ranking(frame.head(0), frame.head(0), RankerParams(), alpha=0.7)
    assert ranking == Ranking("P-TopFreq", None, None, 0.7, ranking.validation)
    assert ranking.probability(frame, ranking.raw(frame)).tolist() == [0.4, 0.0]


def test_selling_multiples_are_read_from_past_quantities() -> None:
    """A product bought in 12, 24 and 48 sells by 12; one bought in 5 and 7 has no multiple;
    one bought too rarely is not judged."""
    lines = pl.DataFrame(
        {
            "p": [0] * 6 + [1] * 6 + [2] * 2,
            "q": [12.0, 24.0, 48.0, 12.0, 36.0, 24.0, 5.0, 7.0, 5.0, 7.0, 5.0, 7.0, 24.0, 24.0],
        },
        schema_overrides={"p": pl.UInt32},
    )
    assert selling_multiples(lines).rows() == [(0, 12)]


def test_thinning_a_frame_keeps_validation_rows_and_every_positive() -> None:
    """``thin`` (applied to each frame of training examples as it is built) keeps every
    validation row and every positive, and about ``rate`` of the training negatives, whichever
    frame they come in; a TIFU-KNN
    tuning sample below one customer is refused."""
    frame = pl.DataFrame(
        {
            "ev": [i // 50 for i in range(1100)],
            "p": [i % 50 for i in range(1100)],
            "valid": [True] * 100 + [False] * 1000,
            "label": ([1] * 10 + [0] * 90) + ([1] * 100 + [0] * 900),
        },
        schema_overrides={"ev": pl.UInt32, "p": pl.UInt32},
    )
    kept = thin(frame, 0.3, seed=1)
    assert kept.filter(pl.col("valid")).height == 100
    assert kept.filter(~pl.col("valid") & (pl.col("label") == 1)).height == 100
    negatives = kept.filter(~pl.col("valid") & (pl.col("label") == 0)).height
    assert 200 <= negatives <= 340  # 30 % of 900, drawn
    # a row's fate does not depend on the frame it comes in
    halves = pl.concat([thin(frame.head(600), 0.3, seed=1), thin(frame.tail(500), 0.3, seed=1)])
    assert halves.equals(kept)
    with pytest.raises(ValueError, match="tune_customers"):
        EngineParams(tune_customers=0)


@pytest.mark.parametrize("seed", range(12))
def test_one_list_ranks_equal_the_query(seed: int) -> None:
    """One target's baseline scores and places computed with NumPy equal the query's: tied
    scores, nulls in every input, rows out of product order, NaN (left to the query)."""
    from salescope.orders.ranker import list_ranks, list_ranks_query, one_list_ranks

    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 40))

    def values(choices: list[float | None]) -> list[float | None]:
        picked = [choices[i] for i in rng.integers(0, len(choices), n)]
        return [None if v is None else float(v) for v in picked]

    frame = pl.DataFrame(
        {
            "c": pl.Series([7] * n, dtype=pl.UInt32),
            "t": [dt.date(2024, 5, 1)] * n,
            "p": pl.Series(rng.permutation(n), dtype=pl.UInt32),
            "u": values([0.0, 0.1, 0.1, None, 0.5]),
            "nb": values([0.0, 0.2, None, 0.05]),
            "nb_share": values([0.0, 0.3, None, 1.0]),
            "seen": pl.Series(
                [None if r < 0.1 * (seed % 2) else int(r < 0.6) for r in rng.random(n)],
                dtype=pl.Int8,
            ),
            "n_cp": pl.Series([int(k) for k in rng.integers(1, 4, n)], dtype=pl.UInt32),
            "days_since_cp": values([1.0, 10.0, 10.0, None]),
        }
    )
    if seed % 5 == 4 and n:
        frame = frame.with_columns(pl.lit(float("nan")).alias("u"))
    fast = one_list_ranks(frame, 0.7)
    query = list_ranks_query(frame, 0.7)
    assert list_ranks(frame, 0.7).equals(query)
    if seed % 5 != 4:
        assert fast is not None
    if fast is not None:
        assert fast.schema == query.schema
        assert fast.equals(query)
