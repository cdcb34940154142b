"""Follow-up of added customers: their sales since they were added against what was expected.

Who was added, and when, comes from (first that applies):

* a previous coverage run's ``customers.csv`` (its ``add`` rows, with their ``expected_sales``),
  dated by ``added_on`` when given;
* a ``served_from`` column of customers (the date the shop became a customer);
* otherwise, the customers whose first order came at least ``min_history_days`` after the start
  of the order history and within ``window_days`` of the analysis date (new customers).

What was expected is the previous run's ``expected_sales`` when given; otherwise the shop's
potential × the median share of wallet of our established customers × the first-year ramp,
i.e. what the coverage engine would have promised for it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from salescope.coverage.kpis import DAYS_PER_YEAR


@dataclass(frozen=True, slots=True)
class FollowUpParams:
    window_days: int = 365  # customers added within this many days are followed
    # a first order after less history than this is no evidence of a new customer (a shop
    # ordering every few months shows up late in a short history)
    min_history_days: int = 180
    min_days: int = 28  # sales are annualised over at least this many days
    ahead: float = 1.1  # actual / expected at or above this: ahead
    on_track: float = 0.8  # at or above this: on track; below: behind
    ramp: float = 0.7  # first-year sales / steady sales, as in CoverageParams


def added_customers(
    lines: pl.DataFrame,
    customers: pl.DataFrame,
    *,
    as_of: dt.date,
    previous: pl.DataFrame | None = None,
    params: FollowUpParams | None = None,
) -> pl.DataFrame:
    """customer_id, added_on, expected_sales (null when not known), source."""
    params = params or FollowUpParams()
    first = lines.group_by("customer_id").agg(pl.col("order_date").min().alias("first_order"))
    if previous is not None and previous.height:
        if "recommendation" in previous.columns:
            previous = previous.filter(pl.col("recommendation") == "add")
        added_on = (
            _as_date(previous, "added_on")
            if "added_on" in previous.columns
            else pl.lit(None, dtype=pl.Date)
        )
        expected = (
            pl.col("expected_sales").cast(pl.Float64)
            if "expected_sales" in previous.columns
            else pl.lit(None, dtype=pl.Float64)
        )
        return (
            previous.select("customer_id", added_on.alias("added_on"), expected.alias("expected"))
            .join(first, on="customer_id", how="left")
            .select(
                "customer_id",
                pl.coalesce("added_on", "first_order").alias("added_on"),
                pl.col("expected").alias("expected_sales"),
                pl.lit("previous run").alias("source"),
            )
        )
    since = as_of - dt.timedelta(days=params.window_days)
    if "served_from" in customers.columns:
        served_from = customers.select(
            "customer_id", _as_date(customers, "served_from").alias("added_on")
        ).filter(pl.col("added_on").is_between(since, as_of, closed="left"))
        if served_from.height:
            return served_from.with_columns(
                pl.lit(None, dtype=pl.Float64).alias("expected_sales"),
                pl.lit("served_from").alias("source"),
            )
    if lines.height == 0:
        return pl.DataFrame(
            schema={
                "customer_id": pl.String,
                "added_on": pl.Date,
                "expected_sales": pl.Float64,
                "source": pl.String,
            }
        )
    start = lines.select(pl.col("order_date").min()).item()
    earliest = max(since, start + dt.timedelta(days=params.min_history_days))
    return first.filter(pl.col("first_order").is_between(earliest, as_of, closed="left")).select(
        "customer_id",
        pl.col("first_order").alias("added_on"),
        pl.lit(None, dtype=pl.Float64).alias("expected_sales"),
        pl.lit("first order").alias("source"),
    )


def _as_date(frame: pl.DataFrame, name: str) -> pl.Expr:
    """A date column, or text in YYYY-MM-DD form read as dates (unreadable text: null)."""
    if frame.schema[name] == pl.String:
        return pl.col(name).str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    return pl.col(name).cast(pl.Date, strict=False)


def follow_up(
    lines: pl.DataFrame,
    added: pl.DataFrame,
    *,
    as_of: dt.date,
    wallet: pl.DataFrame | None = None,
    params: FollowUpParams | None = None,
) -> pl.DataFrame:
    """Sales of added customers since they were added, yearly, against the expected.

    ``lines`` from ``kpis.line_values``; ``added`` from ``added_customers``; ``wallet``
    (customer_id, potential, share_of_wallet, buyer) gives the expectation where ``added`` has
    none. Columns: customer_id, added_on, days_since_added, orders, sales_since_added,
    sales_per_year, expected_sales, ratio, status (ahead / on track / behind / no order yet),
    source.
    """
    params = params or FollowUpParams()
    window = lines.filter(pl.col("order_date") < as_of).join(
        added.select("customer_id", "added_on"), on="customer_id", how="inner"
    )
    since = (
        window.filter(pl.col("order_date") >= pl.col("added_on"))
        .group_by("customer_id")
        .agg(
            pl.col("value").sum().alias("sales_since_added"),
            pl.col("order_date").n_unique().alias("orders"),
        )
    )
    frame = added.join(since, on="customer_id", how="left").with_columns(
        pl.col("sales_since_added").fill_null(0.0),
        pl.col("orders").fill_null(0).cast(pl.Int64),
        (pl.lit(as_of) - pl.col("added_on")).dt.total_days().alias("days_since_added"),
    )
    expected = pl.col("expected_sales")
    if wallet is not None and {"potential", "share_of_wallet"} <= set(wallet.columns):
        established = wallet.join(added.select("customer_id"), on="customer_id", how="anti")
        typical = established.filter(pl.col("share_of_wallet") > 0)["share_of_wallet"].median()
        share = float(typical) if isinstance(typical, int | float) else 0.3
        frame = frame.join(
            wallet.select("customer_id", pl.col("potential").alias("_potential")),
            on="customer_id",
            how="left",
        )
        expected = pl.coalesce(pl.col("expected_sales"), pl.col("_potential") * share * params.ramp)
    days = pl.max_horizontal(pl.col("days_since_added"), pl.lit(params.min_days))
    frame = frame.with_columns(
        (pl.col("sales_since_added") * DAYS_PER_YEAR / days).alias("sales_per_year"),
        expected.alias("expected_sales"),
    ).with_columns(
        pl.when(pl.col("expected_sales") > 0)
        .then(pl.col("sales_per_year") / pl.col("expected_sales"))
        .alias("ratio"),
    )
    status = (
        pl.when(pl.col("orders") == 0)
        .then(pl.lit("no order yet"))
        .when(pl.col("ratio").is_null())
        .then(pl.lit("no expectation"))
        .when(pl.col("ratio") >= params.ahead)
        .then(pl.lit("ahead"))
        .when(pl.col("ratio") >= params.on_track)
        .then(pl.lit("on track"))
        .otherwise(pl.lit("behind"))
    )
    return (
        frame.with_columns(status.alias("status"))
        .select(
            "customer_id",
            "added_on",
            "days_since_added",
            "orders",
            "sales_since_added",
            "sales_per_year",
            "expected_sales",
            "ratio",
            "status",
            "source",
        )
        .sort("added_on", "customer_id")
    )
