"""The novelty candidates that could be shown, before the lines are built for them.

Before any feedback (no ``acceptance``) and without promotions, a development line comes only
from a pair of the customer's development table among its scored candidates, and an
extension or objective line only from an offerable product whose share of similar shops
reaches the model's bar (``offers.novelty_lines``). ``shortlist`` keeps those rows, with
NumPy, so the lines are built for a handful of rows, not for every candidate; when none is
left, the answer is the empty frame of novelty lines, made once per model and input schema
(``nothing_shown``) — a one-customer request then pays for no query at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from salescope.orders.model import NextOrderModel


def _pairs(frame: pl.DataFrame, n_products: int) -> np.ndarray:
    """One int64 per ``c, p`` row."""
    c = frame["c"].to_numpy().astype(np.int64)
    p = frame["p"].to_numpy().astype(np.int64)
    pairs: np.ndarray = c * n_products + p
    return pairs


def _shares(novelties: pl.DataFrame) -> np.ndarray | None:
    """``novelties.similar_share`` of each row (nulls as 0), or None when a share is NaN
    (Polars and NumPy order NaN differently: those rows are left to Polars)."""
    columns = []
    for name in ("nb_share", "seg_share"):
        if name not in novelties.columns:
            columns.append(np.zeros(novelties.height))
            continue
        column = novelties[name]
        values = column.to_numpy().astype(np.float64)  # nulls as NaN
        nan = np.isnan(values)
        if int(nan.sum()) != column.null_count():
            return None  # a NaN, not a null
        columns.append(np.where(nan, 0.0, values))
    nb, seg = columns
    return np.where(nb > 0, nb, seg)


def shortlist(
    model: NextOrderModel, scored: pl.DataFrame, novelties: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The rows of ``scored`` that are development pairs of their customer, and of
    ``novelties`` that are offerable with a similar-shop share at the model's bar: the only
    rows a proposal without feedback or promotions can show."""
    n = model.codes_.n_products
    if scored.height:
        development = model.rows_of("development_", scored["c"])
        keep = np.isin(_pairs(scored, n), _pairs(development, n))
        scored = scored.filter(pl.Series(keep)) if keep.any() else scored.clear()
    shares = _shares(novelties) if novelties.height else None
    if shares is not None:
        offerable = model.context_.products["offerable"].to_numpy()
        codes = novelties["p"].to_numpy().astype(np.int64)
        known = codes < len(offerable)
        keep = (shares >= model.share_bar_) & known
        keep[known] &= offerable[codes[known]]
        novelties = novelties.filter(pl.Series(keep)) if keep.any() else novelties.clear()
    return scored, novelties


def nothing_shown(
    model: NextOrderModel,
    scored: pl.DataFrame,
    novelties: pl.DataFrame,
    build: Callable[[pl.DataFrame, pl.DataFrame], pl.DataFrame],
) -> pl.DataFrame:
    """The novelty lines of no candidate: ``build`` (the lines of ``scored`` and
    ``novelties``) of their empty frames, kept on ``model`` while its codes, context and
    the inputs' schemas are the same."""
    key = (scored.schema, novelties.schema)
    kept = model.__dict__.get("_nothing_shown")
    if (
        kept is None
        or kept[0] != key
        or kept[1] is not model.codes_
        or kept[2] is not model.context_
    ):
        empty = build(scored.clear(), novelties.clear())
        kept = model.__dict__["_nothing_shown"] = (key, model.codes_, model.context_, empty)
    frame: pl.DataFrame = kept[3]
    return frame
