"""Order histories reshaped as other businesses export them, and the last-order split.

A real customer's export is rarely shaped like the data at hand: each customer's next order
falls at its own date, activity thins out toward the end of the file, dates are placeholders
(an order index), quantities are missing (every line 1), the history spans two months or ten
years. These transforms build such shapes from a canonical orders table, so that the engine
is tested (``tests/orders``) and benchmarked (``benchmarks/next_orders_generality.py``) on
them; ``hold_out_last_orders`` is also the split of ``salescope evaluate --protocol
last-order``.

Every function takes and returns canonical order lines (``customer_id, order_id, order_date,
product_id, quantity`` and optional columns) and is deterministic for a given ``seed``.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

ORDER_KEY = ["customer_id", "order_id"]


def _orders(lines: pl.DataFrame) -> pl.DataFrame:
    """One row per order: ``customer_id, order_id, order_date`` with ``k`` (0 = the customer's
    first order) and ``n`` (the customer's orders), ordered by date then order id."""
    return (
        lines.group_by(ORDER_KEY)
        .agg(pl.col("order_date").min())
        .sort("customer_id", "order_date", "order_id")
        .with_columns(
            pl.int_range(pl.len()).over("customer_id").alias("k"),
            pl.len().over("customer_id").alias("n"),
        )
    )


def hold_out_last_orders(lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The usual next-basket protocol: each customer's last order is the truth, the other
    orders are the history. An order is a customer's day, as the engine sees it
    (``orders.history``): the order ids a customer placed on its last date are held out
    together. Customers with orders on a single day have nothing to learn from: their orders
    stay in the history and they are not targets.

    Returns ``(history, held_out)``, both canonical order lines."""
    days = lines.group_by("customer_id").agg(
        pl.col("order_date").max().alias("_last"), pl.col("order_date").n_unique().alias("_days")
    )
    last = (pl.col("order_date") == pl.col("_last")) & (pl.col("_days") >= 2)
    marked = lines.join(days, on="customer_id", how="left", maintain_order="left")
    held_out = marked.filter(last).drop("_last", "_days")
    history = marked.filter(~last).drop("_last", "_days")
    return history, held_out


def hold_out_first_orders_after(
    lines: pl.DataFrame, cutoff: dt.date
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The calendar protocol: the history is every line before ``cutoff``; the truth is each
    customer's first order on or after it — its first day there, every order id of that day —
    for customers with history.

    Returns ``(history, held_out)``, both canonical order lines."""
    history = lines.filter(pl.col("order_date") < cutoff)
    after = lines.filter(pl.col("order_date") >= cutoff).join(
        history.select("customer_id").unique(), on="customer_id", how="semi"
    )
    first = after.group_by("customer_id").agg(pl.col("order_date").min())
    return history, after.join(first, on=["customer_id", "order_date"], how="semi")


def placeholder_dates(
    lines: pl.DataFrame, *, step_days: int = 7, start: dt.date = dt.date(2000, 1, 3)
) -> pl.DataFrame:
    """Dates replaced by each customer's order index x ``step_days`` from ``start`` (exports
    that only keep the order sequence, such as "days since prior order" files): every
    customer starts on the same day and the calendar means nothing."""
    index = _orders(lines).select(
        *ORDER_KEY,
        (pl.lit(start) + pl.duration(days=pl.col("k") * step_days)).alias("_date"),
    )
    return (
        lines.join(index, on=ORDER_KEY)
        .with_columns(pl.col("_date").cast(pl.Date).alias("order_date"))
        .drop("_date")
    )


def unit_quantities(lines: pl.DataFrame) -> pl.DataFrame:
    """Every quantity 1 (exports without quantities); amounts, when present, are dropped."""
    out = lines.with_columns(pl.lit(1.0).alias("quantity"))
    return out.drop([c for c in ("amount", "unit_price") if c in out.columns])


def thin_out(lines: pl.DataFrame, *, seed: int = 0) -> pl.DataFrame:
    """Each customer's orders cut at its own random end (uniform between its second order and
    its last): activity thins out toward the end of the file, as in a history where customers
    come and go."""
    orders = _orders(lines).with_columns(
        pl.col("customer_id").hash(seed).alias("_h"),
    )
    keep = orders.with_columns(
        (1 + (pl.col("_h") % pl.col("n").cast(pl.UInt64).clip(lower_bound=1))).alias("_last")
    ).filter(pl.col("k") <= pl.col("_last"))
    return lines.join(keep.select(ORDER_KEY), on=ORDER_KEY, how="semi")


def weekly_orders(lines: pl.DataFrame) -> pl.DataFrame:
    """Lines summed by customer, product and week: one order per customer and week, dated the
    Monday (exports aggregated by period)."""
    week = pl.col("order_date").dt.truncate("1w")
    sums = [pl.col("quantity").sum()]
    if "amount" in lines.columns:
        sums.append(pl.col("amount").sum())
    return (
        lines.with_columns(week.alias("order_date"))
        .group_by("customer_id", "order_date", "product_id")
        .agg(*sums)
        .with_columns(
            pl.format(
                "{}-W{}", pl.col("customer_id"), pl.col("order_date").dt.strftime("%G%V")
            ).alias("order_id")
        )
        .select(
            "customer_id",
            "order_id",
            "order_date",
            "product_id",
            *(s.meta.output_name() for s in sums),
        )
        .sort("customer_id", "order_date", "product_id")
    )


def some_customers(lines: pl.DataFrame, n: int, *, seed: int = 0) -> pl.DataFrame:
    """The lines of ``n`` customers drawn at random (a small business, or one region)."""
    ids = lines.select(pl.col("customer_id").unique().sort())
    chosen = ids.sample(min(n, ids.height), seed=seed)
    return lines.join(chosen, on="customer_id", how="semi")


def few_orders(lines: pl.DataFrame, *, share: float = 0.5, seed: int = 0) -> pl.DataFrame:
    """A ``share`` of the customers (at random) keep only their last 2 or 3 orders, so that
    once their last order is held out they hold 1-2 orders: young or occasional customers."""
    orders = _orders(lines).with_columns(
        (pl.col("customer_id").hash(seed) % 1000).alias("_h"),
    )
    short = pl.col("_h") < int(share * 1000)
    keep_last = 2 + (pl.col("_h") % 2)
    kept = orders.filter(~short | (pl.col("k") >= pl.col("n") - keep_last))
    return lines.join(kept.select(ORDER_KEY), on=ORDER_KEY, how="semi")


def wide_catalogue(
    lines: pl.DataFrame, products: pl.DataFrame, *, variants: int = 40, size: int = 70_000
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A catalogue of ``size`` products of which few sell, as a distributor's master data
    holds them: each product is sold as ``variants`` regional variants (``P1-0`` … ``P1-39``,
    one per group of customers), and the products table is filled up to ``size`` rows with
    variants nobody bought (copies of real ones, ``X0``, ``X1``, …). Returns the lines and
    the products table."""
    group = (pl.col("customer_id").hash(11) % variants).cast(pl.Utf8)
    wide_lines = lines.with_columns((pl.col("product_id") + "-" + group).alias("product_id"))
    copies = pl.DataFrame({"_v": [str(i) for i in range(variants)]})
    sold = (
        products.join(copies, how="cross")
        .with_columns((pl.col("product_id") + "-" + pl.col("_v")).alias("product_id"))
        .drop("_v")
    )
    extra = max(0, size - sold.height)
    unsold = sold.sample(extra, with_replacement=True, seed=1).with_columns(
        (pl.lit("X") + pl.int_range(extra).cast(pl.Utf8)).alias("product_id")
    )
    return wide_lines, pl.concat([sold, unsold])
