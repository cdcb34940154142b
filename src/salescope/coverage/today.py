"""Today's service of every shop: its interaction mode and visits a month, and where they come
from.

Real customer exports rarely say how each shop is served. For each served shop, first that
applies:

* **given**: ``interaction_mode`` / ``visits_per_month`` of the customers file;
* **visit log**: the visits table of the 12 months before the analysis date — visits a month,
  and the mode most of them had (``field`` when the log has no mode);
* **inferred**: the mode from its rep's role (a merchandiser's shop: ``merchandiser``; another
  rep's: ``field``; no rep: ``digital``, i.e. the shop orders without a rep), and the visits a
  month from its order rhythm — a rep sees a shop about as often as it orders, rounded to the
  nearest of ``CoverageParams.inferred_visit_grid`` (0.5, 1 or 2 a month by default); shops
  served without regular contact (digital, automatic, wholesaler) get the field checks of
  ``check_visits_per_month`` when they have a rep, none without.

Mode and frequency are resolved separately (a file may give one and not the other). Prospects
have no service today. ``service_source`` says, per shop, where its service comes from.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from salescope.coverage.kpis import DAYS_PER_MONTH
from salescope.coverage.params import (
    AUTOMATIC,
    DIGITAL,
    FIELD,
    MERCHANDISER,
    WHOLESALER,
    CoverageParams,
)

#: ``service_source`` values and how a sentence says them.
SOURCES = {
    "given": "as given in the customers file",
    "visit log": "from the visit log",
    "inferred": "inferred from its orders and its rep",
    "partly given": "partly given, the rest inferred from its orders and its rep",
    "prospect": "not served today",
    "default": "not given: field visits when it has visits, else the digital platform",
}


def todays_service(
    customers: pl.DataFrame,
    served: pl.Series,
    lines: pl.DataFrame,
    reps: pl.DataFrame,
    *,
    as_of: dt.date,
    visits: pl.DataFrame | None = None,
    params: CoverageParams | None = None,
    window_days: int = 365,
) -> pl.DataFrame:
    """customer_id, current_mode, current_visits_per_month, service_source — one row per row
    of ``customers`` (same order); ``served`` is the boolean served mask of those rows and
    ``lines`` our order lines (``kpis.line_values``)."""
    params = params or CoverageParams()
    start = as_of - dt.timedelta(days=window_days)
    first = lines.select(pl.col("order_date").min()).item() if lines.height else None
    begin = max(start, first) if first is not None else start
    months = max(1.0, (as_of - begin).days) / DAYS_PER_MONTH
    rhythm = (
        lines.filter(pl.col("order_date").is_between(begin, as_of, closed="left"))
        .group_by("customer_id")
        .agg((pl.col("order_date").n_unique() / months).alias("_orders_pm"))
    )
    base = customers.select(
        "customer_id",
        _col(customers, "interaction_mode", pl.String).alias("_mode_given"),
        _col(customers, "visits_per_month", pl.Float64).alias("_vpm_given"),
        _col(customers, "rep_id", pl.String).alias("_rep"),
    ).with_columns(pl.Series("_served", served.fill_null(False).to_list(), dtype=pl.Boolean))
    roles = reps.select(
        pl.col("rep_id").alias("_rep"),
        (pl.col("role") if "role" in reps.columns else pl.lit("rep")).alias("_role"),
    )
    frame = base.join(rhythm, on="customer_id", how="left").join(roles, on="_rep", how="left")
    if visits is not None and visits.height:
        log_start = max(start, visits.select(pl.col("visit_date").min()).item() or start)
        log_months = max(1.0, (as_of - log_start).days) / DAYS_PER_MONTH
        mode = pl.col("mode") if "mode" in visits.columns else pl.lit(FIELD)
        log = (
            visits.filter(pl.col("visit_date").is_between(log_start, as_of, closed="left"))
            .with_columns(mode.fill_null(FIELD).alias("_m"))
            .group_by("customer_id")
            .agg(
                (pl.len() / log_months).alias("_vpm_log"),
                pl.col("_m").mode().sort().first().alias("_mode_log"),
            )
        )
        frame = frame.join(log, on="customer_id", how="left")
    else:
        frame = frame.with_columns(
            pl.lit(None, dtype=pl.Float64).alias("_vpm_log"),
            pl.lit(None, dtype=pl.String).alias("_mode_log"),
        )
    grid = np.asarray(sorted(params.inferred_visit_grid), dtype=np.float64)
    orders_pm = frame["_orders_pm"].fill_null(0.0).to_numpy().astype(np.float64)
    # nearest grid frequency on a log scale (a shop ordering 3 times a month: 2 visits)
    logs = np.log(np.maximum(orders_pm, 1e-6))[:, None] - np.log(grid)[None, :]
    snapped = grid[np.argmin(np.abs(logs), axis=1)]
    frame = frame.with_columns(pl.Series("_vpm_rhythm", snapped))
    has_rep = pl.col("_rep").is_not_null()
    inferred_mode = (
        pl.when(has_rep & (pl.col("_role") == MERCHANDISER))
        .then(pl.lit(MERCHANDISER))
        .when(has_rep)
        .then(pl.lit(FIELD))
        .otherwise(pl.lit(DIGITAL))
    )
    mode = pl.coalesce("_mode_given", "_mode_log", inferred_mode)
    unvisited = mode.is_in([DIGITAL, AUTOMATIC, WHOLESALER])
    inferred_vpm = (
        pl.when(unvisited & has_rep)
        .then(pl.lit(params.check_visits_per_month))
        .when(unvisited)
        .then(pl.lit(0.0))
        .otherwise(pl.col("_vpm_rhythm"))
    )
    vpm = pl.coalesce("_vpm_given", "_vpm_log", inferred_vpm)
    given_mode = pl.col("_mode_given").is_not_null()
    given_vpm = pl.col("_vpm_given").is_not_null()
    logged = pl.col("_vpm_log").is_not_null()
    source = (
        pl.when(~pl.col("_served"))
        .then(pl.lit("prospect"))
        .when(given_mode & given_vpm)
        .then(pl.lit("given"))
        .when(logged & ~given_mode & ~given_vpm)
        .then(pl.lit("visit log"))
        .when(given_mode | given_vpm | logged)
        .then(pl.lit("partly given"))
        .otherwise(pl.lit("inferred"))
    )
    return frame.select(
        "customer_id",
        pl.when(pl.col("_served")).then(mode).alias("current_mode"),
        pl.when(pl.col("_served")).then(vpm).otherwise(0.0).alias("current_visits_per_month"),
        source.alias("service_source"),
    )


def describe_sources(service: pl.DataFrame, params: CoverageParams) -> str:
    """One sentence for the summary: how many served shops' service comes from where."""
    counts = dict(
        service.filter(pl.col("service_source") != "prospect")
        .group_by("service_source")
        .len()
        .iter_rows()
    )
    if not counts:
        return "no served shop"
    grid = ", ".join(f"{v:g}" for v in sorted(params.inferred_visit_grid))
    parts = []
    for key in ("given", "visit log", "partly given", "inferred"):
        if counts.get(key):
            parts.append(f"{counts[key]:,} {SOURCES[key]}")
    text = "; ".join(parts)
    if counts.get("inferred") or counts.get("partly given"):
        text += (
            f" (inferred: field visits for a rep's shop, merchandiser visits for a "
            f"merchandiser's, the digital platform without a rep; visits a month = its orders "
            f"a month rounded to {grid}; field checks {params.check_visits_per_month:.2g}/month "
            "for shops served without regular contact)"
        )
    return text


def _col(frame: pl.DataFrame, name: str, dtype: type[pl.DataType]) -> pl.Expr:
    if name in frame.columns:
        return pl.col(name).cast(dtype)
    return pl.lit(None, dtype=dtype).alias(name)
