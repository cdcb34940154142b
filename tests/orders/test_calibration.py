"""The usual lines' probabilities, calibrated by the line's place in its customer's list."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from salescope.orders.boosting import Isotonic
from salescope.orders.calibration import PlaceCalibration, kept_edges, places
from salescope.orders.engine_params import EngineParams
from salescope.orders.ranker import RankerParams, fit_ranking


def thinning_history(customers: int, seed: int, first: int = 0) -> pl.DataFrame:
    """Validation-like candidates of ``customers`` customers, 40 each, whose score (``u`` and
    ``nb``: TIFU-KNN ranks) is how regularly the customer bought the product. Half the
    customers are active: most of their candidates are regulars and each is ordered with
    probability its regularity. The other half's activity thins out: few regulars, and each
    is ordered with 0.4 x its regularity — which no score of a product says."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list[float]] = {"c": [], "p": [], "u": [], "label": []}
    for c in range(first, first + customers):
        thinning = c % 2 == 1
        regularity = rng.beta(1.0, 3.0, 40) if thinning else rng.beta(3.0, 2.0, 40)
        chance = regularity * (0.4 if thinning else 1.0)
        rows["c"] += [c] * 40
        rows["p"] += list(range(40))
        rows["u"] += regularity.tolist()
        rows["label"] += (rng.random(40) < chance).astype(int).tolist()
    frame = pl.DataFrame(rows).with_columns(
        pl.col("c").cast(pl.UInt32),
        pl.col("c").cast(pl.UInt32).alias("ev"),
        pl.col("p").cast(pl.UInt32),
        pl.col("label").cast(pl.Int8),
        pl.col("u").alias("nb"),
        pl.lit(1).alias("n_cp"),
        pl.lit(1, dtype=pl.Int8).alias("seen"),
        pl.lit(10.0).alias("c_orders"),
        pl.lit(5.0).alias("days_since_cp"),
        pl.lit(0.0).alias("nb_share"),
    )
    return frame.with_columns(
        pl.col("label").sum().over("ev").cast(pl.Float64).clip(1.0).alias("n_true")
    )


def top10_gap(frame: pl.DataFrame, probability: np.ndarray) -> float:
    """Mean probability minus the share ordered, over each customer's 10 best-scored lines."""
    top = frame.with_columns(pl.Series("_p", probability)).filter(
        pl.col("u").rank("ordinal", descending=True).over("c") <= 10
    )
    return float(top["_p"].mean()) - float(top["label"].mean())  # type: ignore[arg-type]


def test_listed_lines_of_customers_whose_activity_thins_are_not_over_confident() -> None:
    """One score-to-probability map over every candidate gives the lines a list shows — each
    customer's first places — the ordering rate of all candidates at that score, which
    includes the active customers' 11th to 40th places: on fresh customers their top-10
    lines come out over-confident. Calibrated by band of places, they are not."""
    valid = thinning_history(800, seed=1)
    fresh = thinning_history(800, seed=2, first=800)
    ranking = fit_ranking(valid.head(0), valid, RankerParams(), alpha=0.5)
    assert ranking.scorer == "TIFU-KNN"
    one_map = fit_ranking(valid.head(0), valid, RankerParams(calibration_places=()), alpha=0.5)
    raw = ranking.raw(fresh)
    assert top10_gap(fresh, one_map.probability(fresh, raw)) > 0.05  # the old calibration
    assert abs(top10_gap(fresh, ranking.probability(fresh, raw))) < 0.02


def test_places_follow_the_score_within_each_list() -> None:
    """Places count from 1 within each event by score, ties by product code."""
    frame = pl.DataFrame(
        {"ev": [0, 0, 0, 1, 1], "p": [5, 6, 7, 5, 6]},
        schema_overrides={"ev": pl.UInt32, "p": pl.UInt32},
    )
    assert places(frame, np.array([0.1, 0.9, 0.1, 2.0, 3.0])).tolist() == [2, 1, 3, 2, 1]


def test_a_band_with_too_few_rows_joins_the_band_before() -> None:
    """Edges leaving fewer than ``min_rows`` rows in a band are dropped; none left is one
    map."""
    place = np.repeat(np.arange(1, 41), 10)  # ten lists of 40 places
    assert kept_edges(place, (10, 30), 100) == (10, 30)
    assert kept_edges(place, (10, 38), 100) == (10,)  # places 39-40: 20 rows
    assert kept_edges(place, (10, 30), 1000) == ()


def test_probabilities_never_rise_down_a_customers_list() -> None:
    """A line ranked below another never gets a higher probability, even across bands."""
    high, low = (
        Isotonic(np.array([0.0, 1.0]), np.array([0.1, 0.2])),
        Isotonic(np.array([0.0, 1.0]), np.array([0.5, 0.6])),
    )
    calibration = PlaceCalibration((1,), (high, low))
    frame = pl.DataFrame(
        {"c": [0, 0, 0], "t": [1, 1, 1], "p": [1, 2, 3]}, schema_overrides={"p": pl.UInt32}
    )
    probability = calibration.predict(frame, np.array([0.9, 0.5, 0.1]))
    assert probability.tolist() == pytest.approx([0.19, 0.19, 0.19])


def test_calibration_bands_are_engine_parameters() -> None:
    """The bands load from a TOML-like table (a list) and bad ones are refused."""
    params = EngineParams.from_dict(
        {"ranker": {"calibration_places": [5, 20], "calibration_min_rows": 50}}
    )
    assert params.ranker.calibration_places == (5, 20)
    assert params.ranker.calibration_min_rows == 50
    assert EngineParams().ranker.calibration_places == (10, 30)
    with pytest.raises(ValueError, match="calibration_places"):
        RankerParams(calibration_places=(30, 10))
    with pytest.raises(ValueError, match="calibration_places"):
        RankerParams(calibration_places=(0,))
    with pytest.raises(ValueError, match="calibration_min_rows"):
        RankerParams(calibration_min_rows=0)


@pytest.mark.parametrize("seed", range(12))
def test_list_order_matches_the_query_on_ties_and_nan(seed: int) -> None:
    """The places and caps (NumPy, one ``lexsort``) equal the queries' on lists keyed by event
    or by customer and date, one list or many, with tied, NaN and signed-zero scores and NaN
    probabilities."""
    from salescope.orders.calibration import (
        _monotone_polars,
        _places_polars,
        monotone_down_lists,
    )

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    lists = 1 if seed % 3 == 0 else int(rng.integers(1, 6))
    raw = rng.choice([0.0, -0.0, 0.5, 1.0, np.nan, -2.0], n) if seed % 2 else rng.normal(size=n)
    probability = rng.choice([0.1, 0.2, 0.2, 0.7, np.nan], n) if seed % 4 == 1 else rng.random(n)
    customers = rng.integers(0, lists, n)
    frame = pl.DataFrame(
        {
            "c": customers.astype(np.uint32),
            "t": [dt.date(2024, 1, 1) + dt.timedelta(days=int(k % 2)) for k in customers],
            "p": rng.permutation(n).astype(np.uint32),
        }
    )
    if seed % 5 == 0:
        frame = frame.with_columns(pl.col("c").alias("ev"))
    assert places(frame, raw).tolist() == _places_polars(frame, raw).tolist()
    np.testing.assert_array_equal(
        monotone_down_lists(frame, raw, probability), _monotone_polars(frame, raw, probability)
    )
