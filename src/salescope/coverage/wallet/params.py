"""The wallet estimator's parameters, the window its potential refers to, and its
cross-validation report."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class WalletParams:
    """Parameters of the potential model."""

    coverage: float = 0.8  # nominal share of true totals inside [potential_low, potential_high]
    n_folds: int = 5
    n_neighbours: int = 10
    n_estimators: int = 600
    learning_rate: float = 0.03
    num_leaves: int = 15
    min_child_samples: int = 10
    max_categories: int = 32  # categorical columns with at most this many levels stay native
    max_name_words: int = 40  # most frequent words of shop names used as indicators
    smoothing: float = 10.0  # target-encoding prior weight (shops)
    n_bags: int = 1  # models with different seeds averaged
    objective: str = "huber"
    # shops not buying from us: blend the regression with P(any purchase) × the total of a
    # shop that buys (a hurdle model), with this weight
    hurdle: bool = True
    hurdle_weight: float = 0.5
    hurdle_lean: bool = False  # the hurdle model without the purchase features of buyers
    min_observed: int = 12  # fewer shops with market data: fallback on default_share
    default_share: float = 0.3  # share of wallet assumed when market data are missing
    window_days: int = 365
    random_state: int = 0

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be at least 1"
            for name in ("n_folds", "n_neighbours", "n_estimators", "num_leaves", "n_bags")
            if getattr(self, name) < 1
        ]
        problems += [
            f"{name} must be between 0 and 1"
            for name in ("coverage", "hurdle_weight", "learning_rate")
            if not 0.0 <= getattr(self, name) <= 1.0
        ]
        if not 0.0 < self.default_share <= 1.0:
            problems.append("default_share must be in (0, 1]")
        if self.window_days < 1:
            problems.append("window_days must be at least 1")
        if problems:
            raise ValueError("invalid WalletParams: " + "; ".join(problems))


@dataclass(frozen=True, slots=True)
class WalletWindow:
    """The 12 months (or less) the potential refers to: [start, end)."""

    start: dt.date
    end: dt.date
    source: str  # "market" or "orders"

    @property
    def days(self) -> int:
        return max(1, (self.end - self.start).days)


@dataclass(frozen=True, slots=True)
class WalletCV:
    """Cross-validation of the estimated potential on the shops with market data."""

    n: int
    folds: int
    spearman: float  # estimated vs observed yearly totals (out of fold)
    baseline_spearman: float  # own sales / median share of wallet vs observed
    coverage: float  # share of observed totals inside the range (out of fold)
    nominal: float
    median_abs_log_error: float
    spearman_buyers: float | None = None
    spearman_non_buyers: float | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def summary(self) -> str:
        return (
            f"potential CV on {self.n} shops with market data ({self.folds} folds): Spearman "
            f"{self.spearman:.3f} (baseline own/median share {self.baseline_spearman:.3f}), "
            f"range coverage {self.coverage:.0%} (nominal {self.nominal:.0%})"
        )
