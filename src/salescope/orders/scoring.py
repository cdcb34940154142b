"""The per-bucket scoring kernel of ``next-orders``: one bucket of targets, one fitted engine.

``recommend_bucket(job, bucket)`` is a plain function of a bucket of targets (``customer_id,
order_date`` as Arrow) and a ``ScoringJob`` (the fitted engine and the run's options, shared by
every bucket). A customer's proposal depends only on its own lines and the engine's fitted
artefacts, so the lines of the buckets, put together, are the lines of one call over every
target; the compute backends (``salescope.compute``) run it in this process, on a process
pool or on Spark workers, and it does not know which.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa

from salescope.orders.builder import OrderMode
from salescope.orders.novelties import Promoter, promote_with
from salescope.orders.offers import Acceptance

if TYPE_CHECKING:
    from salescope.orders.model import NextOrderModel

LINES_SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("rank", pa.int64()),
        ("product_id", pa.string()),
        ("kind", pa.string()),
        ("probability", pa.float64()),
        ("quantity", pa.float64()),
        ("promotion_id", pa.string()),
        ("reason", pa.string()),
        ("order_date", pa.date32()),
        ("model_probability", pa.float64()),
        ("lapsed", pa.bool_()),
    ]
)
"""The lines ``NextOrderModel.recommend`` writes (``orders.builder.OUTPUT_COLUMNS``)."""

TARGETS_SCHEMA = pa.schema([("customer_id", pa.string()), ("order_date", pa.date32())])


@dataclass(frozen=True, slots=True)
class ScoringJob:
    """What every bucket of one ``next-orders`` run shares (broadcast once per worker).

    ``acceptance`` must be picklable (a fitted calibrator's bound ``apply``);
    ``promotions`` is the fitted promotions model, wrapped by ``promote_with`` in the worker;
    ``anchors``: the anchors of all the run's targets (``NextOrderModel.anchors``), so that a
    target dated inside the history is scored as in one call (None: each bucket's own).
    """

    model: NextOrderModel
    mode: OrderMode = "proposal"
    top: int | None = None
    objectives: pl.DataFrame | None = None
    resting: pl.DataFrame | None = None
    acceptance: Acceptance | None = None
    promotions: Promoter | None = None
    anchors: list[dt.date] | None = None


def bucket_targets(bucket: pa.Table) -> pl.DataFrame:
    """A bucket's targets as the engine takes them: ``customer_id`` (text), ``order_date``."""
    frame = pl.from_arrow(bucket)
    assert isinstance(frame, pl.DataFrame)
    return frame.select(pl.col("customer_id").cast(pl.String), pl.col("order_date").cast(pl.Date))


def recommend_bucket(job: ScoringJob, bucket: pa.Table) -> pa.Table:
    """The lines of one bucket of targets (``customer_id, order_date``), as ``LINES_SCHEMA``."""
    targets = bucket_targets(bucket)
    if targets.height == 0:
        return LINES_SCHEMA.empty_table()
    model = job.model
    lines = model.recommend(
        model.prepare(targets, job.objectives, anchors=job.anchors),
        mode=job.mode,
        top=job.top,
        objectives=job.objectives,
        resting=job.resting,
        acceptance=job.acceptance,
        promote=promote_with(job.promotions) if job.promotions is not None else None,
    )
    return lines.select(LINES_SCHEMA.names).to_arrow().cast(LINES_SCHEMA)


def sort_lines(lines: pl.DataFrame) -> pl.DataFrame:
    """Lines in the order every backend writes them: by customer, date and rank."""
    return lines.sort("customer_id", "order_date", "rank")
