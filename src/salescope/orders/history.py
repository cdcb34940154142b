"""Order history prepared for the engines.

The engines work on integer codes: ``c`` (customer), ``p`` (product) and ``o`` (order), one row
per (order, product) with the quantities of repeated lines summed. An order, for the engines,
is what a customer bought on one day: the order ids a customer placed on the same date (an
invoice split by warehouse or vendor, a top-up the same day) are one basket, as the shop sees
its delivery — learning from them apart would teach the model half-baskets as next orders.
``Codes`` maps customers and products back to the identifiers of the files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

CODE = pl.UInt32


@dataclass(frozen=True, slots=True)
class Codes:
    """Identifiers of customers and products by code (the row number of each frame)."""

    customers: pl.DataFrame  # customer_id (String), c (UInt32)
    products: pl.DataFrame  # product_id (String), p (UInt32)

    @property
    def n_customers(self) -> int:
        return self.customers.height

    @property
    def n_products(self) -> int:
        return self.products.height

    def decode(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Replace ``c`` and ``p`` by ``customer_id`` and ``product_id``."""
        out = frame
        for code, table in (("c", self.customers), ("p", self.products)):
            if code in out.columns:
                out = _decoded(out, code, table)
        return out


def _decoded(frame: pl.DataFrame, code: str, table: pl.DataFrame) -> pl.DataFrame:
    """``frame.join(table, on=code, how="left").drop(code)``: the identifiers looked up by
    code (``by_code``: no hashing, the frame's row order) when every code is a row of
    ``table`` and no column would be renamed, else the join."""
    names = [name for name in table.columns if name != code]
    found = None
    if frame.schema[code] == table.schema[code] and not set(names) & set(frame.columns):
        found = by_code(table, code, frame.get_column(code), names)
    if found is None:
        return frame.join(table, on=code, how="left").drop(code)
    return frame.drop(code).hstack(found)


def encode(
    orders: pl.DataFrame,
    products: pl.DataFrame | None = None,
    *,
    customers: pl.DataFrame | None = None,
    known_products: pl.DataFrame | None = None,
    carry: tuple[str, ...] = (),
) -> tuple[pl.DataFrame, Codes]:
    """Canonical order lines -> lines ``c, o, d, p, q`` (one per order and product; ``o`` one
    per customer and day) and codes.

    ``customers`` / ``known_products`` (``customer_id`` / ``product_id`` frames) name ids to
    code besides those of ``orders`` (e.g. from older history). Products of the products
    table that were never ordered get codes too, after the ordered ones, so that they can be
    proposed. ``carry``: columns of ``orders`` kept on the lines (the first value of each
    order and product).
    """
    customer_ids = orders.select("customer_id")
    if customers is not None:
        customer_ids = pl.concat([customer_ids, customers.select("customer_id")])
    customers = (
        customer_ids.select(pl.col("customer_id").unique().sort())
        .with_row_index("c")
        .with_columns(pl.col("c").cast(CODE))
        .select("customer_id", "c")
    )
    product_ids = orders.select("product_id")
    if known_products is not None:
        product_ids = pl.concat([product_ids, known_products.select("product_id")])
    product_ids = product_ids.select(pl.col("product_id").unique().sort())
    if products is not None and products.height:
        extra = products.select("product_id").join(product_ids, on="product_id", how="anti")
        product_ids = pl.concat([product_ids, extra.select(pl.col("product_id").sort())])
    product_codes = (
        product_ids.with_row_index("p")
        .with_columns(pl.col("p").cast(CODE))
        .select("product_id", "p")
    )
    return coded_lines(orders, customers, product_codes, carry), Codes(customers, product_codes)


def coded_lines(
    orders: pl.DataFrame,
    customers: pl.DataFrame,
    products: pl.DataFrame,
    carry: tuple[str, ...] = (),
) -> pl.DataFrame:
    """``encode``'s lines ``c, o, d, p, q`` of ``orders`` with given codes (``customers``:
    ``customer_id, c``; ``products``: ``product_id, p``); lines of other ids are left out."""
    product_codes = products
    # one basket per customer and day: the order ids a customer placed on one date (invoices
    # split by warehouse or vendor, a top-up) are one order to learn from and to predict
    order_codes = (
        orders.select("customer_id", "order_date")
        .unique()
        .sort("customer_id", "order_date")
        .with_row_index("o")
        .with_columns(pl.col("o").cast(CODE))
    )
    lines = (
        orders.lazy()
        .select("customer_id", "order_id", "order_date", "product_id", "quantity", *carry)
        .join(customers.lazy(), on="customer_id")
        .join(product_codes.lazy(), on="product_id")
        .join(order_codes.lazy(), on=["customer_id", "order_date"])
        .group_by("c", "o", "p")
        .agg(
            pl.col("order_date").first().alias("d"),
            pl.col("quantity").sum().alias("q"),
            *(pl.col(c).first() for c in carry),
        )
        .select("c", "o", "d", "p", pl.col("q").cast(pl.Float64), *carry)
        .sort("c", "d", "o", "p")
        .collect()
    )
    return lines


def before(lines: pl.DataFrame, cutoff: dt.date, lookback_days: int | None = None) -> pl.DataFrame:
    """Lines dated before ``cutoff`` (and not older than ``lookback_days`` before it)."""
    condition = pl.col("d") < cutoff
    if lookback_days is not None:
        condition &= pl.col("d") >= cutoff - dt.timedelta(days=lookback_days)
    return lines.filter(condition)


def order_table(lines: pl.DataFrame) -> pl.DataFrame:
    """One row per order: ``c, o, d, n`` (products), ``k`` (0 = the customer's first order in
    ``lines``), ``e`` (0 = its last), ``n_orders`` (the customer's orders in ``lines``)."""
    return (
        lines.group_by("c", "o")
        .agg(pl.col("d").first(), pl.len().alias("n"))
        .sort("c", "d", "o")
        .with_columns(
            pl.int_range(pl.len()).over("c").cast(pl.UInt32).alias("k"),
            pl.len().over("c").cast(pl.UInt32).alias("n_orders"),
        )
        .with_columns((pl.col("n_orders") - 1 - pl.col("k")).alias("e"))
    )


def next_orders_after(
    lines: pl.DataFrame, cutoff: dt.date, until: dt.date | None = None
) -> pl.DataFrame:
    """Each customer's first order on or after ``cutoff`` (and before ``until``): its lines
    ``c, o, d, p, q``."""
    window = lines.filter(pl.col("d") >= cutoff)
    if until is not None:
        window = window.filter(pl.col("d") < until)
    first = (
        window.group_by("c", "o")
        .agg(pl.col("d").first())
        .sort("c", "d", "o")
        .group_by("c", maintain_order=True)
        .first()
        .select("c", "o")
    )
    return window.join(first, on=["c", "o"])


def split_at(lines: pl.DataFrame, cutoff: dt.date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A backtest's view at ``cutoff``: the history (lines before it) and the truth — each
    customer's first order on or after it, for customers with history — as ``c, o, d, p, q``
    with ``seen`` (1 when the customer had bought the product before)."""
    history = lines.filter(pl.col("d") < cutoff)
    seen = history.select("c", "p").unique().with_columns(pl.lit(1).alias("seen"))
    truth = (
        next_orders_after(lines, cutoff)
        .join(history.select("c").unique(), on="c")
        .join(seen, on=["c", "p"], how="left")
        .with_columns(pl.col("seen").fill_null(0))
    )
    return history, truth


def split_last_orders(lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The last-order view of coded lines: the truth is each customer's last order (for
    customers with at least two), the history every other line; ``seen`` as in
    ``split_at``."""
    orders = order_table(lines)
    last = orders.filter((pl.col("e") == 0) & (pl.col("n_orders") >= 2)).select("c", "o")
    history = lines.join(last, on=["c", "o"], how="anti")
    seen = history.select("c", "p").unique().with_columns(pl.lit(1).alias("seen"))
    truth = (
        lines.join(last, on=["c", "o"], how="semi")
        .join(seen, on=["c", "p"], how="left")
        .with_columns(pl.col("seen").fill_null(0))
    )
    return history, truth


def rows_of(frame: pl.DataFrame, index: np.ndarray, customers: pl.Series) -> pl.DataFrame:
    """The rows of ``customers`` (codes) in ``frame``, a frame sorted by ``c`` whose ``c``
    column is ``index`` (int64): slices for a few customers — a serving request touches
    microseconds of data, not the whole frame — and a semi-join for many."""
    wanted = np.unique(customers.to_numpy()).astype(np.int64)  # sorted, without a query
    if len(wanted) > 256:
        return frame.join(pl.DataFrame({"c": wanted}).cast(pl.UInt32), on="c", how="semi")
    starts = np.searchsorted(index, wanted, side="left")
    ends = np.searchsorted(index, wanted, side="right")
    parts = [frame.slice(int(a), int(b - a)) for a, b in zip(starts, ends, strict=True) if b > a]
    if len(parts) == 1:
        return parts[0]
    return pl.concat(parts) if parts else frame.clear()


def by_code(
    table: pl.DataFrame, code: str, codes: pl.Series, names: list[str]
) -> list[pl.Series] | None:
    """The columns ``names`` of ``table`` (one row per ``code``, in code order) at each of
    ``codes``: a left join on the code, by look-up; None when a code is null or not a row
    number of ``table`` (then join)."""
    if codes.null_count():
        return None
    rows = codes.to_numpy().astype(np.int64)
    if len(rows) and rows.max() >= table.height:
        return None
    at = pl.Series(rows)
    if not np.array_equal(table.get_column(code).gather(at).to_numpy(), rows):
        return None
    return [table.get_column(name).gather(at) for name in names]
