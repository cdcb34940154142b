"""Use cases of the engines on a compute backend (``--backend local|spark``).

The tables are read where they live (``Backend.read``: a local file, or any URL Spark reads)
and validated on the driver as the local commands validate them. ``next-orders`` scores the
targets bucket by bucket with ``orders.scoring.recommend_bucket`` and the fitted engine as
the shared artefact; ``train`` cuts and samples the history on the cluster and fits on the
driver, writing the same model folder the local ``train`` writes; ``evaluate`` fits each
cut-off's engine on the driver and scores its held-out targets bucket by bucket
(``orders.held_out.score_held_out_bucket``); ``coverage`` reads its tables on the backend
and runs on the driver (``services.coverage``).

Both scorings ship the engine split (``orders.split``): its shared part is broadcast, and each
bucket's customers' own rows (lines, candidates, neighbours) travel with the bucket as a
``compute.Scattered`` artefact, on every backend (a local one too, so that the contract
suite checks the split engine against the whole one).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import polars as pl
import pyarrow as pa

from salescope.compute import (
    BUCKET,
    Backend,
    Parts,
    Scattered,
    n_buckets,
    sample_customers,
    scatter_rows,
    with_buckets,
)
from salescope.coverage.params import CoverageConfig
from salescope.data.io import row_numbering, validate_frame
from salescope.domain.errors import FieldError, InputError, Issue
from salescope.domain.schemas import (
    CUSTOMERS,
    MARKET,
    OBJECTIVES,
    ORDERS,
    PRODUCTS,
    PROMOTIONS,
    REPS,
    TARGETS,
    VISITS,
    TableSchema,
)
from salescope.orders.held_out import (
    HELD_OUT_SCHEMA,
    HeldOutJob,
    HeldOutScorer,
    HeldOutScores,
    held_out_job,
    held_out_scores,
    score_held_out_bucket,
)
from salescope.orders.model import Acceptance, EngineParams, NextOrderModel
from salescope.orders.promotions import PromotionModel
from salescope.orders.scoring import (
    LINES_SCHEMA,
    TARGETS_SCHEMA,
    ScoringJob,
    recommend_bucket,
    sort_lines,
)
from salescope.progress import Progress, no_progress
from salescope.services.coverage import CoverageRequest, check_coverage
from salescope.services.orders import (
    EvaluateRequest,
    EvaluateResult,
    NextOrdersRequest,
    TrainRequest,
    check_evaluate,
    check_next_orders,
    check_train,
    do_evaluate,
    fit_next_orders,
)

_log = logging.getLogger("salescope.scaled")


def _validated(raw: pa.Table, location: str, schema: TableSchema, max_issues: int) -> pl.DataFrame:
    frame = pl.from_arrow(raw)
    assert isinstance(frame, pl.DataFrame)
    offset, label = row_numbering(location)
    try:
        return validate_frame(
            frame, schema, file=location, offset=offset, row_label=label, max_issues=max_issues
        )
    except pl.exceptions.PolarsError as error:
        raise InputError.single(
            location, f"cannot be read as the {schema.name} table: {error}"
        ) from error


def read_on(
    backend: Backend,
    files: list[tuple[str | None, TableSchema]],
    *,
    max_issues: int,
    before: dt.date | None = None,
    share: float | None = None,
) -> list[pl.DataFrame | None]:
    """The tables at these locations read by ``backend`` and validated (the problems of all
    of them reported together); the orders cut to ``before`` and the customers' sample
    ``share`` (on the cluster when the backend can, and again here)."""
    frames: list[pl.DataFrame | None] = []
    issues: list[Issue] = []
    total = 0
    for location, schema in files:
        if location is None:
            frames.append(None)
            continue
        try:
            if schema is ORDERS:
                raw = backend.read_orders(location, before=before, share=share)
                frame = _validated(raw, location, schema, max_issues)
                if before is not None:
                    frame = frame.filter(pl.col("order_date") < before)
                frames.append(sample_customers(frame, share))
            else:
                frames.append(_validated(backend.read(location), location, schema, max_issues))
        except InputError as error:
            frames.append(None)
            issues.extend(error.issues)
            total += error.total
    if issues:
        raise InputError(issues[:max_issues], total)
    return frames


def check_next_orders_on(
    backend: Backend,
    *,
    orders: str | None = None,
    model: NextOrderModel | None = None,
    products: str | None = None,
    customers: str | None = None,
    promotions: str | None = None,
    objectives: str | None = None,
    targets: str | None = None,
    as_of: dt.date | None = None,
    mode: str = "proposal",
    top: int | None = None,
    max_issues: int = 20,
) -> NextOrdersRequest:
    """``services.orders.check_next_orders`` on the tables read by ``backend`` from these
    locations (a ``FieldError`` names the request's field, as there)."""
    names = ("orders", "products", "customers", "promotions", "objectives", "targets")
    where = (orders, products, customers, promotions, objectives, targets)
    schemas = (ORDERS, PRODUCTS, CUSTOMERS, PROMOTIONS, OBJECTIVES, TARGETS)
    frames = read_on(backend, list(zip(where, schemas, strict=True)), max_issues=max_issues)
    return check_next_orders(
        **dict(zip(names, frames, strict=True)),
        model=model,
        as_of=as_of,
        mode=mode,
        top=top,
        sources={name: _local(at) for name, at in zip(names, where, strict=True)},
    )


def _local(location: str | None) -> str | None:
    """A location that names a local file (problems then name it and its lines), or None
    for a URL (they name the request's field, as for a frame given in memory)."""
    return None if location is None or "://" in location else location


def scoring_job(
    request: NextOrdersRequest,
    model: NextOrderModel,
    *,
    resting: pl.DataFrame | None = None,
    acceptance: Acceptance | None = None,
) -> tuple[ScoringJob, bool]:
    """What every bucket shares, and whether the targets must stay in one bucket: a
    promotion with a budget shares it among all customers, so its lines are chosen over all
    targets at once (correct, but on one worker)."""
    promotions = None
    shared_budget = False
    if request.promotions is not None and request.promotions.height and request.orders is not None:
        promotions = PromotionModel().fit(
            request.orders,
            request.promotions,
            products=request.products,
            customers=request.customers,
        )
        shared_budget = request.promotions["budget_uses"].is_not_null().any()
    job = ScoringJob(
        model,
        mode=request.mode,
        top=request.top,
        objectives=request.objectives,
        resting=resting,
        acceptance=acceptance,
        promotions=promotions,
    )
    return job, shared_budget


def do_next_orders_on(
    backend: Backend,
    request: NextOrdersRequest,
    out: str,
    *,
    params: EngineParams | None = None,
    model: NextOrderModel | None = None,
    resting: pl.DataFrame | None = None,
    acceptance: Acceptance | None = None,
    per_bucket: int | None = None,
    progress: Progress = no_progress,
) -> pl.DataFrame:
    """``services.orders.do_next_orders`` on ``backend``: the engine fitted on the driver
    (unless given or trained), the targets scored in buckets of ``per_bucket`` customers
    (the engine's ``customers_per_bucket`` by default; at least as many buckets as the
    backend runs at once) with the engine broadcast, the lines
    written to ``out`` (``.parquet``: Parquet, else CSV). Returns the lines."""
    if model is None:
        model = fit_next_orders(
            request, params=params, progress=lambda stage, f: progress(stage, 0.8 * f)
        )
    progress("predicting", 0.85)
    job, shared_budget = scoring_job(request, model, resting=resting, acceptance=acceptance)
    targets = request.targets.select(
        pl.col("customer_id").cast(pl.String), pl.col("order_date").cast(pl.Date)
    )
    size = per_bucket or model.params_.customers_per_bucket
    buckets = n_buckets(targets["customer_id"].n_unique(), size, backend.parallelism)
    if shared_budget and buckets > 1:
        _log.warning(
            "promotions with a budget are shared by all customers: the %s targets are scored "
            "in one bucket (one worker)",
            f"{targets.height:,}",
        )
        buckets = 1
    table = with_buckets(targets, "customer_id", buckets).to_arrow()
    table = table.cast(pa.schema([*TARGETS_SCHEMA, table.schema.field("_bucket")]))
    # targets dated inside the history: every bucket's at the anchors of all of them
    job = dataclasses.replace(job, anchors=model.anchors(targets))
    work = scattered(job, table)
    lines = pl.from_arrow(backend.map_buckets(table, recommend_bucket, work, LINES_SCHEMA))
    assert isinstance(lines, pl.DataFrame)
    lines = sort_lines(lines)
    progress("writing", 0.97)
    backend.write(lines.to_arrow(), out, "parquet" if out.endswith(".parquet") else "csv")
    progress("done", 1.0)
    return lines


Job = TypeVar("Job", ScoringJob, HeldOutJob)


def scattered(job: Job, table: pa.Table) -> Scattered[Job]:
    """``job`` with its engine split (``orders.split``): the engine without per-customer rows
    (the job's ``anchors``' snapshots built first) to broadcast, and the rows of the customers
    of each bucket of ``table`` (targets with ``BUCKET``) to ship with it."""
    model = job.model
    shared, rows = model.split(job.anchors or ())
    frame = pl.from_arrow(table.select(["customer_id", BUCKET]))
    assert isinstance(frame, pl.DataFrame)
    owner = rows["customers"].join(  # the engine's codes (a planned engine's: its rows')
        frame.select(pl.col("customer_id").cast(pl.String), BUCKET).unique("customer_id"),
        on="customer_id",
    )
    return Scattered(
        dataclasses.replace(job, model=shared), scatter_rows(rows, owner, "c"), join_job
    )


def join_job(job: Job, parts: Parts) -> Job:
    """The job of one bucket: its shared engine given the bucket's customers' rows."""
    return dataclasses.replace(job, model=job.model.for_customers(parts))


def check_share(sample: float | None) -> None:
    """Refuse a customer sample that is not a share in (0, 1] (before a backend is opened)."""
    if sample is not None and not 0.0 < sample <= 1.0:
        raise FieldError("must be a share in (0, 1]", "sample", value=str(sample))


def check_train_on(
    backend: Backend,
    *,
    orders: str,
    products: str | None = None,
    customers: str | None = None,
    as_of: dt.date | None = None,
    sample: float | None = None,
    max_issues: int = 20,
) -> TrainRequest:
    """``services.orders.check_train`` on the tables read by ``backend``; the history cut to
    the lines before ``as_of`` and to a ``sample`` share of the customers where it lies."""
    check_share(sample)
    history, product_frame, customer_frame = read_on(
        backend,
        [(orders, ORDERS), (products, PRODUCTS), (customers, CUSTOMERS)],
        max_issues=max_issues,
        before=as_of,
        share=sample,
    )
    assert history is not None
    request = check_train(
        orders=history,
        products=product_frame,
        customers=customer_frame,
        as_of=as_of,
        sources={"orders": orders, "products": products, "customers": customers},
    )
    if sample is not None:
        request.files["customer_sample"] = f"{sample:g}"
    return request


def check_evaluate_on(
    backend: Backend,
    *,
    orders: str,
    products: str | None = None,
    customers: str | None = None,
    cutoffs: Sequence[dt.date] = (),
    protocol: str = "cutoffs",
    max_issues: int = 20,
) -> EvaluateRequest:
    """``services.orders.check_evaluate`` on the tables read by ``backend`` (the whole
    history: a backtest holds out orders after its cut-offs)."""
    history, product_frame, customer_frame = read_on(
        backend,
        [(orders, ORDERS), (products, PRODUCTS), (customers, CUSTOMERS)],
        max_issues=max_issues,
    )
    assert history is not None
    return check_evaluate(
        orders=history,
        cutoffs=cutoffs,
        protocol=protocol,
        products=product_frame,
        customers=customer_frame,
    )


def bucket_scorer(backend: Backend, per_bucket: int | None = None) -> HeldOutScorer:
    """A backtest's scoring of held-out targets on ``backend``: the targets split into
    buckets of ``per_bucket`` customers (the engine's ``customers_per_bucket`` by default; at
    least as many buckets as the backend runs at once), each scored by
    ``score_held_out_bucket`` with the fitted engine and the anchors of all the targets
    broadcast; the same lists as one call (``orders.held_out.score_held_out``)."""

    def score(model: NextOrderModel, targets: pl.DataFrame) -> HeldOutScores:
        job = held_out_job(model, targets)
        frame = targets.select(
            pl.col("customer_id").cast(pl.String), pl.col("order_date").cast(pl.Date)
        )
        size = per_bucket or model.params_.customers_per_bucket
        buckets = n_buckets(frame["customer_id"].n_unique(), size, backend.parallelism)
        table = with_buckets(frame, "customer_id", buckets).to_arrow()
        table = table.cast(pa.schema([*TARGETS_SCHEMA, table.schema.field("_bucket")]))
        work = scattered(job, table)
        return held_out_scores(
            backend.map_buckets(table, score_held_out_bucket, work, HELD_OUT_SCHEMA)
        )

    return score


def do_evaluate_on(
    backend: Backend,
    request: EvaluateRequest,
    out_dir: Path,
    *,
    params: EngineParams | None = None,
    per_bucket: int | None = None,
    progress: Progress = no_progress,
) -> EvaluateResult:
    """``services.orders.do_evaluate`` with the held-out targets of each cut-off scored on
    ``backend`` (``bucket_scorer``); the fits, the baselines and the metrics on the driver.
    Writes the same report, table and plot to ``out_dir``."""
    return do_evaluate(
        request,
        out_dir,
        params=params,
        score=bucket_scorer(backend, per_bucket),
        progress=progress,
    )


def check_coverage_on(
    backend: Backend,
    *,
    customers: str,
    orders: str,
    reps: str,
    products: str | None = None,
    market: str | None = None,
    visits: str | None = None,
    config: CoverageConfig | None = None,
    as_of: dt.date | None = None,
    max_issues: int = 20,
) -> CoverageRequest:
    """``services.coverage.check_coverage`` on the tables read by ``backend`` (then
    ``services.coverage.do_coverage`` runs on the driver: its engine needs every line)."""
    names = ("customers", "orders", "reps", "products", "market", "visits")
    where = (customers, orders, reps, products, market, visits)
    schemas = (CUSTOMERS, ORDERS, REPS, PRODUCTS, MARKET, VISITS)
    frames = dict(
        zip(
            names,
            read_on(backend, list(zip(where, schemas, strict=True)), max_issues=max_issues),
            strict=True,
        )
    )
    shops, lines, team = frames["customers"], frames["orders"], frames["reps"]
    assert shops is not None and lines is not None and team is not None
    return check_coverage(
        customers=shops,
        orders=lines,
        reps=team,
        products=frames["products"],
        market=frames["market"],
        visits=frames["visits"],
        config=config,
        as_of=as_of,
        sources={name: _local(at) for name, at in zip(names, where, strict=True)},
        max_issues=max_issues,
    )
