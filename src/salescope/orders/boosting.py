"""The fitted pieces the engine's models are made of, in forms that save and load exactly.

* ``boosted`` — the one place LightGBM estimators are configured (deterministic, row-wise,
  quiet, early-stopped), returning ``Trees``: a booster cut at its best iteration;
* ``Isotonic`` — a monotone piecewise-linear map from scores to probabilities;
* ``Platt`` — a logistic map from a logit to a probability.

Each predicts with plain NumPy on its own state, so a model written by ``orders.persistence``
and read back gives the very same numbers as the one fitted in memory.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import polars as pl

from salescope.lgbm import lgbm_params

FloatArray = npt.NDArray[np.float64]
SMALL_BATCH = 10_000
"""Below this many rows a prediction runs on one thread: starting LightGBM's threads takes
longer (about 10 ms on a busy machine) than scoring a request's few hundred rows (under 1 ms);
each row's score is the same whatever the threads."""
Kind = Literal["lambdarank", "binary", "l1"]


@dataclass(frozen=True, slots=True)
class Trees:
    """A LightGBM booster and the number of its trees in use."""

    booster: lgb.Booster
    iterations: int

    def predict(self, x: FloatArray) -> FloatArray:
        """Raw scores (``lambdarank``, ``l1``) or probabilities (``binary``)."""
        if len(x) == 0:
            return np.zeros(0)
        threads: dict[str, Any] = {"num_threads": 1} if len(x) < SMALL_BATCH else {}
        scores = self.booster.predict(x, num_iteration=self.iterations, **threads)
        return np.asarray(scores, dtype=np.float64)

    def to_text(self) -> str:
        """The model in LightGBM's text format, cut at ``iterations``."""
        return str(self.booster.model_to_string(num_iteration=self.iterations))

    @classmethod
    def from_text(cls, text: str) -> Trees:
        booster = lgb.Booster(model_str=text)
        return cls(booster, int(booster.current_iteration()))


def matrix(frame: pl.DataFrame, names: Sequence[str]) -> FloatArray:
    """The columns ``names`` of ``frame`` as float64 (nulls as NaN), one row per row and in
    column-major order: ``frame.select(casts).to_numpy()``, column by column without a query
    (a request's few hundred rows cost less to copy than to plan)."""
    out = np.empty((frame.height, len(names)), dtype=np.float64, order="F")
    for j, name in enumerate(names):
        out[:, j] = frame.get_column(name).cast(pl.Float64).to_numpy()
    return out


def boosted(
    kind: Kind,
    x: FloatArray,
    y: FloatArray,
    *,
    valid: tuple[FloatArray, FloatArray] | None = None,
    group: npt.NDArray[np.int64] | None = None,
    valid_group: npt.NDArray[np.int64] | None = None,
    sample_weight: FloatArray | None = None,
    n_estimators: int,
    learning_rate: float = 0.05,
    num_leaves: int = 15,
    min_child_samples: int = 100,
    feature_fraction: float = 0.7,
    early_stopping_rounds: int = 50,
    seed: int = 0,
    threads: int = 2,
) -> Trees:
    """Fit a LightGBM ranker (``lambdarank``, groups of rows), classifier (``binary``) or
    absolute-error regressor (``l1``), early-stopped on ``valid`` when given."""
    common = lgbm_params(
        n_estimators=n_estimators,
        learning_rate=learning_rate,
        num_leaves=num_leaves,
        min_child_samples=min_child_samples,
        seed=seed,
        threads=threads,
        colsample_bytree=feature_fraction,
        deterministic=True,
        force_row_wise=True,
    )
    fit: dict[str, Any] = {}
    if sample_weight is not None:
        fit["sample_weight"] = sample_weight
    if valid is not None:
        fit["eval_set"] = [valid]
        fit["callbacks"] = [lgb.early_stopping(early_stopping_rounds, verbose=False)]
    model: lgb.LGBMModel
    if kind == "lambdarank":
        model = lgb.LGBMRanker(objective="lambdarank", **common)
        fit["group"] = group
        if valid is not None:
            fit["eval_group"] = [valid_group]
            fit["eval_at"] = [10]
    elif kind == "binary":
        model = lgb.LGBMClassifier(**common)
    else:
        model = lgb.LGBMRegressor(objective="l1", **common)
    with warnings.catch_warnings():
        # LightGBM >= 4.7 renames eval_set; the old name works in every supported version
        warnings.filterwarnings("ignore", message=".*eval_set.*deprecated")
        model.fit(x, y, **fit)
    best = int(getattr(model, "best_iteration_", 0) or 0) or n_estimators
    booster = model.booster_
    return Trees(booster, min(best, int(booster.current_iteration())))


@dataclass(frozen=True, slots=True)
class Isotonic:
    """A non-decreasing piecewise-linear map (isotonic regression), clipped at both ends."""

    x: FloatArray
    y: FloatArray

    @classmethod
    def fit(cls, score: FloatArray, outcome: FloatArray) -> Isotonic:
        from sklearn.isotonic import IsotonicRegression

        model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        model.fit(score, outcome)
        return cls(
            np.asarray(model.X_thresholds_, dtype=np.float64),
            np.asarray(model.y_thresholds_, dtype=np.float64),
        )

    def predict(self, score: FloatArray) -> FloatArray:
        if len(self.x) == 0:
            return np.zeros(len(score))
        return np.asarray(np.interp(score, self.x, self.y), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Platt:
    """P = 1 / (1 + exp(-(slope x logit + intercept)))."""

    slope: float
    intercept: float

    @classmethod
    def fit(cls, logit: FloatArray, outcome: FloatArray) -> Platt:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=1e4).fit(logit[:, None], outcome)
        return cls(float(model.coef_[0, 0]), float(model.intercept_[0]))

    def predict(self, logit: FloatArray) -> FloatArray:
        return np.asarray(1.0 / (1.0 + np.exp(-(self.slope * logit + self.intercept))))


def logit(probability: FloatArray) -> FloatArray:
    """log(p / (1 - p)), with p kept inside (1e-6, 1 - 1e-6)."""
    p = np.clip(probability, 1e-6, 1 - 1e-6)
    return np.asarray(np.log(p / (1 - p)), dtype=np.float64)
