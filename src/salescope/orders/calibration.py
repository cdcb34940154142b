"""The probability of a usual line, calibrated by the line's place in its customer's list.

A ranker's scores (LambdaRank's above all) order one customer's candidates; they do not say
how many of them the customer's order will hold. At the same score, a product a customer with
large orders ranks 25th is more likely ordered than one a customer whose orders have thinned
to a few lines ranks 1st. One isotonic map from score to probability over every validation
candidate averages the two, so the lines a list shows — each customer's first places — come
out over-confident (on the 200 Iowa stores, every bin of the top-10 lines by 0.02 to 0.09),
however many validation rows it is fitted on.

``PlaceCalibration`` fits one isotonic map per band of places (by default places 1-10, 11-30
and the rest: the lines a list shows, those a proposal may add, the tail), each on the
validation candidates that held such a place in their customer's ranking, so a listed line's
probability is learnt from lines listed the same way. A band with too few rows is merged into
the band before it. Within a customer, the probabilities never rise down its ranking (a line
gets at most the probability of any line ranked above it), so a list sorted by probability
is the list sorted by score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from salescope.orders.boosting import Isotonic

FloatArray = npt.NDArray[np.float64]
EVENT = "ev"  # the column naming a training or validation event, when the frame has one


def list_key(frame: pl.DataFrame) -> list[str]:
    """The columns naming one list of candidates: the event of a labelled frame, else the
    customer and target date of a scored one (a customer alone when no date is given)."""
    if EVENT in frame.columns:
        return [EVENT]
    return [name for name in ("c", "t") if name in frame.columns]


def _list_order(frame: pl.DataFrame, raw: FloatArray) -> tuple[np.ndarray, np.ndarray] | None:
    """The rows of ``frame`` in list order — by list (``list_key``), then ``raw`` score
    highest first (NaN first, as Polars sorts it descending; -0.0 equal to 0.0), then product
    code — and whether each row (in that order) starts its list; None when a key or the
    product holds a null or is not a code or date (left to Polars). One ``lexsort``, not a
    query: a request's list is a few hundred rows."""
    columns = [frame.get_column(name) for name in list_key(frame)]
    product = frame.get_column("p")
    if any(
        column.null_count() or not (column.dtype.is_integer() or column.dtype == pl.Date)
        for column in (*columns, product)
    ):
        return None
    keys = [column.to_physical().to_numpy() for column in columns]
    score = np.asarray(raw, dtype=np.float64)
    nan = np.isnan(score)
    down = np.where(nan, 0.0, -score)
    # np.lexsort: the last key sorts first
    order = np.lexsort((product.to_numpy(), down, ~nan, *reversed(keys)))
    starts = np.zeros(len(order), dtype=bool)
    if len(order):
        starts[0] = True
        for key in keys:
            ranked = key[order]
            starts[1:] |= ranked[1:] != ranked[:-1]
    return order, starts


def places(frame: pl.DataFrame, raw: FloatArray) -> npt.NDArray[np.int64]:
    """Each candidate's place (1 = first) among its list's candidates (``list_key``) by
    ``raw`` score, highest first, ties by product code — the order the lists are written in."""
    if frame.height == 0:
        return np.zeros(0, dtype=np.int64)
    listed = _list_order(frame, raw)
    if listed is None:
        return _places_polars(frame, raw)
    return _places_of(*listed)


def _places_of(order: np.ndarray, starts: np.ndarray) -> npt.NDArray[np.int64]:
    """``places`` from ``_list_order``."""
    position = np.arange(len(order), dtype=np.int64)
    first = np.maximum.accumulate(np.where(starts, position, 0))
    place = np.empty(len(order), dtype=np.int64)
    place[order] = position - first + 1
    return place


def _places_polars(frame: pl.DataFrame, raw: FloatArray) -> npt.NDArray[np.int64]:
    """``places`` as a query (lists keyed by a null)."""
    key = list_key(frame)
    ranked = (
        frame.select(*key, "p")
        .with_columns(pl.Series("_s", raw, dtype=pl.Float64), pl.int_range(pl.len()).alias("_i"))
        .sort([*key, "_s", "p"], descending=[False] * len(key) + [True, False])
        .with_columns((pl.int_range(pl.len()).over(key) + 1).alias("_place"))
        .sort("_i")
    )
    return ranked["_place"].to_numpy().astype(np.int64)


def band_of(place: npt.NDArray[np.int64], edges: tuple[int, ...]) -> npt.NDArray[np.int64]:
    """The band of each place: 0 for places up to ``edges[0]``, 1 up to ``edges[1]``, ...,
    ``len(edges)`` after the last edge."""
    return np.searchsorted(np.asarray(edges, dtype=np.int64), place, side="left").astype(np.int64)


def kept_edges(
    place: npt.NDArray[np.int64], edges: tuple[int, ...], min_rows: int
) -> tuple[int, ...]:
    """``edges`` without those that leave a band of fewer than ``min_rows`` rows (the band is
    merged into the one before it; the first band takes the next one in)."""
    kept = list(edges)
    changed = True
    while changed and kept:
        changed = False
        counts = np.bincount(band_of(place, tuple(kept)), minlength=len(kept) + 1)
        for i, count in enumerate(counts):
            if count < min_rows:
                del kept[max(0, i - 1)]  # band i joins band i - 1 (band 0 joins band 1)
                changed = True
                break
    return tuple(kept)


def _running_min(values: FloatArray, starts: np.ndarray) -> FloatArray:
    """The running minimum of ``values`` within each run that ``starts`` opens, NaN ignored
    after the run's first number (Polars' ``cum_min``)."""
    if len(values) == 0 or starts[1:].sum() == 0:
        return np.asarray(np.fmin.accumulate(values), dtype=np.float64)
    bounds = np.flatnonzero(starts)
    if np.isnan(values).any():
        ends = [*bounds[1:], len(values)]
        return np.concatenate(
            [np.fmin.accumulate(values[a:b]) for a, b in zip(bounds, ends, strict=True)]
        )
    # one pass: a run's values, as ranks, shifted below every earlier run's
    distinct, rank = np.unique(values, return_inverse=True)
    shift = (np.cumsum(starts) - 1) * len(distinct)
    return np.asarray(
        distinct[np.minimum.accumulate(rank.astype(np.int64) - shift) + shift], dtype=np.float64
    )


def monotone_down_lists(
    frame: pl.DataFrame, raw: FloatArray, probability: FloatArray
) -> FloatArray:
    """``probability`` capped, within each list, by the probability of every candidate ranked
    above it (the running minimum down the list)."""
    if frame.height == 0:
        return probability
    listed = _list_order(frame, raw)
    if listed is None:
        return _monotone_polars(frame, raw, probability)
    return _capped(*listed, probability)


def _capped(order: np.ndarray, starts: np.ndarray, probability: FloatArray) -> FloatArray:
    """``monotone_down_lists`` from ``_list_order``."""
    capped = np.empty(len(order), dtype=np.float64)
    capped[order] = _running_min(np.asarray(probability, dtype=np.float64)[order], starts)
    return capped


def _monotone_polars(frame: pl.DataFrame, raw: FloatArray, probability: FloatArray) -> FloatArray:
    """``monotone_down_lists`` as a query (lists keyed by a null)."""
    key = list_key(frame)
    capped = (
        frame.select(*key, "p")
        .with_columns(
            pl.Series("_s", raw, dtype=pl.Float64),
            pl.Series("_p", probability, dtype=pl.Float64),
            pl.int_range(pl.len()).alias("_i"),
        )
        .sort([*key, "_s", "p"], descending=[False] * len(key) + [True, False])
        .with_columns(pl.col("_p").cum_min().over(key))
        .sort("_i")
    )
    return capped["_p"].to_numpy().astype(np.float64)


@dataclass(frozen=True, slots=True)
class PlaceCalibration:
    """Isotonic maps from raw score to probability, one per band of places: ``edges`` are the
    last place of each band but the last (``()``: one map for every place)."""

    edges: tuple[int, ...]
    curves: tuple[Isotonic, ...]

    @classmethod
    def fit(
        cls,
        frame: pl.DataFrame,
        raw: FloatArray,
        outcome: FloatArray,
        edges: tuple[int, ...],
        min_rows: int,
    ) -> PlaceCalibration:
        """The maps of validation candidates ``frame`` (``p`` and ``ev`` or ``c, t``) scored
        ``raw`` with ``outcome`` (1 if ordered), bands with fewer than ``min_rows`` merged."""
        place = places(frame, raw)
        kept = kept_edges(place, edges, min_rows)
        band = band_of(place, kept)
        curves = tuple(
            Isotonic.fit(raw[band == i], outcome[band == i]) for i in range(len(kept) + 1)
        )
        return cls(kept, curves)

    def predict(self, frame: pl.DataFrame, raw: FloatArray) -> FloatArray:
        """Calibrated probabilities of candidates ``frame`` scored ``raw``: each by the map of
        its place's band, then capped down each list."""
        if frame.height == 0:
            return np.zeros(0)
        listed = _list_order(frame, raw)  # once for the places and the caps
        place = places(frame, raw) if listed is None else _places_of(*listed)
        band = band_of(place, self.edges)
        probability = np.zeros(len(raw), dtype=np.float64)
        for i, curve in enumerate(self.curves):
            chosen = band == i
            if chosen.any():
                probability[chosen] = curve.predict(raw[chosen])
        probability = np.clip(probability, 0.0, 1.0)
        if listed is None:
            return monotone_down_lists(frame, raw, probability)
        return _capped(*listed, probability)
