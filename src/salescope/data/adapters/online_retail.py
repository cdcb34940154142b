"""UCI "Online Retail" (a UK gift-ware wholesaler, 2010-12 … 2011-12) to canonical tables.

Input: ``online_retail.csv.gz`` or any CSV with the columns InvoiceNo, StockCode, Description,
Quantity, InvoiceDate, UnitPrice, CustomerID, Country (as exported from the original workbook:
ISO or M/D/YYYY dates, customer ids possibly written ``17850.0``); the column names of
"Online Retail II" (Invoice, Price, Customer ID) are accepted too. Several files are read as
one; an invoice found in an earlier file is not read again from a later one (the two sheets of
Online Retail II overlap in December 2010).

Order lines are the product lines of invoices with a customer. Left out, with the count of
each: cancellations (invoice ``C…``), non-product codes (postage, carriage, fees, discounts,
manual entries, samples, vouchers, bad-debt adjustments: codes that do not start with a digit,
and lines whose description is only such a charge), lines without customer, quantity <= 0 and
price <= 0. Repeated (invoice, product) lines are summed. Stock codes are compared without case.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from salescope.data.adapters import AdapterOutput
from salescope.data.adapters._common import (
    CellCheck,
    clean_id,
    columns_of,
    date,
    expand,
    finish,
    fmt,
    merge_repeated_lines,
    net_cancellations,
    number,
    raise_bad_cells,
    require,
    split_reused_orders,
    text,
    unreadable,
)
from salescope.data.io import read_raw
from salescope.domain.statuses import CustomerStatus

SOURCE = "online-retail"
REQUIRED = ("InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID")
OPTIONAL = ("Description", "Country")
# the same columns as named in "Online Retail II" (2009-2011)
ALIASES = {"Invoice": "InvoiceNo", "Price": "UnitPrice", "Customer ID": "CustomerID"}
ROW = "__row__"
# how spreadsheet exports write an empty customer id
NO_VALUE = ("nan", "NaN", "NAN", "None", "null", "NULL", "NA", "N/A")

# A product's stock code starts with a digit (85123A, 22423, 15056bl); service, fee and voucher
# codes do not (POST, DOT, C2, M, D, S, B, BANK CHARGES, AMAZONFEE, CRUK, PADS, gift_0001_20,
# DCGSSGIRL). A few charges carry a product-like code: recognised by a description that is
# nothing but the charge.
PRODUCT_CODE = r"^\d"
NOT_PRODUCT = (
    "not a product (postage, carriage, fees, discounts, manual entries, samples, vouchers, "
    "adjustments: stock code not starting with a digit, or a charge's description)"
)
CANCELLATION = "cancellation (invoice number starting with C)"
CHARGE_DESCRIPTION = (
    r"(?i)^(next day |dotcom )?(carriage|postage|delivery|shipping|packing charge|"
    r"bank charges?|manual|discount|adjustment|amazon fee|commission)s?$"
)


def from_online_retail(paths: Sequence[str | Path]) -> AdapterOutput:
    """Convert UCI Online Retail CSV files (or directories holding them) to canonical tables.

    Returns orders, customers (with ``country`` and ``region`` = country) and products (name =
    most frequent description, unit_price = median price), every table validated. Bad input
    (missing column, unreadable value, unknown file) raises InputError naming file, line and
    column.
    """
    data, other = expand(paths)
    output = AdapterOutput(source=SOURCE, tables={})
    for path in other:
        output.notes.append(f"ignored {path.name}: not a CSV file")
    parts = [
        _read(path).with_columns(pl.lit(i, dtype=pl.UInt32).alias("file"))
        for i, path in enumerate(data)
    ]
    lines = pl.concat(parts, how="vertical")
    origin = ", ".join(p.name for p in data)
    orders = _orders(output, lines, origin)
    finish(output, "orders", orders.drop("country", "description"), origin)
    finish(output, "customers", _customers(output, orders), origin)
    finish(output, "products", _products(orders), origin)
    return output


def _read(path: Path) -> pl.DataFrame:
    """One file's lines, typed; unreadable cells raise InputError with their line."""
    columns = [ALIASES.get(c, c) for c in columns_of(path)]
    require(path, columns, REQUIRED, "UCI Online Retail")
    frame, offset, label = read_raw(path)
    frame = frame.rename({c: ALIASES.get(c.strip(), c.strip()) for c in frame.columns})
    for name in OPTIONAL:
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(name))
    quantity = number(pl.col("Quantity"), frame.schema["Quantity"])
    price = number(pl.col("UnitPrice"), frame.schema["UnitPrice"])
    day = date(pl.col("InvoiceDate"), frame.schema["InvoiceDate"])
    checks: list[CellCheck] = [
        unreadable("Quantity", pl.col("Quantity"), quantity, "is not a number"),
        unreadable("UnitPrice", pl.col("UnitPrice"), price, "is not a number"),
        unreadable(
            "InvoiceDate",
            pl.col("InvoiceDate"),
            day,
            "is not a date (YYYY-MM-DD hh:mm or M/D/YYYY h:mm)",
        ),
    ]
    raise_bad_cells(frame, checks, file=str(path), offset=offset, row_label=label)
    return frame.select(
        clean_id(pl.col("InvoiceNo"), frame.schema["InvoiceNo"]).alias("invoice"),
        clean_id(pl.col("StockCode"), frame.schema["StockCode"]).alias("code"),
        text(pl.col("Description")).alias("description"),
        quantity.alias("quantity"),
        day.alias("order_date"),
        price.alias("price"),
        clean_id(pl.col("CustomerID"), frame.schema["CustomerID"])
        .replace(list(NO_VALUE), None)
        .alias("customer_id"),
        text(pl.col("Country")).alias("country"),
    )


def _orders(output: AdapterOutput, lines: pl.DataFrame, origin: str) -> pl.DataFrame:
    invoice, code = pl.col("invoice"), pl.col("code")
    reasons: tuple[tuple[str, pl.Expr], ...] = (
        ("no invoice number", invoice.is_null()),
        (
            "invoice already read from an earlier file (files overlapping in time)",
            pl.col("file") != pl.col("file").min().over("invoice"),
        ),
        (CANCELLATION, invoice.str.to_uppercase().str.starts_with("C")),
        ("no stock code", code.is_null()),
        (
            NOT_PRODUCT,
            ~code.str.contains(PRODUCT_CODE)
            | pl.col("description").fill_null("").str.contains(CHARGE_DESCRIPTION),
        ),
        ("no customer", pl.col("customer_id").is_null()),
        ("no date", pl.col("order_date").is_null()),
        ("quantity <= 0 or empty", pl.col("quantity").fill_null(0) <= 0),
        ("unit price <= 0 or empty", pl.col("price").fill_null(0) <= 0),
    )
    earlier = pl.lit(False)
    masks: list[pl.Expr] = []
    for _, condition in reasons:
        cond = condition.fill_null(False)
        masks.append(cond & ~earlier)
        earlier = earlier | cond
    row = lines.select(*[m.sum().alias(f"c{i}") for i, m in enumerate(masks)], pl.len()).row(0)
    for (reason, _), count in zip(reasons, row[:-1], strict=True):
        output.drop("orders", reason, int(count))
    output.notes.append(f"invoice lines read: {fmt(row[-1])} from {origin}")
    charges = (
        lines.filter(masks[[r for r, _ in reasons].index(NOT_PRODUCT)])
        .group_by("code")
        .agg(pl.len(), pl.col("description").drop_nulls().first())
        .sort(["len", "code"], descending=[True, False])
    )
    if charges.height:
        shown = ", ".join(
            f"{code} ({description}) {fmt(count)}"
            for code, count, description in charges.head(12).iter_rows()
        )
        more = f", and {charges.height - 12} more codes" if charges.height > 12 else ""
        output.notes.append(f"non-product lines left out, by code: {shown}{more}")

    kept = lines.filter(~earlier)
    as_written, folded = kept.select(
        code.n_unique(), code.str.to_uppercase().n_unique().alias("folded")
    ).row(0)
    if as_written != folded:
        output.notes.append(
            f"stock codes compared without case (85123a = 85123A): {as_written - folded} codes "
            "written in both cases"
        )
    kept = kept.with_columns(code.str.to_uppercase()).with_row_index(ROW)
    kept = _net_cancellations(
        output, lines, masks[[r for r, _ in reasons].index(CANCELLATION)], kept
    )
    core = kept.lazy().select(
        ROW,
        "customer_id",
        pl.col("invoice").alias("order_id"),
        "order_date",
        pl.col("code").alias("product_id"),
        "quantity",
        (pl.col("quantity") * pl.col("price")).alias("amount"),
    )
    core = split_reused_orders(output, core, what="invoice number")
    core = merge_repeated_lines(output, core, index=ROW, what="product", order="invoice")
    # a merged line keeps the row index, so the description and country, of its first line
    return (
        core.join(
            kept.lazy().select(ROW, "description", "country"),
            on=ROW,
            how="left",
            maintain_order="left",
        )
        .select(
            "customer_id",
            "order_id",
            "order_date",
            "product_id",
            "quantity",
            pl.col("amount").round(6),
            (pl.col("amount") / pl.col("quantity")).round(6).alias("unit_price"),
            "description",
            "country",
        )
        .collect()
    )


def _net_cancellations(
    output: AdapterOutput, lines: pl.DataFrame, cancelled: pl.Expr, kept: pl.DataFrame
) -> pl.DataFrame:
    """Take the cancellations' units off the orders they cancel: each cancellation line
    (customer, product, negative quantity) is netted against the customer's order lines of the
    product on or before its date, latest first; lines cancelled in full are left out. The
    file does not say which invoice a cancellation cancels, so the latest is assumed."""
    product = pl.col("code").str.contains(PRODUCT_CODE) & ~pl.col("description").fill_null(
        ""
    ).str.contains(CHARGE_DESCRIPTION)
    cancellations = lines.filter(
        cancelled.fill_null(False)
        & pl.col("customer_id").is_not_null()
        & pl.col("order_date").is_not_null()
        & pl.col("code").is_not_null()
        & product.fill_null(False)
        & (pl.col("quantity") < 0)
    ).select(
        "customer_id",
        pl.col("code").str.to_uppercase().alias("product_id"),
        "order_date",
        (-pl.col("quantity")).alias("quantity"),
    )
    if cancellations.height == 0:
        return kept
    netted, done = net_cancellations(kept.rename({"code": "product_id"}), cancellations, index=ROW)
    output.drop(
        "orders",
        "order line fully cancelled (netted against a later C invoice)",
        done.lines_removed,
    )
    output.notes.append(
        f"cancellations netted against the orders they cancel: {fmt(done.cancelled_units)} "
        f"units taken off {fmt(done.lines_reduced)} order lines ({fmt(done.lines_removed)} "
        f"cancelled in full); {fmt(done.unmatched_units)} cancelled units matched no earlier "
        "order of the customer"
    )
    return netted.rename({"product_id": "code"})


def _customers(output: AdapterOutput, orders: pl.DataFrame) -> pl.DataFrame:
    """Customers with at least one order line; their country is the one most of their lines
    name."""
    countries = (
        orders.filter(pl.col("country").is_not_null())
        .group_by("customer_id", "country")
        .len()
        .sort(["customer_id", "len", "country"], descending=[False, True, False])
    )
    several = countries.group_by("customer_id").len().filter(pl.col("len") > 1).height
    if several:
        output.notes.append(
            f"{several} customers ordered from more than one country: their most frequent one "
            "is kept"
        )
    main = countries.unique("customer_id", keep="first", maintain_order=True).select(
        "customer_id", "country"
    )
    customers = (
        orders.select("customer_id")
        .unique(maintain_order=True)
        .join(main, on="customer_id", how="left")
        .sort("customer_id")
    )
    return customers.select(
        "customer_id",
        pl.col("country").alias("region"),
        pl.lit(CustomerStatus.SERVED.value).alias("status"),
        "country",
    )


def _products(orders: pl.DataFrame) -> pl.DataFrame:
    """Products ordered: name = most frequent description, unit_price = median line price."""
    names = (
        orders.filter(pl.col("description").is_not_null())
        .group_by("product_id", "description")
        .len()
        .sort(["product_id", "len", "description"], descending=[False, True, False])
        .unique("product_id", keep="first", maintain_order=True)
        .select("product_id", pl.col("description").alias("name"))
    )
    prices = orders.group_by("product_id").agg(pl.col("unit_price").median())
    return (
        prices.join(names, on="product_id", how="left")
        .sort("product_id")
        .select("product_id", "name", "unit_price")
    )
