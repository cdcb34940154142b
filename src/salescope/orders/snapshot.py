"""The broadcast artefacts of an anchor date (``Snapshot``) and one scoring of targets
(``Scored``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from salescope.orders.features import ProductStats
from salescope.orders.history import rows_of
from salescope.orders.novelties import (
    Evidence,
)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The broadcast artefacts of one anchor date: what is known of every customer and
    product before it."""

    cutoff: dt.date
    window: pl.DataFrame
    products: ProductStats
    neighbour: pl.DataFrame
    extra: pl.DataFrame  # candidates the neighbours miss (segment favourites, launches)
    matrix: Any  # the customers' TIFU vectors (sparse)
    neighbours: np.ndarray  # neighbour rows of the ``active`` customers
    active: np.ndarray
    items: Any  # product similarities (sparse) or None
    evidence: Evidence  # segment, category, brand, nearby and adoption evidence
    _neighbour_c: np.ndarray = field(init=False, repr=False)
    _extra_c: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # ``neighbour`` and ``extra`` are sorted by customer: a request slices its own rows
        object.__setattr__(self, "_neighbour_c", self.neighbour["c"].to_numpy().astype(np.int64))
        object.__setattr__(self, "_extra_c", self.extra["c"].to_numpy().astype(np.int64))

    def neighbour_of(self, customers: pl.Series) -> pl.DataFrame:
        """The neighbour evidence of ``customers`` (codes)."""
        return rows_of(self.neighbour, self._neighbour_c, customers)

    def extra_of(self, customers: pl.Series) -> pl.DataFrame:
        """The extra candidate pairs of ``customers`` (codes)."""
        return rows_of(self.extra, self._extra_c, customers)


@dataclass(frozen=True, slots=True)
class Scored:
    """One scoring of a set of targets, shared by rank mode, proposal mode and the
    range-extension list (``NextOrderModel.prepare``)."""

    coded: pl.DataFrame  # _target_id, t, c (null: unknown to the history)
    scored: pl.DataFrame  # NextOrderModel.score_candidates of ``known``
    novelties: pl.DataFrame | None  # NextOrderModel.score_novelties (None: nothing scored)


EMPTY_SCORED = {
    "c": pl.UInt32,
    "t": pl.Date,
    "p": pl.UInt32,
    "seen": pl.Int8,
    "score": pl.Float64,
    "probability": pl.Float64,
    "_q": pl.Float64,
    "quantity": pl.Float64,
    "reason": pl.String,
    "lapsed": pl.Boolean,
}
"""The columns of ``NextOrderModel.score_candidates`` when nothing is scored."""
