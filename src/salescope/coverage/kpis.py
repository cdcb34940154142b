"""KPIs per customer and period: value, rhythm, breadth, cost to serve, wallet.

Everything is computed with Polars expressions over whole frames. The window of a period is the
``window_days`` (12 months) before its end date ``as_of`` (exclusive); figures "per year" are
annualised over the part of the window the order history covers, so that an 8-month history
gives comparable yearly figures.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from salescope.coverage.params import DEFAULT_CONTACT_MINUTES, CoverageParams
from salescope.domain.statuses import InteractionMode
from salescope.geo import NeighbourIndex, haversine_expr

DAYS_PER_MONTH = 30.44
DAYS_PER_YEAR = 365.25

#: Minutes of one contact, by the customer's mode, when no visit durations are known. Shops served
#: without rep contact (digital, automatic, wholesaler) still get field checks of that length.
DEFAULT_VISIT_MINUTES: dict[str, float] = dict(DEFAULT_CONTACT_MINUTES)
#: Modes whose contacts need no travel.
REMOTE_MODES = (InteractionMode.VIDEO.value,)


@dataclass(frozen=True, slots=True)
class KPIParams:
    """How KPIs are counted and costed."""

    window_days: int = 365
    visit_minutes: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_VISIT_MINUTES))
    cost_per_minute: float = 0.75  # a rep's loaded cost per minute, in the data's currency
    cost_per_order: float = 0.0  # order handling and delivery, per order
    travel_speed_kmh: float = 50.0
    travel_share: float = 0.5  # share of a base↔shop round trip charged to one visit (routes)

    @classmethod
    def from_coverage(cls, params: CoverageParams) -> KPIParams:
        """The KPIs costed with the economics of the recommendations."""
        return cls(
            visit_minutes=dict(params.contact_minutes),
            cost_per_minute=params.cost_per_minute,
            travel_speed_kmh=params.travel_speed_kmh,
            travel_share=params.travel_share,
        )


def line_values(orders: pl.DataFrame, products: pl.DataFrame | None = None) -> pl.DataFrame:
    """Our order lines with their ``value`` and ``category``.

    Lines of products that ``products`` marks as not ours (``own`` false) are left out. The value
    of a line is its ``amount``, else quantity × the line's unit price, else quantity × the
    product's list price, else its quantity (units stand in for money).
    """
    lines = orders
    category = pl.lit(None, dtype=pl.String).alias("category")
    list_price = pl.lit(None, dtype=pl.Float64).alias("list_price")
    if products is not None and products.height:
        keep = ["product_id"]
        if "category" in products.columns:
            keep.append("category")
        if "unit_price" in products.columns:
            keep.append("unit_price")
        if "own" in products.columns:
            keep.append("own")
        info = products.select(keep).unique("product_id", keep="first")
        info = info.rename({"unit_price": "list_price"} if "unit_price" in keep else {})
        lines = lines.join(info, on="product_id", how="left")
        if "own" in keep:
            lines = lines.filter(pl.col("own").fill_null(True)).drop("own")
        if "category" in keep:
            category = pl.col("category")
        if "unit_price" in keep:
            list_price = pl.col("list_price")
    amount = pl.col("amount") if "amount" in lines.columns else pl.lit(None, dtype=pl.Float64)
    unit = pl.col("unit_price") if "unit_price" in lines.columns else pl.lit(None, pl.Float64)
    value = pl.coalesce(
        amount, pl.col("quantity") * unit, pl.col("quantity") * list_price, pl.col("quantity")
    )
    return lines.select(
        "customer_id",
        "order_id",
        "order_date",
        "product_id",
        pl.col("quantity").cast(pl.Float64),
        value.cast(pl.Float64).alias("value"),
        category.cast(pl.String).alias("category"),
    )


def covered_days(lines: pl.DataFrame, as_of: dt.date, window_days: int) -> int:
    """Days of the window before ``as_of`` that the order history covers (at least 1)."""
    start = as_of - dt.timedelta(days=window_days)
    first = lines.select(pl.col("order_date").min()).item() if lines.height else None
    begin = max(start, first) if first is not None else start
    return max(1, min(window_days, (as_of - begin).days))


def purchase_kpis(lines: pl.DataFrame, start: dt.date, end: dt.date) -> pl.DataFrame:
    """Per customer, purchases in ``start <= order_date < end`` (lines from ``line_values``).

    Columns: customer_id, revenue, volume, orders, products, categories, first_order,
    last_order, mean_gap_days, gap_cv (coefficient of variation of the days between orders).
    An order is a day the customer ordered on, as for the next-order engine: invoices of one
    day (split by the warehouse, a top-up) are one order.
    """
    window = lines.filter(pl.col("order_date").is_between(start, end, closed="left"))
    totals = window.group_by("customer_id").agg(
        pl.col("value").sum().alias("revenue"),
        pl.col("quantity").sum().alias("volume"),
        pl.col("order_date").n_unique().alias("orders"),
        pl.col("product_id").n_unique().alias("products"),
        pl.col("category").drop_nulls().n_unique().alias("categories"),
        pl.col("order_date").min().alias("first_order"),
        pl.col("order_date").max().alias("last_order"),
    )
    gaps = (
        window.select("customer_id", "order_date")
        .unique()
        .sort("customer_id", "order_date")
        .with_columns(pl.col("order_date").diff().dt.total_days().over("customer_id").alias("gap"))
        .drop_nulls("gap")
        .group_by("customer_id")
        .agg(
            pl.col("gap").mean().cast(pl.Float64).alias("mean_gap_days"),
            (pl.col("gap").std() / pl.col("gap").mean()).alias("gap_cv"),
        )
    )
    return totals.join(gaps, on="customer_id", how="left")


def _visit_load(
    base: pl.DataFrame,
    visits: pl.DataFrame | None,
    start: dt.date,
    end: dt.date,
    months: float,
    params: KPIParams,
) -> pl.DataFrame:
    """visits_per_month and contact minutes per month (+ share of contacts needing travel)."""
    default_minutes = pl.col("interaction_mode").replace_strict(
        dict(params.visit_minutes),
        default=params.visit_minutes.get(InteractionMode.FIELD, 40.0),
        return_dtype=pl.Float64,
    )
    declared = base.select(
        "customer_id",
        pl.col("visits_per_month").fill_null(0.0).alias("declared_vpm"),
        default_minutes.alias("default_minutes"),
        (~pl.col("interaction_mode").fill_null("").is_in(REMOTE_MODES))
        .cast(pl.Float64)
        .alias("declared_travel"),
    )
    if visits is None or visits.height == 0:
        return declared.select(
            "customer_id",
            pl.col("declared_vpm").alias("visits_per_month"),
            (pl.col("declared_vpm") * pl.col("default_minutes")).alias("visit_minutes_per_month"),
            (pl.col("declared_vpm") * pl.col("declared_travel")).alias("travel_visits_per_month"),
        )
    mode = pl.col("mode") if "mode" in visits.columns else pl.lit(None, dtype=pl.String)
    minutes = (
        pl.col("duration_minutes")
        if "duration_minutes" in visits.columns
        else pl.lit(None, dtype=pl.Float64)
    )
    seen = (
        visits.filter(pl.col("visit_date").is_between(start, end, closed="left"))
        .with_columns(
            mode.alias("_mode"),
            minutes.alias("_minutes"),
        )
        .with_columns(
            pl.col("_minutes").fill_null(
                pl.col("_mode").replace_strict(
                    dict(params.visit_minutes),
                    default=params.visit_minutes.get(InteractionMode.FIELD, 40.0),
                    return_dtype=pl.Float64,
                )
            ),
            (~pl.col("_mode").fill_null("").is_in(REMOTE_MODES)).alias("_travel"),
        )
        .group_by("customer_id")
        .agg(
            (pl.len() / months).alias("visits_per_month"),
            (pl.col("_minutes").sum() / months).alias("visit_minutes_per_month"),
            (pl.col("_travel").sum() / months).alias("travel_visits_per_month"),
        )
    )
    # a shop the log does not show is served as declared (the log may cover some reps only)
    return declared.join(seen, on="customer_id", how="left").select(
        "customer_id",
        pl.col("visits_per_month").fill_null(pl.col("declared_vpm")),
        pl.col("visit_minutes_per_month").fill_null(
            pl.col("declared_vpm") * pl.col("default_minutes")
        ),
        pl.col("travel_visits_per_month").fill_null(
            pl.col("declared_vpm") * pl.col("declared_travel")
        ),
    )


def rep_distances(customers: pl.DataFrame, reps: pl.DataFrame | None) -> pl.DataFrame:
    """customer_id, distance_km to its rep (else to the nearest), nearest_rep_id, nearest_rep_km."""
    base = customers.select(
        "customer_id",
        _col(customers, "rep_id", pl.String),
        _col(customers, "latitude", pl.Float64),
        _col(customers, "longitude", pl.Float64),
    )
    if reps is None or reps.height == 0:
        return base.select(
            "customer_id",
            pl.lit(None, dtype=pl.Float64).alias("distance_km"),
            pl.lit(None, dtype=pl.String).alias("nearest_rep_id"),
            pl.lit(None, dtype=pl.Float64).alias("nearest_rep_km"),
        )
    located = base.filter(pl.col("latitude").is_not_null() & pl.col("longitude").is_not_null())
    index = NeighbourIndex(reps["latitude"].to_numpy(), reps["longitude"].to_numpy())
    km, idx = index.query(located["latitude"].to_numpy(), located["longitude"].to_numpy(), 1)
    nearest = located.select(
        "customer_id",
        pl.Series("nearest_rep_id", reps["rep_id"].to_numpy()[np.maximum(idx[:, 0], 0)]),
        pl.Series("nearest_rep_km", np.where(np.isfinite(km[:, 0]), km[:, 0], np.nan)),
    )
    rep_xy = reps.select(
        "rep_id", pl.col("latitude").alias("rep_lat"), pl.col("longitude").alias("rep_lon")
    )
    own = base.join(rep_xy, on="rep_id", how="left").select(
        "customer_id",
        haversine_expr(
            pl.col("latitude"), pl.col("longitude"), pl.col("rep_lat"), pl.col("rep_lon")
        ).alias("rep_km"),
    )
    return (
        base.select("customer_id")
        .join(own, on="customer_id", how="left")
        .join(nearest, on="customer_id", how="left")
        .select(
            "customer_id",
            pl.coalesce("rep_km", "nearest_rep_km").alias("distance_km"),
            "nearest_rep_id",
            "nearest_rep_km",
        )
    )


def _col(frame: pl.DataFrame, name: str, dtype: pl.DataType | type[pl.DataType]) -> pl.Expr:
    if name in frame.columns:
        return pl.col(name).cast(dtype)
    return pl.lit(None, dtype=dtype).alias(name)


def compute_kpis(
    orders: pl.DataFrame,
    customers: pl.DataFrame | None = None,
    *,
    as_of: dt.date,
    products: pl.DataFrame | None = None,
    visits: pl.DataFrame | None = None,
    reps: pl.DataFrame | None = None,
    wallet: pl.DataFrame | None = None,
    params: KPIParams | None = None,
    lines: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """KPIs of every customer (of ``customers``, else of ``orders``) at ``as_of``.

    Columns: customer_id, as_of, revenue_12m, revenue_annualised, volume_12m, revenue_prev_12m,
    trend (second half of the window against the first, -0.25 = down 25 %), orders_12m,
    orders_per_month, mean_gap_days, regularity (1 / (1 + CV of the days between orders)),
    avg_order_value, products_12m, categories_12m, first_order, last_order,
    days_since_last_order, tenure_days, history_days (days of order history before ``as_of``,
    all customers), visits_per_month, visit_minutes_per_month,
    travel_minutes_per_month, cost_to_serve_12m, rep_id, distance_km, nearest_rep_id,
    nearest_rep_km; with ``wallet`` (customer_id, potential, potential_low, potential_high):
    also those, share_of_wallet and gap (potential − annualised revenue, at least 0).

    ``lines`` (from ``line_values``) saves recomputing the line values for several periods.
    """
    params = params or KPIParams()
    lines = line_values(orders, products) if lines is None else lines
    lines = lines.filter(pl.col("order_date") < as_of)
    days = covered_days(lines, as_of, params.window_days)
    start = as_of - dt.timedelta(days=days)
    half = as_of - dt.timedelta(days=days // 2)
    months = days / DAYS_PER_MONTH
    if customers is None:
        customers = lines.select("customer_id").unique().sort("customer_id")
    base = customers.select(
        "customer_id",
        _col(customers, "rep_id", pl.String),
        _col(customers, "interaction_mode", pl.String),
        _col(customers, "visits_per_month", pl.Float64),
        _col(customers, "latitude", pl.Float64),
        _col(customers, "longitude", pl.Float64),
    )
    current = purchase_kpis(lines, start, as_of)
    first_half = purchase_kpis(lines, start, half).select(
        "customer_id", pl.col("revenue").alias("_rev_a")
    )
    second_half = purchase_kpis(lines, half, as_of).select(
        "customer_id", pl.col("revenue").alias("_rev_b")
    )
    prev_start = as_of - dt.timedelta(days=2 * params.window_days)
    history_start = lines.select(pl.col("order_date").min()).item() if lines.height else None
    has_prev = history_start is not None and history_start <= prev_start + dt.timedelta(days=31)
    previous = purchase_kpis(lines, prev_start, start).select(
        "customer_id", pl.col("revenue").alias("revenue_prev_12m")
    )
    ever = lines.group_by("customer_id").agg(
        pl.col("order_date").min().alias("first_order"),
        pl.col("order_date").max().alias("last_order"),
    )
    load = _visit_load(base, visits, start, as_of, months, params)
    distances = rep_distances(customers, reps)
    travel_minutes_per_visit = (
        2.0 * pl.col("distance_km").fill_null(0.0) / params.travel_speed_kmh * 60.0
    ) * params.travel_share
    frame = (
        base.select("customer_id", "rep_id")
        .with_row_index("_row")
        .join(current.drop("first_order", "last_order"), on="customer_id", how="left")
        .join(first_half, on="customer_id", how="left")
        .join(second_half, on="customer_id", how="left")
        .join(previous, on="customer_id", how="left")
        .join(ever, on="customer_id", how="left")
        .join(load, on="customer_id", how="left")
        .join(distances, on="customer_id", how="left")
        .with_columns(
            pl.col("revenue", "volume").fill_null(0.0),
            pl.col("orders", "products", "categories").fill_null(0).cast(pl.Int64),
            pl.col("_rev_a", "_rev_b").fill_null(0.0),
            pl.col("revenue_prev_12m").fill_null(0.0)
            if has_prev
            else pl.lit(None, dtype=pl.Float64).alias("revenue_prev_12m"),
        )
        .with_columns(
            (travel_minutes_per_visit * pl.col("travel_visits_per_month")).alias(
                "travel_minutes_per_month"
            ),
        )
        .sort("_row")
    )
    expected = [] if wallet is None else ["potential", "potential_low", "potential_high"]
    result = frame.select(
        "customer_id",
        pl.lit(as_of).alias("as_of"),
        pl.col("revenue").alias("revenue_12m"),
        (pl.col("revenue") * DAYS_PER_YEAR / days).alias("revenue_annualised"),
        pl.col("volume").alias("volume_12m"),
        "revenue_prev_12m",
        pl.when(pl.col("_rev_a") > 0)
        .then(pl.col("_rev_b") / pl.col("_rev_a") - 1.0)
        .alias("trend"),
        pl.col("orders").alias("orders_12m"),
        (pl.col("orders") / months).alias("orders_per_month"),
        "mean_gap_days",
        (1.0 / (1.0 + pl.col("gap_cv"))).alias("regularity"),
        pl.when(pl.col("orders") > 0)
        .then(pl.col("revenue") / pl.col("orders"))
        .alias("avg_order_value"),
        pl.col("products").alias("products_12m"),
        pl.col("categories").alias("categories_12m"),
        "first_order",
        "last_order",
        (pl.lit(as_of) - pl.col("last_order")).dt.total_days().alias("days_since_last_order"),
        (pl.lit(as_of) - pl.col("first_order")).dt.total_days().alias("tenure_days"),
        pl.lit((as_of - history_start).days if history_start is not None else 0)
        .cast(pl.Int64)
        .alias("history_days"),
        pl.col("visits_per_month").fill_null(0.0),
        pl.col("visit_minutes_per_month").fill_null(0.0),
        pl.col("travel_minutes_per_month").fill_null(0.0),
        (
            12.0
            * (
                pl.col("visit_minutes_per_month").fill_null(0.0)
                + pl.col("travel_minutes_per_month").fill_null(0.0)
            )
            * params.cost_per_minute
            + pl.col("orders") * DAYS_PER_YEAR / days * params.cost_per_order
        ).alias("cost_to_serve_12m"),
        "rep_id",
        "distance_km",
        "nearest_rep_id",
        "nearest_rep_km",
    )
    if wallet is not None:
        result = result.join(
            wallet.select("customer_id", *expected),
            on="customer_id",
            how="left",
            maintain_order="left",
        ).with_columns(
            pl.when(pl.col("potential") > 0)
            .then((pl.col("revenue_annualised") / pl.col("potential")).clip(0.0, 1.0))
            .alias("share_of_wallet"),
            (pl.col("potential") - pl.col("revenue_annualised")).clip(0.0).alias("gap"),
        )
    return result


def period_ends(first: dt.date, as_of: dt.date, *, months: int = 3) -> list[tuple[str, dt.date]]:
    """Labels and exclusive end dates of the periods (quarters by default) from ``first`` to
    ``as_of``: every period end after ``first`` (at least a month of history), and ``as_of``
    itself when it is not a period boundary. Labels: ``2024Q1`` for quarters, ``2024-03``
    for months, ``2024H1`` for halves, else the end date."""
    ends: list[tuple[str, dt.date]] = []
    year, month = first.year, 1
    while True:
        end = dt.date(year, month, 1)
        if end > as_of:
            break
        if end >= first + dt.timedelta(days=28):
            ends.append((_period_label(end, months), end))
        month += months
        while month > 12:
            month -= 12
            year += 1
    if not ends or ends[-1][1] != as_of:
        ends.append((_period_label(_next_boundary(as_of, months), months), as_of))
    return ends


def _next_boundary(day: dt.date, months: int) -> dt.date:
    month = ((day.month - 1) // months + 1) * months + 1
    year = day.year + (month - 1) // 12
    return dt.date(year, (month - 1) % 12 + 1, 1)


def _period_label(end: dt.date, months: int) -> str:
    last = end - dt.timedelta(days=1)
    if months == 3:
        return f"{last.year}Q{(last.month - 1) // 3 + 1}"
    if months == 1:
        return f"{last.year}-{last.month:02d}"
    if months == 6:
        return f"{last.year}H{(last.month - 1) // 6 + 1}"
    if months == 12:
        return f"{last.year}"
    return last.isoformat()


def kpis_by_period(
    orders: pl.DataFrame,
    customers: pl.DataFrame | None = None,
    *,
    periods: Sequence[tuple[str, dt.date]],
    products: pl.DataFrame | None = None,
    visits: pl.DataFrame | None = None,
    reps: pl.DataFrame | None = None,
    params: KPIParams | None = None,
) -> pl.DataFrame:
    """``compute_kpis`` at the end of each period, stacked, with a ``period`` label column."""
    lines = line_values(orders, products)
    frames = [
        compute_kpis(
            orders,
            customers,
            as_of=end,
            visits=visits,
            reps=reps,
            params=params,
            lines=lines,
        ).with_columns(pl.lit(label).alias("period"))
        for label, end in periods
    ]
    if not frames:
        raise ValueError("no period to compute KPIs for")
    return pl.concat(frames, how="vertical_relaxed")
