"""Observed potential: the market rows' totals per shop over the latest 12 months of periods."""

from __future__ import annotations

import datetime as dt

import polars as pl

from salescope.coverage.wallet.params import WalletWindow

# --------------------------------------------------------------------------- market data


def market_periods(market: pl.DataFrame) -> pl.DataFrame:
    """Market rows with the dates of their period: start, end (exclusive), months."""
    yearly = pl.col("period").str.len_chars() == 4
    start = (
        pl.when(yearly)
        .then(pl.concat_str(pl.col("period"), pl.lit("-01-01")))
        .otherwise(pl.concat_str(pl.col("period"), pl.lit("-01")))
        .str.to_date("%Y-%m-%d")
    )
    return market.with_columns(
        start.alias("period_start"), pl.when(yearly).then(12).otherwise(1).alias("months")
    ).with_columns(
        pl.when(yearly)
        .then(pl.col("period_start").dt.offset_by("1y"))
        .otherwise(pl.col("period_start").dt.offset_by("1mo"))
        .alias("period_end")
    )


def observed_totals(
    market: pl.DataFrame | None, as_of: dt.date, *, window_days: int = 365
) -> tuple[pl.DataFrame, WalletWindow | None]:
    """Yearly total purchases of the shops with market data, and the window they refer to.

    The window is the 12 months ending with the latest market period that starts before
    ``as_of``. Each shop's periods inside it are summed (a row without category is the total
    of all categories and wins over category rows of the same period; otherwise categories are
    added up) and annualised over the months observed. Returns customer_id, observed_total,
    observed_months, observed_own (annualised own_amount where given).
    """
    empty = pl.DataFrame(
        schema={
            "customer_id": pl.String,
            "observed_total": pl.Float64,
            "observed_months": pl.Int64,
            "observed_own": pl.Float64,
        }
    )
    if market is None or market.height == 0:
        return empty, None
    rows = market_periods(market).filter(pl.col("period_start") < as_of)
    if rows.height == 0:
        return empty, None
    end = rows.select(pl.col("period_end").max()).item()
    start = end - dt.timedelta(days=window_days)
    start = dt.date(end.year - 1, end.month, end.day) if window_days == 365 else start
    inside = rows.filter((pl.col("period_start") >= start) & (pl.col("period_end") <= end))
    own = pl.col("own_amount") if "own_amount" in inside.columns else pl.lit(None, dtype=pl.Float64)
    category = pl.col("category") if "category" in inside.columns else pl.lit(None, dtype=pl.String)
    per_period = (
        inside.with_columns(category.alias("_cat"), own.alias("_own"))
        .group_by("customer_id", "period")
        .agg(
            pl.when(pl.col("_cat").is_null().any())
            .then(pl.col("total_amount").filter(pl.col("_cat").is_null()).max())
            .otherwise(pl.col("total_amount").sum())
            .alias("total"),
            pl.when(pl.col("_cat").is_null().any())
            .then(pl.col("_own").filter(pl.col("_cat").is_null()).max())
            .otherwise(pl.col("_own").sum())
            .alias("own"),
            pl.col("months").first(),
        )
    )
    # summed in period order: a group_by's rows arrive in no fixed order, and float sums in
    # another order differ in the last bits (a shop's potential 29989.04 one run, .03 the next)
    totals = (
        per_period.sort("customer_id", "period")
        .group_by("customer_id", maintain_order=True)
        .agg(
            (pl.col("total").sum() * 12.0 / pl.col("months").sum()).alias("observed_total"),
            pl.col("months").sum().cast(pl.Int64).alias("observed_months"),
            pl.when(pl.col("own").is_not_null().all())
            .then(pl.col("own").sum() * 12.0 / pl.col("months").sum())
            .alias("observed_own"),
        )
    )
    first = inside.select(pl.col("period_start").min()).item()
    return totals.sort("customer_id"), WalletWindow(max(start, first), end, "market")
