"""Use cases of the engines on a compute backend (``--backend local|spark``).

The tables are read where they live (``Backend.read``: a local file, or any URL Spark reads)
and validated on the driver as the local commands validate them. ``next-orders`` scores the
targets bucket by bucket with ``orders.scoring.recommend_bucket`` and the fitted engine as
the shared artefact; ``train`` cuts and samples the history on the cluster and fits on the
driver, writing the same model folder the local ``train`` writes.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import polars as pl
import pyarrow as pa

from salescope.compute import Backend, n_buckets, sample_customers, with_buckets
from salescope.data.io import row_numbering, validate_frame
from salescope.domain.errors import InputError, Issue
from salescope.domain.schemas import (
    CUSTOMERS,
    OBJECTIVES,
    ORDERS,
    PRODUCTS,
    PROMOTIONS,
    TARGETS,
    TableSchema,
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
from salescope.services.inputs import parse_date_option
from salescope.services.orders import (
    NextOrdersInput,
    TrainInput,
    check_sources,
    fit_next_orders,
    load_trained,
    next_orders_input,
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
    model: Path | None = None,
    products: str | None = None,
    customers: str | None = None,
    promotions: str | None = None,
    objectives: str | None = None,
    targets: str | None = None,
    as_of: str | None = None,
    mode: str = "proposal",
    top: int | None = None,
    max_issues: int = 20,
) -> NextOrdersInput:
    """``services.orders.check_next_orders`` with the tables read by ``backend``."""
    check_sources(
        orders=orders is not None,
        model=model is not None,
        promotions=promotions is not None,
        mode=mode,
        top=top,
    )
    as_of_date = parse_date_option(as_of, "--as-of")
    trained = load_trained(model) if model is not None else None
    frames = read_on(
        backend,
        [
            (orders, ORDERS),
            (products, PRODUCTS),
            (customers, CUSTOMERS),
            (promotions, PROMOTIONS),
            (objectives, OBJECTIVES),
            (targets, TARGETS),
        ],
        max_issues=max_issues,
    )
    return next_orders_input(
        frames,
        orders=orders,
        orders_path=None if orders is None or "://" in orders else Path(orders),
        products=products,
        customers=customers,
        trained=trained,
        as_of=as_of_date,
        mode=mode,
        top=top,
    )


def scoring_job(
    request: NextOrdersInput,
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
    request: NextOrdersInput,
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
    lines = pl.from_arrow(backend.map_buckets(table, recommend_bucket, job, LINES_SCHEMA))
    assert isinstance(lines, pl.DataFrame)
    lines = sort_lines(lines)
    progress("writing", 0.97)
    backend.write(lines.to_arrow(), out, "parquet" if out.endswith(".parquet") else "csv")
    progress("done", 1.0)
    return lines


def check_train_on(
    backend: Backend,
    *,
    orders: str,
    model_out: Path,
    products: str | None = None,
    customers: str | None = None,
    as_of: str | None = None,
    sample: float | None = None,
    max_issues: int = 20,
) -> TrainInput:
    """``services.orders.check_train`` with the tables read by ``backend``; the history cut
    to the lines before ``as_of`` and to a ``sample`` share of the customers where it lies."""
    if model_out.exists() and not model_out.is_dir():
        raise InputError.single("--model-out", "is a file, not a folder", value=str(model_out))
    if sample is not None and not 0.0 < sample <= 1.0:
        raise InputError.single("--sample", "must be a share in (0, 1]", value=str(sample))
    as_of_date = parse_date_option(as_of, "--as-of")
    history, product_frame, customer_frame = read_on(
        backend,
        [(orders, ORDERS), (products, PRODUCTS), (customers, CUSTOMERS)],
        max_issues=max_issues,
        before=as_of_date,
        share=sample,
    )
    assert history is not None
    if history.height == 0:
        where = f" before {as_of_date}" if as_of_date else ""
        raise InputError.single(orders, f"holds no order lines{where}: nothing to learn from")
    files = {"orders": orders}
    files.update({k: v for k, v in (("products", products), ("customers", customers)) if v})
    if sample is not None:
        files["customer_sample"] = f"{sample:g}"
    return TrainInput(history, product_frame, customer_frame, as_of_date, files)
