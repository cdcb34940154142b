"""Quantities of proposed lines.

The base is the customer's own recent quantities of the product (median of the last three
orders holding it); a learned correction (LightGBM, absolute-error objective, so it aims at
WAPE) adjusts it for trend, time elapsed and season, and is kept only where it beats the base
on a later validation period. Quantities are rounded to how the customer buys the product:
whole packs when its past quantities were multiples of the product's pack size, whole units
when they were whole numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import polars as pl

QUANTITY_FEATURES: tuple[str, ...] = (
    "q_last",
    "q_med3",
    "q_med5",
    "q_mean",
    "q_cv",
    "q_trend",
    "n_cp",
    "share_cp",
    "days_since_cp",
    "due_cp",
    "due_recent_cp",
    "gap_days_cp",
    "days_since_c",
    "due_c",
    "c_lines",
    "p_season",
    "p_trend",
    "year_ago_cp",
)


def base_quantity() -> pl.Expr:
    """The customer's own level for a product it bought; the product's usual line otherwise."""
    return (
        pl.when(pl.col("q_med3").is_not_null())
        .then(pl.col("q_med3"))
        .otherwise(pl.col("p_q_median"))
        .fill_null(1.0)
    )


def wape(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Weighted absolute percentage error: sum |predicted - actual| / sum actual."""
    total = float(np.sum(actual))
    return float(np.sum(np.abs(predicted - actual)) / total) if total > 0 else float("nan")


@dataclass
class QuantityModel:
    """Learned multiplicative correction of the base quantity."""

    n_estimators: int = 200
    seed: int = 0
    threads: int = 2

    def fit(self, train: pl.DataFrame, valid: pl.DataFrame) -> QuantityModel:
        """Learn from repeat lines that were ordered (``q_actual``); keep the correction only if
        it lowers WAPE on ``valid``."""
        self.use_correction_ = False
        self.valid_wape_base_ = float("nan")
        self.valid_wape_model_ = float("nan")
        train = train.filter(pl.col("q_actual").is_not_null() & (pl.col("seen") == 1))
        valid = valid.filter(pl.col("q_actual").is_not_null() & (pl.col("seen") == 1))
        if train.height < 200 or valid.height < 50:
            return self
        base_t = train.select(base_quantity()).to_series().to_numpy()
        base_v = valid.select(base_quantity()).to_series().to_numpy()
        ratio = train["q_actual"].to_numpy() / np.maximum(base_t, 1e-9)
        self.model_ = lgb.LGBMRegressor(
            objective="l1",
            n_estimators=self.n_estimators,
            learning_rate=0.05,
            num_leaves=31,
            min_child_samples=100,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.8,
            random_state=self.seed,
            deterministic=True,
            force_row_wise=True,
            n_jobs=self.threads,
            verbose=-1,
        )
        self.model_.fit(
            train.select(QUANTITY_FEATURES).to_numpy(),
            np.clip(ratio, 0.0, 20.0),
            sample_weight=base_t,
        )
        corrected = base_v * self.model_.predict(valid.select(QUANTITY_FEATURES).to_numpy())
        actual = valid["q_actual"].to_numpy()
        self.valid_wape_base_ = wape(base_v, actual)
        self.valid_wape_model_ = wape(corrected, actual)
        self.use_correction_ = self.valid_wape_model_ < self.valid_wape_base_
        return self

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        """Unrounded quantities for candidate rows."""
        base = frame.select(base_quantity()).to_series().to_numpy()
        if not getattr(self, "use_correction_", False) or frame.height == 0:
            return np.asarray(base, dtype=np.float64)
        ratio = self.model_.predict(frame.select(QUANTITY_FEATURES).to_numpy())
        seen = frame["seen"].to_numpy() == 1
        return np.where(seen, base * np.clip(ratio, 0.05, 20.0), base)


def rounded(quantity: pl.Expr) -> pl.Expr:
    """Round to whole packs (``pack_share_cp`` >= 0.8 and a pack size > 1), else to whole units
    when the customer's quantities were whole (``int_share_cp`` >= 0.8, or unknown); never 0."""
    pack = pl.col("pack")
    by_pack = (pl.col("pack_share_cp") >= 0.8) & (pack > 1)
    whole = pl.col("int_share_cp").fill_null(1.0) >= 0.8
    packs = (quantity / pack).round(0).clip(lower_bound=1.0) * pack
    units = quantity.round(0).clip(lower_bound=1.0)
    return (
        pl.when(by_pack.fill_null(False))
        .then(packs)
        .when(whole)
        .then(units)
        .otherwise(quantity.clip(lower_bound=1e-6))
    )
