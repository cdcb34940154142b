"""Iowa liquor sales (State of Iowa open data) to canonical orders, customers and products.

Input files are recognised by their columns (their names are a fallback):

- the cleaned sales lines (``iowa_sales_2012_2022.parquet``, or the same columns as CSV):
  date, invoice_line, store_number, item_number, bottles_sold, sale_dollars;
- the portal's raw 24-column export (header starting ``Invoice/Item Number``; ``$`` amounts,
  MM/DD/YYYY dates, ``Store Location`` holding address, city + zip and ``(lat, lon)``);
- the store list ``iowa_stores.csv`` and the product list ``iowa_products.csv``;
- population by city and by county and year (semicolon-separated).

Any subset may be given. Sales lines (from the cleaned file and/or raw exports) become orders:
the store is the customer, the invoice (the line number without its last 5 digits) the order,
the item the product, bottles the quantity and sale dollars the amount. The store and product
lists, completed by what raw exports say about stores and items, become customers and
products; population files add the city's and the county's population to each store.

The big sales file is never held twice in memory: it is scanned lazily several times (counts,
invoice consistency, duplicate lines, the final table), each scan streaming.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from salescope.data.adapters import AdapterOutput
from salescope.data.adapters._common import (
    CellCheck,
    clean_id,
    date,
    dirty_id_columns,
    duplicated_rows,
    finish,
    first,
    first_line,
    fmt,
    is_parquet,
    merge_repeated_lines,
    number,
    raise_bad_cells,
    sniff_separator,
    split_reused_orders,
    text,
    unreadable,
)
from salescope.data.adapters.iowa_files import (
    _LINE_COLUMNS,
    CITY_POPULATION,
    COUNTY_POPULATION,
    LINE_DIGITS,
    ORDER_COLUMNS,
    PRODUCTS,
    RAW,
    ROW,
    SALES,
    SOURCE,
    STORES,
    _classify,
    _Files,
    _read_csv,
    _read_raw_export,
)
from salescope.data.adapters.iowa_stores import (
    _column,
    _customers,
    _latest,
    _merge,
    _numbers,
    _unique_ids,
)
from salescope.domain.errors import InputError


def from_iowa(paths: Sequence[str | Path]) -> AdapterOutput:
    """Convert Iowa liquor files (or directories holding them) to canonical tables.

    Returns orders when sales lines are given, customers when a store list or a raw export is,
    products when a product list or a raw export is; every table validated. Dropped lines are
    accounted for in ``dropped``, other decisions in ``notes``. Bad input (unknown file,
    missing column, unreadable value) raises InputError naming file, row and column.
    """
    files = _classify(paths)
    output = AdapterOutput(source=SOURCE, tables={})
    for path in files.ignored:
        output.notes.append(f"ignored {path.name}: not a CSV or Parquet file")

    raw_frames = [_read_raw_export(path) for path in files.by_role[RAW]]
    line_sources = [_sales_source(path) for path in files.by_role[SALES]]
    line_sources += [_raw_source(path, frame) for path, frame in raw_frames]
    if line_sources:
        _orders(output, line_sources)

    customers = _customers(output, files, raw_frames)
    products = _products(output, files, raw_frames)
    if customers is not None:
        finish(output, "customers", customers, files.origin(STORES, RAW))
    elif files.by_role[CITY_POPULATION] or files.by_role[COUNTY_POPULATION]:
        output.notes.append(
            "population files not used: they complete stores, and no store list or raw export "
            "was given"
        )
    if products is not None:
        finish(output, "products", products, files.origin(PRODUCTS, RAW))
    _cross_references(output)
    return output


# ----------------------------------------------------------------------------- orders


@dataclass(slots=True)
class _LineSource:
    """The sales lines of one file: its raw columns, lazily, and their normalised form."""

    path: Path
    raw: pl.LazyFrame
    normalised: list[pl.Expr]  # invoice_line, order_date, customer_id, product_id, quantity, sale
    checks: list[CellCheck]
    offset: int
    row_label: str


def _sales_source(path: Path) -> _LineSource:
    if is_parquet(path):
        return _line_source(path, pl.scan_parquet(path), SALES, 1, "row")
    lazy = pl.scan_csv(
        path, separator=sniff_separator(first_line(path)), infer_schema=False, encoding="utf8-lossy"
    )
    return _line_source(path, lazy, SALES, 2, "line")


def _raw_source(path: Path, frame: pl.DataFrame) -> _LineSource:
    offset, label = (1, "row") if is_parquet(path) else (2, "line")
    return _line_source(path, frame.lazy(), RAW, offset, label)


def _line_source(path: Path, lazy: pl.LazyFrame, role: str, offset: int, label: str) -> _LineSource:
    invoice, day, store, item, bottles, dollars = _LINE_COLUMNS[role]
    try:
        schema = lazy.collect_schema()
        dirty = dirty_id_columns(lazy, [invoice, store, item])
    except pl.exceptions.PolarsError as exc:
        raise InputError.single(str(path), f"cannot be read: {first(exc)}") from exc
    day_value = date(pl.col(day), schema[day])
    quantity = number(pl.col(bottles), schema[bottles])
    sale = number(pl.col(dollars), schema[dollars])
    checks: list[CellCheck] = []
    if schema[day] != pl.Date and not isinstance(schema[day], pl.Datetime):
        checks.append(
            unreadable(day, pl.col(day), day_value, "is not a date (MM/DD/YYYY or YYYY-MM-DD)")
        )
    if not schema[bottles].is_numeric():
        checks.append(unreadable(bottles, pl.col(bottles), quantity, "is not a number"))
    if not schema[dollars].is_numeric():
        checks.append(unreadable(dollars, pl.col(dollars), sale, "is not an amount"))
    normalised = [
        clean_id(pl.col(invoice), schema[invoice], dirty=invoice in dirty).alias("invoice_line"),
        day_value.alias("order_date"),
        clean_id(pl.col(store), schema[store], dirty=store in dirty).alias("customer_id"),
        clean_id(pl.col(item), schema[item], dirty=item in dirty).alias("product_id"),
        quantity.alias("quantity"),
        sale.alias("sale"),
    ]
    return _LineSource(path, lazy, normalised, checks, offset, label)


# Reasons a sales line is not an order line, in the order they are tested (a line is counted
# under the first that applies).
_LINE_DROPS: tuple[tuple[str, pl.Expr], ...] = (
    (
        "no invoice/line number (or one too short to hold an invoice number)",
        pl.col("invoice_line").is_null() | (pl.col("invoice_line").str.len_chars() <= LINE_DIGITS),
    ),
    ("no store number", pl.col("customer_id").is_null()),
    ("no item number", pl.col("product_id").is_null()),
    ("no date", pl.col("order_date").is_null()),
    ("no bottles sold", pl.col("quantity").is_null()),
    ("bottles sold <= 0 (returns and adjustments)", pl.col("quantity") <= 0),
)


def _exclusive(conditions: Sequence[pl.Expr]) -> list[pl.Expr]:
    """Each condition, false where an earlier one holds."""
    masks: list[pl.Expr] = []
    earlier: pl.Expr | None = None
    for condition in conditions:
        cond = condition.fill_null(False)
        masks.append(cond if earlier is None else cond & ~earlier)
        earlier = cond if earlier is None else earlier | cond
    return masks


def _orders(output: AdapterOutput, sources: list[_LineSource]) -> None:
    conditions = [cond for _, cond in _LINE_DROPS]
    drop_masks = _exclusive(conditions)
    keep = ~pl.any_horizontal(c.fill_null(False) for c in conditions)
    read = 0
    dropped = [0] * len(_LINE_DROPS)
    no_amount = nonpositive_amount = odd_numbers = 0
    kept_parts: list[pl.LazyFrame] = []
    for src in sources:
        flags = [c.bad.fill_null(False).alias(f"__bad{i}") for i, c in enumerate(src.checks)]
        query = src.raw.select(*src.normalised, *flags).select(
            pl.len().alias("rows"),
            *[pl.col(f"__bad{i}").sum() for i in range(len(flags))],
            *[m.sum().alias(f"__drop{i}") for i, m in enumerate(drop_masks)],
            (keep & pl.col("sale").is_null()).sum().alias("no_amount"),
            (keep & (pl.col("sale") <= 0)).sum().alias("nonpositive_amount"),
            (keep & ~pl.col("invoice_line").str.contains(r"\d{5}$")).sum().alias("odd"),
        )
        try:
            stats = query.collect(engine="streaming").row(0, named=True)
        except pl.exceptions.PolarsError as exc:
            raise InputError.single(str(src.path), f"cannot be read: {first(exc)}") from exc
        raise_bad_cells(
            src.raw,
            src.checks,
            file=str(src.path),
            offset=src.offset,
            row_label=src.row_label,
            counts=[int(stats[f"__bad{i}"]) for i in range(len(flags))],
        )
        read += int(stats["rows"])
        for i in range(len(_LINE_DROPS)):
            dropped[i] += int(stats[f"__drop{i}"])
        no_amount += int(stats["no_amount"])
        nonpositive_amount += int(stats["nonpositive_amount"])
        odd_numbers += int(stats["odd"])
        kept_parts.append(
            src.raw.select(src.normalised)
            .filter(keep)
            .with_columns(amount=pl.when(pl.col("sale") > 0).then(pl.col("sale")))
            .drop("sale")
        )
    for (reason, _), count in zip(_LINE_DROPS, dropped, strict=True):
        output.drop("orders", reason, count)
    output.notes.append(
        f"sales lines read: {fmt(read)} from {', '.join(s.path.name for s in sources)}"
    )
    each = " (counted in each file)" if len(sources) > 1 else ""
    if nonpositive_amount:
        output.notes.append(
            f"{fmt(nonpositive_amount)} lines with bottles sold but sale dollars <= 0 (free "
            f"goods or price adjustments) are kept with the amount left empty{each}"
        )
    if no_amount:
        output.notes.append(
            f"{fmt(no_amount)} lines with bottles sold but no sale dollars are kept with the "
            f"amount left empty{each}"
        )
    if odd_numbers:
        output.notes.append(
            f"{fmt(odd_numbers)} line numbers do not end in {LINE_DIGITS} digits; their invoice is "
            f"still the line number without its last {LINE_DIGITS} characters"
        )

    lines = pl.concat(kept_parts).with_row_index(ROW)
    if len(sources) > 1:
        repeats = duplicated_rows(lines, ["invoice_line"], ROW).sort(ROW)
        again = repeats.filter(~pl.col("invoice_line").is_first_distinct())[ROW]
        output.drop(
            "orders", "line number already read (the same line in several files)", again.len()
        )
        if again.len():
            lines = lines.filter(~pl.col(ROW).is_in(again.implode()))
    lines = lines.with_columns(order_id=pl.col("invoice_line").str.head(-LINE_DIGITS)).drop(
        "invoice_line"
    )
    lines = split_reused_orders(output, lines, what="invoice number")
    lines = merge_repeated_lines(output, lines, index=ROW, what="item", order="invoice")
    orders = lines.select(
        *ORDER_COLUMNS[:-1], (pl.col("amount") / pl.col("quantity")).round(6).alias("unit_price")
    ).collect(engine="streaming")
    span = orders.select(
        pl.col("order_date").min().alias("a"), pl.col("order_date").max().alias("b")
    )
    if orders.height:
        output.notes.append(
            f"orders: {fmt(orders.height)} lines, {fmt(orders['order_id'].n_unique())} orders, "
            f"{span['a'][0]} to {span['b'][0]}"
        )
    finish(output, "orders", orders, ", ".join(s.path.name for s in sources))


# ----------------------------------------------------------------------------- products

_PRODUCT_NUMBERS = {
    "pack_size": "Pack",
    "unit_price": "State Bottle Retail",
    "unit_cost": "State Bottle Cost",
    "bottle_volume_ml": "Bottle Volume (ml)",
    "proof": "Proof",
    "age": "Age",
}


def _product_list(output: AdapterOutput, path: Path) -> pl.DataFrame:
    frame = pl.read_parquet(path) if is_parquet(path) else _read_csv(path)
    numbers = _numbers(frame, path, _PRODUCT_NUMBERS)
    launch = date(_column(frame, "List Date"), frame.schema.get("List Date", pl.String()))
    if "List Date" in frame.columns and frame.schema["List Date"] == pl.String:
        raise_bad_cells(
            frame,
            [unreadable("List Date", pl.col("List Date"), launch, "is not a date")],
            file=str(path),
            offset=2,
            row_label="line",
        )
    products = frame.select(
        clean_id(pl.col("Item Number"), frame.schema["Item Number"]).alias("product_id"),
        text(_column(frame, "Item Description")).alias("name"),
        text(_column(frame, "Category Name")).alias("category"),
        text(_column(frame, "Vendor Name")).alias("vendor"),
        clean_id(_column(frame, "Vendor"), frame.schema.get("Vendor", pl.String())).alias(
            "vendor_id"
        ),
        *[numbers[c].alias(c) for c in ("pack_size", "unit_price", "unit_cost")],
        launch.alias("launch_date"),
        *[numbers[c].alias(c) for c in ("bottle_volume_ml", "proof", "age")],
    )
    products = _unique_ids(output, "products", products, "product_id", "item", path.name)
    return _plausible_products(output, products, path.name)


def _plausible_products(output: AdapterOutput, products: pl.DataFrame, origin: str) -> pl.DataFrame:
    """Pack sizes must be positive and prices not negative: other values are left empty."""
    rules = {
        "pack_size": pl.col("pack_size") <= 0,
        "unit_price": pl.col("unit_price") < 0,
        "unit_cost": pl.col("unit_cost") < 0,
    }
    counts = products.select(v.sum().alias(k) for k, v in rules.items()).row(0, named=True)
    for column, count in counts.items():
        if count:
            output.notes.append(
                f"{origin}: {count} items with {column} "
                f"{'<= 0' if column == 'pack_size' else '< 0'}: left empty"
            )
    return products.with_columns(
        pl.when(~rule.fill_null(False)).then(pl.col(c)).alias(c) for c, rule in rules.items()
    )


def _raw_products(
    output: AdapterOutput, raw_frames: list[tuple[Path, pl.DataFrame]]
) -> pl.DataFrame:
    """Items as the raw exports describe them (latest line of each item)."""
    parts = []
    for path, frame in raw_frames:
        numbers = _numbers(
            frame,
            path,
            {
                "pack_size": "Pack",
                "unit_price": "State Bottle Retail",
                "unit_cost": "State Bottle Cost",
                "bottle_volume_ml": "Bottle Volume (ml)",
            },
        )
        parts.append(
            frame.select(
                date(pl.col("Date"), frame.schema["Date"]).alias("order_date"),
                clean_id(pl.col("Item Number"), frame.schema["Item Number"]).alias("product_id"),
                text(_column(frame, "Item Description")).alias("name"),
                text(_column(frame, "Category Name")).alias("category"),
                clean_id(_column(frame, "Category"), pl.String()).alias("category_id"),
                text(_column(frame, "Vendor Name")).alias("vendor"),
                clean_id(_column(frame, "Vendor Number"), pl.String()).alias("vendor_id"),
                *[numbers[c].alias(c) for c in ("pack_size", "unit_price", "unit_cost")],
                numbers["bottle_volume_ml"].alias("bottle_volume_ml"),
            )
        )
    lines = pl.concat(parts, how="diagonal_relaxed")
    columns = [c for c in lines.columns if c not in ("order_date", "product_id")]
    products = _latest(lines, "product_id", columns)
    names = ", ".join(p.name for p, _ in raw_frames)
    return _plausible_products(output, products, names)


def _products(
    output: AdapterOutput, files: _Files, raw_frames: list[tuple[Path, pl.DataFrame]]
) -> pl.DataFrame | None:
    path = files.one(PRODUCTS)
    listed = _product_list(output, path) if path is not None else None
    described = _raw_products(output, raw_frames) if raw_frames else None
    return _merge(listed, described, "product_id")


# ----------------------------------------------------------------------------- checks


def _cross_references(output: AdapterOutput) -> None:
    """Say how many order lines name a store or item the customer or product table lacks."""
    orders = output.tables.get("orders")
    if orders is None or orders.height == 0:
        return
    for table, key, what in (
        ("customers", "customer_id", "stores"),
        ("products", "product_id", "items"),
    ):
        known = output.tables.get(table)
        if known is None:
            output.notes.append(f"no {table} table: no file given describes the {what}")
            continue
        missing = orders.lazy().filter(~pl.col(key).is_in(known[key].implode()))
        lines, ids = (
            missing.select(pl.len(), pl.col(key).n_unique().alias("ids"))
            .collect(engine="streaming")
            .row(0)
        )
        if lines:
            share = 100 * lines / orders.height
            output.notes.append(
                f"{fmt(ids)} {what} ({fmt(lines)} order lines, {share:.1f} %) are in the "
                f"orders but not in the {table} table: their orders are kept"
            )
