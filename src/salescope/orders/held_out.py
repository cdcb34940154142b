"""The engine's scoring of a backtest's held-out targets, as a per-bucket kernel.

A backtest (``orders.evaluation``) fits the engine once per cut-off and then scores every
target customer three ways: the rank-mode list (top 20), the proposal, and the range-extension
list (top 10 products never bought). A customer's lines depend only on its own history, the
fitted engine and the snapshots it is scored with; targets dated inside the history (the
last-order protocol) are scored with snapshots at anchors spread over *all* targets' dates,
so the anchors are computed once over every target (``NextOrderModel.anchors``) and pinned in
the ``HeldOutJob`` every bucket shares. With them pinned, the buckets' lines, put together,
are the lines of one call over every target; ``held_out_scores`` puts them in one order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa

from salescope.orders.scoring import LINES_SCHEMA, bucket_targets, sort_lines

if TYPE_CHECKING:
    from salescope.orders.model import NextOrderModel

RANKED, PROPOSAL, UNSEEN = "ranked", "proposal", "unseen"
HELD_OUT_SCHEMA = pa.schema([("part", pa.string()), *LINES_SCHEMA])
"""The kernel's output: the lines of the three lists, told apart by ``part`` (the unseen
list fills ``customer_id, product_id, rank, probability``)."""
UNSEEN_COLUMNS = ("customer_id", "product_id", "rank", "probability")


@dataclass(frozen=True, slots=True)
class HeldOutJob:
    """What every bucket of one cut-off's scoring shares: the fitted engine, the anchors of
    all the targets, and the lengths of the lists."""

    model: NextOrderModel
    anchors: list[dt.date]
    top: int = 20
    unseen: int = 10


@dataclass(frozen=True, slots=True)
class HeldOutScores:
    """The engine's three lists for the held-out targets, in a canonical order (customer,
    date, rank)."""

    ranked: pl.DataFrame
    proposal: pl.DataFrame
    unseen: pl.DataFrame


HeldOutScorer = Callable[["NextOrderModel", pl.DataFrame], HeldOutScores]
"""Scores held-out targets (``customer_id, order_date``) with a fitted engine: in one call
(``score_held_out``) or bucket by bucket on a backend (``services.scaled``)."""


def held_out_job(model: NextOrderModel, targets: pl.DataFrame) -> HeldOutJob:
    """The job of scoring ``targets`` (``customer_id, order_date``) with ``model``: the
    anchors of all of them pinned."""
    return HeldOutJob(model, model.anchors(targets))


def score_held_out_bucket(job: HeldOutJob, bucket: pa.Table) -> pa.Table:
    """The three lists of one bucket of targets (``customer_id, order_date``), as
    ``HELD_OUT_SCHEMA``."""
    targets = bucket_targets(bucket)
    if targets.height == 0:
        return HELD_OUT_SCHEMA.empty_table()
    model = job.model
    ready = model.prepare(targets, anchors=job.anchors)
    names = LINES_SCHEMA.names
    parts = [
        model.recommend(ready, mode="rank", top=job.top).select(names),
        model.recommend(ready, mode="proposal").select(names),
        model.unseen_ranking(ready, job.unseen).select(UNSEEN_COLUMNS),
    ]
    lines = pl.concat(
        [
            part.with_columns(pl.lit(name).alias("part"))
            for name, part in zip((RANKED, PROPOSAL, UNSEEN), parts, strict=True)
        ],
        how="diagonal_relaxed",
    )
    return lines.select(HELD_OUT_SCHEMA.names).to_arrow().cast(HELD_OUT_SCHEMA)


def held_out_scores(table: pa.Table) -> HeldOutScores:
    """The three lists of the gathered output of ``score_held_out_bucket`` (one bucket or
    many), each in the order every backend gives: by customer, date and rank."""
    frame = pl.from_arrow(table.cast(HELD_OUT_SCHEMA))
    assert isinstance(frame, pl.DataFrame)

    def part(name: str) -> pl.DataFrame:
        return frame.filter(pl.col("part") == name).drop("part")

    return HeldOutScores(
        ranked=sort_lines(part(RANKED)),
        proposal=sort_lines(part(PROPOSAL)),
        unseen=part(UNSEEN).select(UNSEEN_COLUMNS).sort("customer_id", "rank", "product_id"),
    )


def score_held_out(model: NextOrderModel, targets: pl.DataFrame) -> HeldOutScores:
    """The three lists of ``targets`` (``customer_id, order_date``) in one call, on the
    driver (the local backtest)."""
    job = held_out_job(model, targets)
    return held_out_scores(score_held_out_bucket(job, targets.to_arrow()))
