"""Acceptance of proposed novelties: recalibrating their probability on what customers did, and
reporting acceptance by kind and promotion.

The engine's novelty probability (``model_probability``) is derived from history that holds no
proposals, so it can be off in level (customers accept more or less than assumed) and in
spread (over- or under-confident), and differently for development, extension and objective
lines. ``AcceptanceCalibrator`` corrects that from the outcomes of the novelties really shown
(``salescope feedback``): Platt scaling with one slope shared by every kind and an intercept
per kind where the kind has enough outcomes — partial pooling, mildly regularised, so a kind
with few outcomes stays near the common level. The slope is shrunk toward 1 (the engine's own
spread) and never negative: the first novelties shown are the most promising few, whose
probabilities span a narrow range, and their outcomes set the level, not the order — a
handful of outcomes cannot turn the engine's ranking upside down. It is always fitted on the
engine's uncalibrated probability, never on a probability it already recalibrated, so
refitting on more outcomes does not compound corrections.

Pure computation on frames; the fitted state is a small JSON-ready dict.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
from scipy.optimize import minimize

from salescope.domain.statuses import NOVELTY_KINDS, LineKind
from salescope.orders.metrics import expected_calibration_error
from salescope.orders.outcomes import TAKEN, novelty_events

_EPS = 1e-4
_FORMAT = 1


def _base_probability(frame: pl.DataFrame) -> pl.Expr:
    """The engine's uncalibrated probability: ``model_probability``, else ``probability``."""
    columns = [c for c in ("model_probability", "probability") if c in frame.columns]
    if not columns:
        raise ValueError("the frame needs a model_probability or probability column")
    return pl.coalesce(*(pl.col(c).cast(pl.Float64) for c in columns))


def _logit(probability: pl.Expr) -> pl.Expr:
    p = probability.clip(_EPS, 1 - _EPS)
    return (p / (1 - p)).log()


class AcceptanceCalibrator:
    """Platt scaling of novelty probabilities: ``P(taken) = sigmoid(a_kind + b * logit(p))``
    where ``p`` is the engine's probability before calibration.

    ``min_outcomes``: below this many outcomes of shown novelties (or when they are all taken
    or all turned down) the calibrator stays the identity. ``min_kind_outcomes``: a kind gets
    an intercept of its own from this many outcomes; the others share the common one.
    ``inverse_penalty``: the inverse strength of the L2 penalty (as scikit-learn's ``C``) that
    shrinks the kinds' offsets toward the common intercept; the default is mild (an offset
    backed by 50 outcomes keeps most of its estimate). ``slope_spread``: how far from 1 the
    slope is expected to be (a Gaussian prior's standard deviation): outcomes over a narrow
    band of probabilities barely move it, thousands over a wide band set it. The slope is
    bounded below by 0: more promising never means less likely.
    """

    def __init__(
        self,
        *,
        min_outcomes: int = 30,
        min_kind_outcomes: int = 50,
        inverse_penalty: float = 1.0,
        slope_spread: float = 0.25,
    ) -> None:
        self.min_outcomes = min_outcomes
        self.min_kind_outcomes = min_kind_outcomes
        self.inverse_penalty = inverse_penalty
        self.slope_spread = slope_spread

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, outcomes: pl.DataFrame) -> AcceptanceCalibrator:
        """Fit on outcome rows (``salescope.orders.outcomes.OUTCOME_SCHEMA``): the proposed
        novelty lines, taken or not; usual lines and lines added by the customer are left
        out."""
        events = novelty_events(outcomes)
        events = events.select("kind", _logit(_base_probability(events)).alias("x"), "taken")
        events = events.filter(pl.col("x").is_not_null())
        taken = int(events["taken"].sum())
        self.outcomes_ = events.height
        self.taken_rate_ = taken / events.height if events.height else math.nan
        self.slope_ = 1.0
        self.intercept_ = 0.0
        self.kind_offsets_: dict[str, float] = {}
        self.fitted_ = self.outcomes_ >= self.min_outcomes and 0 < taken < self.outcomes_
        if not self.fitted_:
            return self
        counts = dict(events.group_by("kind").len().iter_rows())
        kinds = [k for k in NOVELTY_KINDS if counts.get(k, 0) >= self.min_kind_outcomes]
        design = events.select(
            "x", *(pl.col("kind").eq(k).cast(pl.Float64).alias(k) for k in kinds)
        ).to_numpy()
        intercept, slope, offsets = _penalised_platt(
            design,
            events["taken"].to_numpy().astype(np.float64),
            offset_strength=1.0 / self.inverse_penalty,
            slope_strength=1.0 / self.slope_spread**2,
        )
        self.slope_ = slope
        self.intercept_ = intercept
        self.kind_offsets_ = {k: float(c) for k, c in zip(kinds, offsets, strict=True)}
        return self

    @property
    def is_fitted(self) -> bool:
        """Whether it changes probabilities (fitted on enough outcomes), else the identity."""
        return bool(getattr(self, "fitted_", False))

    def intercepts(self) -> dict[str, float]:
        """The intercept of each novelty kind (the common one for kinds without their own)."""
        return {k: self.intercept_ + self.kind_offsets_.get(k, 0.0) for k in NOVELTY_KINDS}

    # -- applying -----------------------------------------------------------------------------
    def expression(self, frame: pl.DataFrame) -> pl.Expr:
        """The calibrated probability of each row of ``frame`` (``kind`` and
        ``model_probability``, or ``probability`` when there is no model probability) as an
        expression: novelties recalibrated, usual lines and unknown kinds as they are."""
        base = _base_probability(frame)
        if not self.is_fitted:
            return base
        offset = pl.col("kind").replace_strict(
            self.kind_offsets_, default=0.0, return_dtype=pl.Float64
        )
        z = self.intercept_ + offset + self.slope_ * _logit(base)
        return (
            pl.when(pl.col("kind").is_in(list(NOVELTY_KINDS)))
            .then(1.0 / (1.0 + (-z).exp()))
            .otherwise(base)
        )

    def apply(self, frame: pl.DataFrame) -> pl.Series:
        """The calibrated probabilities of ``frame``'s rows (see ``expression``), named
        ``probability``; the identity when not fitted."""
        return frame.select(self.expression(frame).alias("probability")).to_series()

    # -- state ----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The parameters and fitted state, JSON-ready (``from_dict`` reads it back)."""
        return {
            "format": _FORMAT,
            "min_outcomes": self.min_outcomes,
            "min_kind_outcomes": self.min_kind_outcomes,
            "inverse_penalty": self.inverse_penalty,
            "slope_spread": self.slope_spread,
            "fitted": self.is_fitted,
            "outcomes": getattr(self, "outcomes_", 0),
            "taken_rate": _json_float(getattr(self, "taken_rate_", math.nan)),
            "slope": getattr(self, "slope_", 1.0),
            "intercept": getattr(self, "intercept_", 0.0),
            "kind_offsets": dict(getattr(self, "kind_offsets_", {})),
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> AcceptanceCalibrator:
        """A calibrator from ``to_dict``'s output."""
        if state.get("format") != _FORMAT:
            raise ValueError(f"unknown acceptance calibrator format {state.get('format')!r}")
        calibrator = cls(
            min_outcomes=int(state["min_outcomes"]),
            min_kind_outcomes=int(state["min_kind_outcomes"]),
            inverse_penalty=float(state["inverse_penalty"]),
            slope_spread=float(state.get("slope_spread", 0.25)),
        )
        calibrator.fitted_ = bool(state["fitted"])
        calibrator.outcomes_ = int(state["outcomes"])
        taken_rate = state.get("taken_rate")
        calibrator.taken_rate_ = math.nan if taken_rate is None else float(taken_rate)
        calibrator.slope_ = float(state["slope"])
        calibrator.intercept_ = float(state["intercept"])
        calibrator.kind_offsets_ = {str(k): float(v) for k, v in state["kind_offsets"].items()}
        return calibrator

    def __repr__(self) -> str:
        if not self.is_fitted:
            return f"AcceptanceCalibrator(identity, outcomes={getattr(self, 'outcomes_', 0)})"
        return (
            f"AcceptanceCalibrator(outcomes={self.outcomes_}, slope={self.slope_:.3f}, "
            f"intercepts={ {k: round(v, 3) for k, v in self.intercepts().items()} })"
        )


def _penalised_platt(
    design: np.ndarray[Any, Any],
    taken: np.ndarray[Any, Any],
    *,
    offset_strength: float,
    slope_strength: float,
) -> tuple[float, float, list[float]]:
    """Logistic regression of ``taken`` on ``design`` (the logit of the engine's probability,
    then one indicator column per kind with its own intercept): minimises the log loss plus
    ``(slope_strength * (slope - 1)^2 + offset_strength * sum(offsets^2)) / 2``, the slope
    bounded below by 0. Returns (intercept, slope, offsets)."""
    x, kinds = design[:, 0], design[:, 1:]
    n_kinds = kinds.shape[1]

    def loss(theta: np.ndarray[Any, Any]) -> tuple[float, np.ndarray[Any, Any]]:
        a, b, offsets = theta[0], theta[1], theta[2:]
        z = a + b * x + kinds @ offsets
        # log(1 + e^z) - y z, computed stably
        value = float(np.sum(np.logaddexp(0.0, z) - taken * z))
        residual = 1.0 / (1.0 + np.exp(-z)) - taken
        gradient = np.concatenate(([residual.sum()], [residual @ x], kinds.T @ residual))
        value += 0.5 * (slope_strength * (b - 1.0) ** 2 + offset_strength * (offsets @ offsets))
        gradient[1] += slope_strength * (b - 1.0)
        gradient[2:] += offset_strength * offsets
        return value, gradient

    start = np.concatenate(([0.0, 1.0], np.zeros(n_kinds)))
    bounds = [(None, None), (0.0, None), *([(None, None)] * n_kinds)]
    result = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds)
    theta = result.x
    return float(theta[0]), float(theta[1]), [float(v) for v in theta[2:]]


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else value


def calibration_errors(
    outcomes: pl.DataFrame, calibrator: AcceptanceCalibrator, bins: int = 10
) -> tuple[float, float]:
    """ECE of the shown novelties' probabilities as shown (``probability``) and as
    ``calibrator`` recalibrates them, against whether they were taken (NaN when there are
    none)."""
    events = novelty_events(outcomes)
    shown = expected_calibration_error(events["probability"], events["taken"], bins)
    after = expected_calibration_error(calibrator.apply(events), events["taken"], bins)
    return shown, after


REPORT_SCHEMA: dict[str, pl.DataType] = {
    "by": pl.String(),
    "value": pl.String(),
    "shown": pl.Int64(),
    "taken": pl.Int64(),
    "acceptance": pl.Float64(),
    "mean_probability": pl.Float64(),
}
"""Columns of ``acceptance_report``."""


def acceptance_report(outcomes: pl.DataFrame) -> pl.DataFrame:
    """Acceptance of proposed lines by kind (every kind, usual included) and by promotion
    (lines with one): lines ``shown``, ``taken`` (accepted, possibly with another quantity),
    ``acceptance`` = taken / shown — the precision of the lines — and the
    ``mean_probability`` shown, which acceptance matches when the probabilities are
    calibrated. Kinds in ``LineKind`` order, then promotions by lines shown."""
    proposed = outcomes.filter(pl.col("kind").is_not_null()).with_columns(
        pl.col("outcome").is_in(TAKEN).alias("taken")
    )
    stats = (
        pl.len().cast(pl.Int64).alias("shown"),
        pl.col("taken").sum().cast(pl.Int64).alias("taken"),
        pl.col("taken").mean().alias("acceptance"),
        pl.col("probability").mean().alias("mean_probability"),
    )
    order = {k.value: i for i, k in enumerate(LineKind)}
    by_kind = (
        proposed.group_by(pl.col("kind").alias("value"))
        .agg(*stats)
        .sort(pl.col("value").replace_strict(order, default=len(order)))
        .with_columns(pl.lit("kind").alias("by"))
    )
    by_promotion = (
        proposed.filter(pl.col("promotion_id").is_not_null())
        .group_by(pl.col("promotion_id").alias("value"))
        .agg(*stats)
        .sort(["shown", "value"], descending=[True, False])
        .with_columns(pl.lit("promotion").alias("by"))
    )
    return pl.concat(
        [
            f.select(pl.col(c).cast(t) for c, t in REPORT_SCHEMA.items())
            for f in (by_kind, by_promotion)
        ]
    )
