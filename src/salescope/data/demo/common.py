"""Helpers of the demo generator: the calendar of day indices, draws, ids and dates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from salescope.data.demo.config import DemoConfig
from salescope.data.demo.constants import NEVER, BoolArray, FloatArray, IntArray

# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _sigmoid(x: FloatArray) -> FloatArray:
    return 1.0 / (1.0 + np.exp(-x))


def _offset_for_mean(logits: FloatArray, target: float) -> float:
    """The constant c such that mean(sigmoid(logits + c)) == target (bisection)."""
    lo, hi = -20.0, 20.0
    for _ in range(50):
        mid = (lo + hi) / 2
        if float(_sigmoid(logits + mid).mean()) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _choice_rows(rng: np.random.Generator, probabilities: FloatArray) -> IntArray:
    """One draw per row of a matrix of probabilities (rows sum to 1)."""
    cum = np.cumsum(probabilities, axis=1)
    u = rng.random((probabilities.shape[0], 1)) * cum[:, -1:]
    return np.asarray(np.minimum((u > cum).sum(axis=1), probabilities.shape[1] - 1), np.int64)


def _zscore(x: FloatArray) -> FloatArray:
    sd = float(x.std())
    return np.asarray((x - x.mean()) / (sd if sd > 0 else 1.0), dtype=np.float64)


def _ids(prefix: str, n: int, width: int) -> list[str]:
    return [f"{prefix}{i + 1:0{width}d}" for i in range(n)]


def _dates(cal: _Calendar, days: IntArray) -> pl.Series:
    return pl.Series((days + cal.epoch0).astype(np.int32)).cast(pl.Date)


def _nulls_where(series: pl.Series, missing: BoolArray) -> pl.Series:
    """``series`` with nulls where ``missing`` is true."""
    return pl.select(pl.when(pl.Series(~missing)).then(series)).to_series().alias(series.name)


def _nullable_dates(cal: _Calendar, days: IntArray, name: str) -> pl.Series:
    """Dates of day indices, null where the index is NEVER."""
    never = days >= NEVER
    return _nulls_where(_dates(cal, np.where(never, 0, days)).alias(name), never)


def _concat_int(parts: list[IntArray]) -> IntArray:
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)


def _concat_float(parts: list[FloatArray]) -> FloatArray:
    return np.concatenate(parts).astype(np.float64) if parts else np.zeros(0)


@dataclass(frozen=True)
class _Calendar:
    """Day indices (0 = the first day of the history) and what each day is."""

    start: date
    history_days: int  # H: days 0..H-1 are the history
    total_days: int  # history + horizon
    epoch0: int
    month: IntArray  # 1..12 per day
    year: IntArray
    closed: BoolArray  # Sunday or public holiday
    weekday: IntArray  # 0 = Monday

    @classmethod
    def build(cls, cfg: DemoConfig) -> _Calendar:
        history = (cfg.end - cfg.start).days + 1
        total = history + cfg.horizon_days
        span = total + 400
        epoch0 = (cfg.start - date(1970, 1, 1)).days
        days = np.datetime64(cfg.start.isoformat(), "D") + np.arange(span)
        month = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
        year = days.astype("datetime64[Y]").astype(np.int64) + 1970
        dom = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
        weekday = (days.astype(np.int64) + 3) % 7
        holiday = ((month == 12) & ((dom == 25) | (dom == 26))) | ((month == 1) & (dom == 1))
        return cls(
            cfg.start,
            history,
            total,
            epoch0,
            month,
            year,
            (weekday == 6) | holiday,
            weekday,
        )

    def open_day(self, days: IntArray) -> IntArray:
        """Move days that fall on a Sunday or a holiday to the next open day."""
        inside = (days >= 0) & (days < len(self.closed) - 4)
        out = np.where(inside, days, 0)
        for _ in range(3):
            out = out + self.closed[out]
        return np.where(inside, out, days).astype(np.int64)
