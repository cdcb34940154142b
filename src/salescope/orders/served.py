"""Candidate rows kept per customer for targets after the history: fit once, serve many.

A target dated on or after the model's cut-off is scored with the final snapshot and the
customer's own lines within the look-back of its last line — the same lines whatever the
date. So every customer's candidates and what the history alone says of them
(``features.undated_candidates``: the pair's, the customer's, the product's and the
neighbours' evidence; the repeat and neighbour candidates, and the extension candidates the
snapshot adds) are built once, for all customers together, the first time such a target is
scored (``NextOrderModel.warm``); a request then slices its customers' rows and adds what
depends on its date (``features.dated_candidates``). The rows are those a request would
build for itself, so the lines are the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from salescope.orders.examples import own_window
from salescope.orders.features import (
    SMALL_FRAME,
    dated_candidates,
    own_history,
    plain_candidates,
    undated_candidates,
)
from salescope.orders.history import rows_of
from salescope.orders.snapshot import Snapshot

if TYPE_CHECKING:
    from salescope.orders.model import NextOrderModel


RANKS = ("tifu", "tifu_rank", "freq_rank")
"""The columns ``NextOrderModel._ranked`` adds over a customer's candidates."""


@dataclass(frozen=True, slots=True)
class Standing:
    """The undated candidate rows of every customer at the final snapshot, sorted by
    customer: ``main`` (repeat and neighbour candidates) and ``extra`` (the snapshot's
    extension candidates the customer lacks)."""

    snapshot: Snapshot
    main: pl.DataFrame
    extra: pl.DataFrame
    _main_c: np.ndarray = field(init=False, repr=False)
    _extra_c: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_main_c", self.main["c"].to_numpy().astype(np.int64))
        object.__setattr__(self, "_extra_c", self.extra["c"].to_numpy().astype(np.int64))

    def rows(
        self, targets: pl.DataFrame, *, extra: bool = False, request: Request | None = None
    ) -> pl.DataFrame:
        """The candidates of ``targets`` (``c, t``, one per customer) at their dates;
        ``request``: the request's ``Request``, which keeps both kinds of rows of its
        targets, dated together by the first call, for the second."""
        if request is not None:
            return request.dated(self, targets)[1 if extra else 0]
        frame, index = (self.extra, self._extra_c) if extra else (self.main, self._main_c)
        mine = rows_of(frame, index, targets["c"])
        return dated_candidates(mine, _dates(targets), self.snapshot.products)

    def both(self, targets: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """``rows`` of ``targets``, main and extra: with one ``dated_candidates`` over both
        when they are small and of the same columns (its arithmetic is row by row, so each
        part is what ``rows`` gives), else one each."""
        main = rows_of(self.main, self._main_c, targets["c"])
        extra = rows_of(self.extra, self._extra_c, targets["c"])
        dates, products = _dates(targets), self.snapshot.products
        if (
            main.height
            and extra.height
            and main.height + extra.height <= SMALL_FRAME
            and main.schema == extra.schema
            and plain_candidates(main)
            and plain_candidates(extra)
        ):
            dated = dated_candidates(pl.concat([main, extra]), dates, products)
            return dated.slice(0, main.height), dated.slice(main.height)
        return dated_candidates(main, dates, products), dated_candidates(extra, dates, products)

    def extension_rows(
        self,
        targets: pl.DataFrame,
        built: pl.DataFrame | None,
        request: Request | None = None,
    ) -> pl.DataFrame:
        """The kept extension candidates of ``targets`` at their dates, and ``built``: the
        candidates of other pairs (the objectives'), built for the request; not ranked."""
        rows = self.rows(targets, extra=True, request=request)
        if built is None:
            return rows
        return pl.concat([rows, built.drop(RANKS, strict=False)], how="diagonal_relaxed")


def _dates(targets: pl.DataFrame) -> pl.DataFrame:
    return targets if targets.columns == ["c", "t"] else targets.select("c", "t")


class Request:
    """What one request (``NextOrderModel.prepare``) computes once for its two scorings:
    the kept rows of its targets at their dates, main (the candidates) and extra (the
    novelties), both dated by the first that asks (``Standing.both``). Made per request,
    never shared: it holds the last targets asked for, and other targets or another
    ``Standing`` are dated again."""

    __slots__ = ("_kept",)

    def __init__(self) -> None:
        self._kept: tuple[Standing, pl.DataFrame, tuple[pl.DataFrame, pl.DataFrame]] | None
        self._kept = None

    def dated(self, kept: Standing, targets: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """``kept.both(targets)``, from the request when it already holds them."""
        held = self._kept
        if held is not None and held[0] is kept and (held[1] is targets or held[1].equals(targets)):
            return held[2]
        both = kept.both(targets)
        self._kept = (kept, targets, both)
        return both


def standing(model: NextOrderModel, snap: Snapshot) -> Standing:
    """Build the kept rows of every customer of ``model`` at its final snapshot ``snap``, in
    buckets of ``customers_per_bucket`` customers as a request's candidates are built."""
    p = model.params_
    own = own_window(model.lines_, p.lookback_days)
    customers = own.select(pl.col("c").unique().sort())
    n_buckets = max(1, -(-customers.height // p.customers_per_bucket))
    main: list[pl.DataFrame] = []
    extra: list[pl.DataFrame] = []
    for bucket in range(n_buckets):
        in_bucket = pl.col("c") % n_buckets == bucket
        mine = customers.filter(in_bucket)
        lines = own_history(own.filter(in_bucket), snap.products, model.first_order_, model.tifu_)
        for repeat, parts, of in ((True, main, snap.neighbour_of), (False, extra, snap.extra_of)):
            parts.append(
                undated_candidates(
                    lines,
                    mine,
                    snap.products,
                    of(mine["c"]),
                    model.first_order_,
                    max_repeat=p.max_repeat,
                    repeat=repeat,
                    tifu=model.tifu_,
                )
            )
    return Standing(
        snap,
        pl.concat(main, how="diagonal_relaxed").sort("c", "p"),
        pl.concat(extra, how="diagonal_relaxed").sort("c", "p"),
    )


def offered(model: NextOrderModel) -> tuple[pl.Series, pl.DataFrame]:
    """The products the catalogue offers (own and active: ``p``) and the most ordered of them
    (``fallback_``, best first), kept on ``model`` while its catalogue is the same."""
    products = model.context_.products
    kept = model.__dict__.get("_offered")
    if kept is None or kept[0] is not products:
        ids = products.filter(pl.col("offerable"))["p"]
        popular = model.fallback_.filter(pl.col("p").is_in(ids.implode()))
        kept = model.__dict__["_offered"] = (products, ids, popular)
    return kept[1], kept[2]
