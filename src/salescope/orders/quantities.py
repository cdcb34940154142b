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
from typing import Literal

import numpy as np
import polars as pl

from salescope.domain.errors import NotFittedError
from salescope.orders.boosting import Trees, boosted, matrix

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


@dataclass(frozen=True, slots=True)
class QuantityParams:
    """The knobs of the quantity correction (``QuantityModel``)."""

    n_estimators: int = 200
    num_leaves: int = 31
    feature_fraction: float = 0.8
    min_train_lines: int = 200  # fewer repeat lines ordered: the base quantity is kept
    min_valid_lines: int = 50
    seed: int = 0
    threads: int = 2

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be at least 1"
            for name in ("n_estimators", "num_leaves", "min_train_lines", "min_valid_lines")
            if getattr(self, name) < 1
        ]
        if not 0.0 < self.feature_fraction <= 1.0:
            problems.append("feature_fraction must be in (0, 1]")
        if self.threads < 1:
            problems.append("threads must be at least 1")
        if problems:
            raise ValueError("invalid QuantityParams: " + "; ".join(problems))


QuantitySource = Literal["corrected", "base"]


class QuantityModel:
    """Learned multiplicative correction of the base quantity.

    ``QuantityModel(params).fit(train, valid)``: ``params`` is stored as given and resolved in
    ``fit`` (``params_``). Fitted state: ``source_`` is ``"corrected"`` when the trees
    (``correction_``) beat the base on the validation period, ``"base"`` when the base is kept
    (too few lines, or no gain); ``predict`` before ``fit`` raises ``NotFittedError``."""

    def __init__(self, params: QuantityParams | None = None) -> None:
        self.params = params

    def fit(self, train: pl.DataFrame, valid: pl.DataFrame) -> QuantityModel:
        """Learn from repeat lines that were ordered (``q_actual``); keep the correction only if
        it lowers WAPE on ``valid``."""
        p = self.params_ = self.params or QuantityParams()
        self.correction_: Trees | None = None
        self.source_: QuantitySource = "base"
        self.valid_wape_base_ = float("nan")
        self.valid_wape_model_ = float("nan")
        if "q_actual" not in train.columns or "q_actual" not in valid.columns:
            return self  # no example to learn from
        train = train.filter(pl.col("q_actual").is_not_null() & (pl.col("seen") == 1))
        valid = valid.filter(pl.col("q_actual").is_not_null() & (pl.col("seen") == 1))
        if train.height < p.min_train_lines or valid.height < p.min_valid_lines:
            return self
        base_t = train.select(base_quantity()).to_series().to_numpy()
        base_v = valid.select(base_quantity()).to_series().to_numpy()
        ratio = train["q_actual"].to_numpy() / np.maximum(base_t, 1e-9)
        trees = boosted(
            "l1",
            _x(train),
            np.clip(ratio, 0.0, 20.0),
            sample_weight=base_t,
            n_estimators=p.n_estimators,
            num_leaves=p.num_leaves,
            feature_fraction=p.feature_fraction,
            seed=p.seed,
            threads=p.threads,
        )
        corrected = base_v * trees.predict(_x(valid))
        actual = valid["q_actual"].to_numpy()
        self.valid_wape_base_ = wape(base_v, actual)
        self.valid_wape_model_ = wape(corrected, actual)
        if self.valid_wape_model_ < self.valid_wape_base_:
            self.correction_ = trees
            self.source_ = "corrected"
        return self

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        """Unrounded quantities for candidate rows."""
        if not hasattr(self, "source_"):
            raise NotFittedError("QuantityModel.predict before fit")
        base = frame.select(base_quantity()).to_series().to_numpy()
        if self.source_ == "base" or self.correction_ is None or frame.height == 0:
            return np.asarray(base, dtype=np.float64)
        ratio = self.correction_.predict(_x(frame))
        seen = frame["seen"].to_numpy() == 1
        return np.where(seen, base * np.clip(ratio, 0.05, 20.0), base)


def _x(frame: pl.DataFrame) -> np.ndarray:
    return matrix(frame, QUANTITY_FEATURES)


MULTIPLES = (2, 3, 4, 5, 6, 8, 10, 12, 15, 16, 18, 20, 24, 25, 30, 36, 40, 48, 50, 60, 72, 96, 100)
"""Selling multiples looked for in past quantities (packs, cases, dozens, trays)."""


def selling_multiples(
    lines: pl.DataFrame, *, min_lines: int = 5, share: float = 0.95
) -> pl.DataFrame:
    """``p, pack``: for each product whose past quantities (lines ``p, q``) are, in at least
    ``share`` of its ``min_lines`` or more lines, multiples of one number above 1, the largest
    such number — 12 for a product bought in 12, 24 and 48 — the way it is sold when the
    products table gives no pack size."""
    distinct = (
        lines.filter((pl.col("q") > 0) & (pl.col("q") == pl.col("q").round(0)))
        .group_by("p", "q")
        .agg(pl.len().alias("n"))
        .with_columns(pl.col("n").sum().over("p").alias("_lines"))
        .filter(pl.col("_lines") >= min_lines)
    )
    multiples = pl.DataFrame({"pack": list(MULTIPLES)}, schema={"pack": pl.Int64})
    return (
        distinct.join(multiples, how="cross")
        .group_by("p", "pack")
        .agg(
            (pl.col("n").filter(pl.col("q").cast(pl.Int64) % pl.col("pack") == 0).sum())
            .truediv(pl.col("_lines").first())
            .alias("_share")
        )
        .filter(pl.col("_share") >= share)
        .group_by("p")
        .agg(pl.col("pack").max())
        .sort("p")
    )


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
