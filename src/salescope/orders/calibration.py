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


def places(frame: pl.DataFrame, raw: FloatArray) -> npt.NDArray[np.int64]:
    """Each candidate's place (1 = first) among its list's candidates (``list_key``) by
    ``raw`` score, highest first, ties by product code — the order the lists are written in."""
    if frame.height == 0:
        return np.zeros(0, dtype=np.int64)
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


def monotone_down_lists(
    frame: pl.DataFrame, raw: FloatArray, probability: FloatArray
) -> FloatArray:
    """``probability`` capped, within each list, by the probability of every candidate ranked
    above it (the running minimum down the list)."""
    if frame.height == 0:
        return probability
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
        band = band_of(places(frame, raw), self.edges)
        probability = np.zeros(len(raw), dtype=np.float64)
        for i, curve in enumerate(self.curves):
            chosen = band == i
            if chosen.any():
                probability[chosen] = curve.predict(raw[chosen])
        return monotone_down_lists(frame, raw, np.clip(probability, 0.0, 1.0))
