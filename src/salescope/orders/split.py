"""A fitted engine in two parts: what every customer needs, and each customer's own rows.

Most of a fitted ``NextOrderModel`` is one customer's business only: its lines, its standing
candidates (the snapshot's neighbour and never-bought pairs), its neighbour list, its category
and brand shares. ``split_engine`` takes those out, keyed by customer code ``c``
(``CustomerRows``), and leaves the *shared* engine: the same object with those frames empty
and what every customer needs — the product statistics, the customers' TIFU vectors and the
item similarities (a target's objectives are scored from its neighbours' vectors), the nearby
shops and who bought what (the nearby shops' share), the context of the products, the
ranker, the quantity and adoption models. ``engine_of(shared, rows)`` is the engine of the
customers whose rows are given: it scores them exactly as the whole engine does.

What depends on every customer is computed before the split, on the whole engine: the
snapshots of targets dated inside the history (product statistics and evidence at an anchor
date come from every customer's lines), at the anchors pinned for all the targets
(``NextOrderModel.anchors``). A split engine scores inside the history only at those anchors
(and says so otherwise); the kept candidate rows (``NextOrderModel.warm``) and the other
caches are built again, for its own customers, by the engine that scores them.

The split is in memory: the model folder stays as it is.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from salescope.orders.examples import snapshot_lines
from salescope.orders.history import Codes
from salescope.orders.snapshot import Snapshot

if TYPE_CHECKING:
    from salescope.orders.model import NextOrderModel

CustomerRows = dict[str, pl.DataFrame]
"""Per-customer tables of an engine by name, each with the customer code ``c``."""

PINNED = "_pinned_snapshots"
"""Where a split engine keeps its snapshots inside the history, by anchor date."""
_NEIGHBOURS = "neighbours"
FRESH_PLAN = "_fresh_plan"
"""Where the shared engine of customers scored from the orders keeps its plan
(``orders.fresh``)."""


def _at(name: str, anchor: dt.date) -> str:
    return f"{name}@{anchor.isoformat()}"


def split_engine(
    model: NextOrderModel, anchors: Sequence[dt.date] = ()
) -> tuple[NextOrderModel, CustomerRows]:
    """``model`` as (the shared engine, its per-customer tables keyed by ``c``); ``anchors``:
    the dates inside the history its targets will be scored at (``NextOrderModel.anchors``),
    whose snapshots are built now, from every customer's lines."""
    snap = model.snapshot_
    rows: CustomerRows = {
        "lines": model.lines_,
        "first_order": model.first_order_,
        "customers": model.codes_.customers,
        "context_customers": model.context_.customers,
        "development": model.development_,
        "neighbour": snap.neighbour,
        "extra": snap.extra,
        _NEIGHBOURS: pl.DataFrame(
            {
                "c": pl.Series(snap.active, dtype=pl.UInt32),
                _NEIGHBOURS: pl.Series(np.asarray(snap.neighbours, dtype=np.int64)),
            }
        ),
        "categories": snap.evidence.categories,
        "brands": snap.evidence.brands,
    }
    pinned: dict[dt.date, Snapshot] = {}
    for anchor in sorted(set(anchors)):
        inside = model._cached_snapshot(anchor)
        rows[_at("categories", anchor)] = inside.evidence.categories
        rows[_at("brands", anchor)] = inside.evidence.brands
        pinned[anchor] = _without_rows(inside)
    shared = copy.copy(model)
    state = {
        key: value
        for key, value in model.__dict__.items()
        if not key.startswith("_") and key != "training_data_"  # caches and training rows
    }
    state.update(
        lines_=model.lines_.clear(),
        line_index_=np.empty(0, dtype=np.int64),
        bought_=model.bought_.clear(),
        first_order_=model.first_order_.clear(),
        codes_=Codes(model.codes_.customers.clear(), model.codes_.products),
        context_=dataclasses.replace(model.context_, customers=model.context_.customers.clear()),
        development_=model.development_.clear(),
        snapshot_=_without_rows(snap),
    )
    state[PINNED] = pinned
    shared.__dict__ = state
    return shared, rows


def _without_rows(snap: Snapshot) -> Snapshot:
    """``snap`` without its per-customer rows (window, candidates, neighbours, shares)."""
    evidence = snap.evidence
    return Snapshot(
        snap.cutoff,
        snap.window.clear(),
        snap.products,
        snap.neighbour.clear(),
        snap.extra.clear(),
        snap.matrix,
        snap.neighbours[:0],
        snap.active[:0],
        snap.items,
        dataclasses.replace(
            evidence, categories=evidence.categories.clear(), brands=evidence.brands.clear()
        ),
    )


def engine_of(shared: NextOrderModel, rows: Mapping[str, pl.DataFrame]) -> NextOrderModel:
    """The engine of the customers whose per-customer tables (``split_engine``, cut to them)
    are ``rows`` (a table they have no rows of may be absent), on ``shared``."""
    pinned: dict[dt.date, Snapshot] = shared.__dict__.get(PINNED, {})
    if PINNED not in shared.__dict__:
        raise ValueError("engine_of needs the shared part of split_engine")

    def mine(name: str, empty: pl.DataFrame) -> pl.DataFrame:
        frame = rows.get(name)
        return empty if frame is None else frame.sort("c", maintain_order=True)

    matrix = None
    if FRESH_PLAN in shared.__dict__:  # customers scored from the orders: their tables now
        from salescope.orders.fresh import fresh_tables

        rows, matrix = fresh_tables(shared, rows)
    model = copy.copy(shared)
    model.__dict__ = {k: v for k, v in shared.__dict__.items() if not k.startswith("_")}
    p = model.params_
    lines = mine("lines", shared.lines_)
    model.lines_ = lines
    model.line_index_ = lines["c"].to_numpy().astype(np.int64)
    model.bought_ = lines.select("c", "p").unique().sort("c", "p")
    model.first_order_ = mine("first_order", shared.first_order_)
    model.codes_ = Codes(mine("customers", shared.codes_.customers), shared.codes_.products)
    model.context_ = dataclasses.replace(
        shared.context_, customers=mine("context_customers", shared.context_.customers)
    )
    model.development_ = mine("development", shared.development_)
    final = shared.snapshot_
    k = final.neighbours.shape[1] if final.neighbours.ndim == 2 else 0
    table = rows.get(_NEIGHBOURS)
    if table is None or table.height == 0:
        active, neighbours = final.active[:0], final.neighbours[:0]
    else:
        table = table.sort("c")
        active = table["c"].to_numpy().astype(final.active.dtype)
        neighbours = table[_NEIGHBOURS].to_numpy().astype(np.int64).reshape(-1, k)
    snap = _with_rows(final, final, rows, lines, p.lookback_days, active, neighbours, None)
    if matrix is not None:  # the vectors: the model's rows, then those of the orders' customers
        snap = dataclasses.replace(snap, matrix=matrix)
    model.snapshot_ = snap
    model.__dict__[PINNED] = {
        anchor: _with_rows(inside, snap, rows, lines, p.lookback_days, active, neighbours, anchor)
        for anchor, inside in pinned.items()
    }
    return model


def _with_rows(
    snap: Snapshot,
    final: Snapshot,
    rows: Mapping[str, pl.DataFrame],
    lines: pl.DataFrame,
    lookback_days: int,
    active: np.ndarray,
    neighbours: np.ndarray,
    anchor: dt.date | None,
) -> Snapshot:
    """``snap`` (shared) with the customers' rows: the final snapshot's candidates and
    neighbours (an inside snapshot uses the final one's, as ``_inside_snapshot`` does), and
    the category and brand shares of ``snap``'s date."""
    evidence = snap.evidence

    def shares(name: str, empty: pl.DataFrame) -> pl.DataFrame:
        frame = rows.get(name if anchor is None else _at(name, anchor))
        return empty if frame is None else frame

    neighbour, extra = final.neighbour, final.extra
    if anchor is None:
        neighbour = rows.get("neighbour", final.neighbour)
        extra = rows.get("extra", final.extra)
    return Snapshot(
        snap.cutoff,
        snapshot_lines(lines, snap.cutoff, lookback_days),
        snap.products,
        neighbour,
        extra,
        snap.matrix,
        neighbours,
        active,
        snap.items,
        dataclasses.replace(
            evidence,
            categories=shares("categories", evidence.categories),
            brands=shares("brands", evidence.brands),
        ),
    )
