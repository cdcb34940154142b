"""Acceptance calibration of novelties, acceptance reports and the calibration error."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from salescope.orders.acceptance import (
    AcceptanceCalibrator,
    acceptance_report,
    calibration_errors,
)
from salescope.orders.metrics import expected_calibration_error, reliability

KINDS = ("development", "extension", "objective")


def synthetic_outcomes(
    n: int,
    *,
    offsets: dict[str, float],
    slope: float,
    kinds: tuple[str, ...] = KINDS,
    shares: tuple[float, ...] = (0.3, 0.5, 0.2),
    seed: int = 0,
) -> pl.DataFrame:
    """Outcomes of shown novelties whose true acceptance is ``sigmoid(offset[kind] + slope *
    logit(model_probability))``: the engine's probabilities are miscalibrated by design."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(kinds, size=n, p=shares)
    model = rng.beta(2.0, 4.0, size=n).clip(0.01, 0.99)
    z = np.vectorize(offsets.get)(kind) + slope * np.log(model / (1 - model))
    taken = rng.random(n) < 1 / (1 + np.exp(-z))
    return pl.DataFrame(
        {
            "kind": kind,
            "outcome": np.where(taken, "accepted", "removed"),
            "probability": model,
            "model_probability": model,
            "promotion_id": None,
        },
        schema_overrides={"promotion_id": pl.String},
    )


def test_calibrator_recovers_a_known_miscalibration() -> None:
    """On outcomes generated with known per-kind intercepts and a shared slope, the fit finds
    them and the calibration error drops."""
    offsets = {"development": 1.0, "extension": -1.5, "objective": 0.5}
    outcomes = synthetic_outcomes(6000, offsets=offsets, slope=0.5)
    calibrator = AcceptanceCalibrator().fit(outcomes)
    assert calibrator.is_fitted
    assert calibrator.slope_ == pytest.approx(0.5, abs=0.1)
    for kind, intercept in calibrator.intercepts().items():
        assert intercept == pytest.approx(offsets[kind], abs=0.2)
    before, after = calibration_errors(outcomes, calibrator)
    assert before > 0.05
    assert after < 0.03
    assert after < before / 3
    for kind in KINDS:  # and within each kind, where the miscalibrations differ
        one = outcomes.filter(pl.col("kind") == kind)
        kind_before, kind_after = calibration_errors(one, calibrator)
        assert kind_after < kind_before
    fresh = synthetic_outcomes(6000, offsets=offsets, slope=0.5, seed=1)
    held_before, held_after = calibration_errors(fresh, calibrator)
    assert held_after < held_before / 3


def test_a_narrow_first_round_sets_the_level_without_reversing_the_order() -> None:
    """The first novelties shown are the most promising few, their probabilities in a narrow
    band; when their outcomes happen to favour the lower ones, the calibrator moves the level
    to the acceptance observed but keeps the engine's order (slope near 1, never negative)
    instead of ranking the least promising first."""
    rng = np.random.default_rng(4)
    n = 250
    model = rng.uniform(0.55, 0.65, n)
    taken = rng.random(n) < np.where(model < 0.6, 0.35, 0.2)  # noise against the order
    outcomes = pl.DataFrame(
        {
            "kind": "extension",
            "outcome": np.where(taken, "accepted", "removed"),
            "probability": model,
            "model_probability": model,
            "promotion_id": None,
        },
        schema_overrides={"promotion_id": pl.String},
    )
    calibrator = AcceptanceCalibrator().fit(outcomes)
    assert calibrator.is_fitted
    assert 0.5 <= calibrator.slope_ <= 1.0
    grid = pl.DataFrame({"kind": "extension", "model_probability": [0.1, 0.3, 0.55, 0.65, 0.9]})
    calibrated = calibrator.apply(grid).to_numpy()
    assert (np.diff(calibrated) > 0).all()
    middle = calibrator.apply(pl.DataFrame({"kind": "extension", "model_probability": [0.6]}))
    assert middle[0] == pytest.approx(taken.mean(), abs=0.05)


def test_a_kind_with_few_outcomes_shares_the_common_intercept() -> None:
    """A kind with fewer than min_kind_outcomes outcomes gets no intercept of its own."""
    outcomes = synthetic_outcomes(
        1000,
        offsets={"development": 1.0, "extension": -1.0, "objective": 3.0},
        slope=1.0,
        shares=(0.5, 0.47, 0.03),
    )
    assert outcomes.filter(pl.col("kind") == "objective").height < 50
    calibrator = AcceptanceCalibrator().fit(outcomes)
    assert set(calibrator.kind_offsets_) == {"development", "extension"}
    assert calibrator.intercepts()["objective"] == calibrator.intercept_


def test_too_few_or_one_sided_outcomes_leave_probabilities_as_they_are() -> None:
    """Under min_outcomes outcomes, or when every shown novelty was taken, the calibrator is
    the identity."""
    few = synthetic_outcomes(29, offsets=dict.fromkeys(KINDS, 0.0), slope=1.0)
    one_sided = synthetic_outcomes(200, offsets=dict.fromkeys(KINDS, 0.0), slope=1.0)
    one_sided = one_sided.with_columns(pl.lit("accepted").alias("outcome"))
    for outcomes in (few, one_sided):
        calibrator = AcceptanceCalibrator().fit(outcomes)
        assert not calibrator.is_fitted
        assert calibrator.apply(outcomes).to_list() == outcomes["model_probability"].to_list()
    assert AcceptanceCalibrator().apply(few).equals(few["model_probability"], check_names=False)


def test_usual_lines_and_fallback_to_the_shown_probability() -> None:
    """Usual lines keep their probability; a novelty without model_probability is
    recalibrated from its probability; usual and added lines are not fitted on."""
    outcomes = synthetic_outcomes(2000, offsets=dict.fromkeys(KINDS, -1.0), slope=1.0)
    noise = pl.DataFrame(
        {
            "kind": ["usual"] * 500 + [None] * 500,
            "outcome": ["accepted"] * 500 + ["added"] * 500,
            "probability": [0.01] * 1000,
            "model_probability": [None] * 1000,
            "promotion_id": [None] * 1000,
        },
        schema=outcomes.schema,
    )
    calibrator = AcceptanceCalibrator().fit(pl.concat([outcomes, noise]))
    assert calibrator.outcomes_ == 2000
    lines = pl.DataFrame(
        {
            "kind": ["usual", "extension", "extension"],
            "probability": [0.5, 0.5, 0.9],
            "model_probability": [None, 0.5, None],
        }
    )
    calibrated = calibrator.apply(lines).to_list()
    assert calibrated[0] == 0.5
    assert calibrated[1] == pytest.approx(1 / (1 + np.exp(1.0)), abs=0.05)
    assert calibrated[2] < 0.9


def test_fit_uses_the_engine_probability_not_the_shown_one() -> None:
    """Refitting after shown probabilities were recalibrated gives the same calibrator: it
    learns from model_probability, not from its own earlier output."""
    outcomes = synthetic_outcomes(3000, offsets=dict.fromkeys(KINDS, -0.5), slope=0.7)
    first = AcceptanceCalibrator().fit(outcomes)
    shown = outcomes.with_columns(first.apply(outcomes).alias("probability"))
    second = AcceptanceCalibrator().fit(shown)
    assert second.slope_ == pytest.approx(first.slope_)
    assert second.intercepts() == pytest.approx(first.intercepts())


def test_calibrator_round_trips_through_json() -> None:
    """to_dict is JSON-ready and from_dict gives the same probabilities; an unfitted
    calibrator round-trips as the identity."""
    outcomes = synthetic_outcomes(
        1500, offsets={"development": 0.3, "extension": -0.6, "objective": 0.0}, slope=0.8
    )
    calibrator = AcceptanceCalibrator(inverse_penalty=0.5).fit(outcomes)
    again = AcceptanceCalibrator.from_dict(json.loads(json.dumps(calibrator.to_dict())))
    assert again.inverse_penalty == 0.5
    assert again.apply(outcomes).equals(calibrator.apply(outcomes))
    identity = AcceptanceCalibrator.from_dict(
        json.loads(json.dumps(AcceptanceCalibrator().to_dict()))
    )
    assert not identity.is_fitted
    with pytest.raises(ValueError, match="format"):
        AcceptanceCalibrator.from_dict({"format": 99})


def test_acceptance_report_by_kind_and_promotion() -> None:
    """Shown, taken, acceptance and mean probability per kind (usual included) and per
    promotion; lines the customer added are not shown lines."""
    outcomes = pl.DataFrame(
        {
            "kind": ["usual", "usual", "extension", "extension", "development", None],
            "outcome": ["accepted", "removed", "quantity_changed", "removed", "removed", "added"],
            "probability": [0.9, 0.7, 0.4, 0.2, 0.3, None],
            "promotion_id": [None, None, "P1", "P1", "P2", None],
        }
    )
    report = acceptance_report(outcomes)
    assert report.rows() == [
        ("kind", "usual", 2, 1, 0.5, pytest.approx(0.8)),
        ("kind", "development", 1, 0, 0.0, pytest.approx(0.3)),
        ("kind", "extension", 2, 1, 0.5, pytest.approx(0.3)),
        ("promotion", "P1", 2, 1, 0.5, pytest.approx(0.3)),
        ("promotion", "P2", 1, 0, 0.0, pytest.approx(0.3)),
    ]


def test_expected_calibration_error() -> None:
    """ECE is 0 for probabilities equal to the observed rates of their bins, the mean gap
    otherwise, and NaN with nothing to score."""
    probability = pl.Series([0.25] * 4 + [0.75] * 4)
    outcome = pl.Series([1, 0, 0, 0, 1, 1, 1, 0])
    assert expected_calibration_error(probability, outcome, bins=2) == pytest.approx(0.0)
    assert expected_calibration_error(pl.Series([0.9] * 4), pl.Series([1, 0, 0, 0]), bins=1) == (
        pytest.approx(0.65)
    )
    ece, table = reliability(pl.Series([], dtype=pl.Float64), pl.Series([], dtype=pl.Int8))
    assert np.isnan(ece) and table.is_empty()
