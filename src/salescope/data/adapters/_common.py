"""Helpers shared by the adapters: finding files, cleaning ids and numbers, reporting bad cells.

Everything here works on whole columns (Polars expressions); nothing loops over rows.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from salescope.data.adapters import AdapterOutput
from salescope.data.io import CSV_SUFFIXES, PARQUET_SUFFIXES, list_files, validate_frame
from salescope.domain.errors import InputError, Issue
from salescope.domain.schemas import TABLES

MAX_ISSUES = 20
DATA_SUFFIXES = (*CSV_SUFFIXES, *PARQUET_SUFFIXES)
EXCEL_SUFFIXES = (".xlsx", ".xls", ".xlsm")
# whitespace at either end, or a whole number written as a decimal ("123.0")
_DIRTY_ID = r"^\s|\s$|^\d+\.0*$"


def expand(paths: Sequence[str | Path]) -> tuple[list[Path], list[Path]]:
    """The data files among ``paths`` (directories are listed, not recursed) and the others.

    A path that does not exist is an InputError; so is finding no data file at all.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files = list_files(paths)
    data = [p for p in dict.fromkeys(files) if p.name.lower().endswith(DATA_SUFFIXES)]
    other = [p for p in dict.fromkeys(files) if p not in data]
    excel = [p for p in other if p.name.lower().endswith(EXCEL_SUFFIXES)]
    if excel and not data:
        raise InputError.single(
            str(excel[0]), "is an Excel workbook: save its sheet as CSV (UTF-8) and give that"
        )
    if not data:
        shown = ", ".join(str(Path(p)) for p in paths) or "(no path)"
        raise InputError.single(shown, "holds no CSV or Parquet file")
    return data, other


def is_parquet(path: Path) -> bool:
    return path.name.lower().endswith(PARQUET_SUFFIXES)


def sniff_separator(header: str) -> str:
    counts = {sep: header.count(sep) for sep in (",", ";", "\t", "|")}
    best = max(counts, key=lambda s: counts[s])
    return best if counts[best] > 0 else ","


def first_line(path: Path) -> str:
    """The header line of a (possibly gzipped) text file, or an InputError naming the file."""
    try:
        if path.name.lower().endswith(".gz"):
            with gzip.open(path, "rt", encoding="utf-8", errors="replace") as zipped:
                return zipped.readline()
        with path.open(encoding="utf-8", errors="replace") as handle:
            return handle.readline()
    except (OSError, EOFError) as exc:
        raise InputError.single(str(path), f"cannot be read: {exc}") from exc


def columns_of(path: Path) -> list[str]:
    """Column names of a CSV (from its header line) or Parquet file (from its schema)."""
    if is_parquet(path):
        try:
            return list(pl.scan_parquet(path).collect_schema().names())
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise InputError.single(str(path), f"cannot be read as Parquet: {first(exc)}") from exc
    header = first_line(path).lstrip("\ufeff").rstrip("\r\n")
    if not header.strip():
        raise InputError.single(str(path), "is empty: expected a header line")
    separator = sniff_separator(header)
    return [c.strip().strip('"').strip() for c in header.split(separator)]


def first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def require(path: Path, columns: Iterable[str], required: Iterable[str], what: str) -> None:
    """InputError naming each required column missing from ``path``."""
    present = set(columns)
    missing = [c for c in required if c not in present]
    if missing:
        found = ", ".join(columns) or "none"
        raise InputError(
            [
                Issue(
                    file=str(path),
                    column=c,
                    problem=f"required column of {what} is missing (columns found: {found})",
                )
                for c in missing
            ]
        )


def clean_id(expr: pl.Expr, dtype: pl.DataType, *, dirty: bool = True) -> pl.Expr:
    """An identifier as a clean string: stripped, empty -> null, "123.0" -> "123".

    ``dirty=False`` (known clean strings) skips the string rewriting, which matters on tens of
    millions of rows.
    """
    if dtype == pl.String:
        if not dirty:
            return expr
        return expr.str.strip_chars().str.replace(r"^(\d+)\.0*$", "${1}").replace("", None)
    if dtype.is_integer():
        return expr.cast(pl.String)
    if dtype.is_float():
        whole = expr.is_finite() & (expr == expr.round(0))
        return (
            pl.when(whole)
            .then(expr.cast(pl.Int64, strict=False).cast(pl.String))
            .otherwise(expr.cast(pl.String))
        )
    return expr.cast(pl.String)


def dirty_id_columns(frame: pl.LazyFrame | pl.DataFrame, names: Sequence[str]) -> set[str]:
    """Those of the string columns ``names`` that hold a value ``clean_id`` would change."""
    schema = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
    strings = [n for n in names if schema[n] == pl.String]
    if not strings:
        return set()
    query = frame.lazy().select(
        (pl.col(n).str.contains(_DIRTY_ID) | (pl.col(n) == "")).any().alias(n) for n in strings
    )
    row = query.collect(engine="streaming").row(0)
    return {n for n, is_dirty in zip(strings, row, strict=True) if is_dirty}


def text(expr: pl.Expr) -> pl.Expr:
    """A free-text cell: stripped, inner runs of spaces collapsed, empty -> null."""
    return expr.cast(pl.String).str.strip_chars().str.replace_all(r"\s+", " ").replace("", None)


def number(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A number from a numeric column or from text such as ``$1,234.50``, ``-$5``, ``($5.00)``.

    Unreadable text gives null: pair it with ``unreadable`` to report it.
    """
    if dtype.is_numeric():
        return expr.cast(pl.Float64)
    if dtype == pl.Boolean:
        return expr.cast(pl.Float64)
    cleaned = expr.cast(pl.String).str.replace_all(r"[\s$,£€]", "")
    signed = (
        pl.when(cleaned.str.contains(r"^\(.*\)$"))
        .then(pl.concat_str(pl.lit("-"), cleaned.str.slice(1).str.head(-1)))
        .otherwise(cleaned)
    )
    value = signed.replace("", None).cast(pl.Float64, strict=False)
    return pl.when(value.is_finite()).then(value)


def date(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A date from a Date/Datetime column or from text: ISO (time ignored) or MM/DD/YYYY."""
    if dtype == pl.Date:
        return expr
    if isinstance(dtype, pl.Datetime):
        return expr.dt.date()
    head = expr.cast(pl.String).str.strip_chars().str.extract(r"^([^\sT]+)")
    return pl.coalesce(
        head.str.to_date("%Y-%m-%d", strict=False),
        head.str.to_date("%m/%d/%Y", strict=False),
    )


@dataclass(frozen=True, slots=True)
class CellCheck:
    """Cells that are present but unreadable: reported as an InputError naming each."""

    column: str
    bad: pl.Expr
    problem: str


def unreadable(column: str, raw: pl.Expr, parsed: pl.Expr, problem: str) -> CellCheck:
    present = raw.cast(pl.String).str.strip_chars().replace("", None).is_not_null()
    return CellCheck(column, present & parsed.is_null(), problem)


def raise_bad_cells(
    frame: pl.LazyFrame | pl.DataFrame,
    checks: Sequence[CellCheck],
    *,
    file: str,
    offset: int,
    row_label: str,
    counts: Sequence[int] | None = None,
) -> None:
    """Raise an InputError listing (up to MAX_ISSUES) cells that fail ``checks``.

    ``counts`` (the number of bad cells per check, when already known) saves a pass.
    """
    if not checks:
        return
    lazy = frame.lazy()
    if counts is None:
        counts = (
            lazy.select(c.bad.fill_null(False).sum().alias(f"c{i}") for i, c in enumerate(checks))
            .collect(engine="streaming")
            .row(0)
        )
    if not any(counts):
        return
    issues: list[Issue] = []
    indexed = lazy.with_row_index("__row__")
    for check, count in zip(checks, counts, strict=True):
        if not count:
            continue
        hits = (
            indexed.filter(check.bad.fill_null(False))
            .select("__row__", pl.col(check.column).cast(pl.String).alias("value"))
            .head(MAX_ISSUES)
            .collect()
        )
        issues.extend(
            Issue(
                file=file,
                row=int(row) + offset,
                column=check.column,
                value=value,
                problem=check.problem,
                row_label=row_label,
            )
            for row, value in hits.iter_rows()
        )
    issues.sort(key=lambda i: i.row or 0)
    raise InputError(issues[:MAX_ISSUES], int(sum(counts)))


def duplicated_rows(
    lines: pl.LazyFrame, keys: Sequence[str], index: str, *, columns: Sequence[str] = ()
) -> pl.DataFrame:
    """The rows of ``lines`` whose ``keys`` occur more than once (exactly), with their ``index``.

    A hash of the keys is collected and sorted (8 bytes a row) to find candidate values; only the
    rows holding one are then compared exactly. This avoids a group-by or a window with one
    group per row, which costs several times the frame's memory on tens of millions of rows.
    """
    key = pl.struct(list(keys)).hash()
    hashes = lines.select(key.alias("h")).collect(engine="streaming").to_series().sort()
    repeated = hashes.filter(hashes == hashes.shift(1)).unique()
    wanted = list(dict.fromkeys([index, *keys, *columns]))
    if repeated.len() == 0:
        return lines.select(wanted).head(0).collect()
    candidates = (
        lines.filter(key.is_in(repeated.implode())).select(wanted).collect(engine="streaming")
    )
    return candidates.filter(pl.struct(list(keys)).is_duplicated())


def finish(output: AdapterOutput, name: str, frame: pl.DataFrame, origin: str) -> None:
    """Validate ``frame`` as the canonical table ``name`` and store it in ``output``.

    A failure here is a bug of the adapter, not a problem of the user's files, and says so.
    Extra text columns (zip codes, UPCs) stay text rather than turning into numbers.
    """
    schema = TABLES[name]
    label = f"{name} table converted from {origin}"
    try:
        typed = validate_frame(frame, schema, file=label)
    except InputError as error:
        raise RuntimeError(
            f"the {output.source} adapter produced an invalid {name} table (a bug in the "
            f"adapter, not in the input files):\n{error}"
        ) from error
    keep_text = [
        c
        for c, dtype in frame.schema.items()
        if c not in schema and dtype == pl.String and typed.schema.get(c) != pl.String
    ]
    if keep_text:
        typed = typed.with_columns(frame.select(keep_text))
    output.tables[name] = typed


def fmt(value: float) -> str:
    """A count for a note: 25,060,495."""
    return f"{value:,.0f}"


def split_reused_orders(output: AdapterOutput, lines: pl.LazyFrame, *, what: str) -> pl.LazyFrame:
    """An order id must name one customer's order of one day: split the ids that do not.

    Each (customer, date) of such an id becomes its own order, ``ID-CUSTOMER-YYYYMMDD``, and a
    note says how many. Found with a streaming group-by (one group per order, min != max).
    """
    reused = (
        lines.group_by("order_id")
        .agg(
            (pl.col("customer_id").min() != pl.col("customer_id").max()).alias("customers"),
            (pl.col("order_date").min() != pl.col("order_date").max()).alias("dates"),
            pl.len().alias("lines"),
            pl.col("order_date").min().alias("first"),
            pl.col("order_date").max().alias("last"),
        )
        .filter(pl.col("customers") | pl.col("dates"))
        .collect(engine="streaming")
    )
    if reused.height == 0:
        return lines
    span = reused.select(pl.col("lines").sum(), pl.col("first").min(), pl.col("last").max())
    count, first_day, last_day = span.row(0)
    output.notes.append(
        f"{fmt(reused.height)} {what}s ({fmt(count)} lines, {first_day} to {last_day}) were "
        "used for more than one customer or date: each customer and date of such an order is "
        "its own order, with id ID-CUSTOMER-YYYYMMDD"
    )
    unique_id = pl.concat_str(
        pl.col("order_id"),
        pl.col("customer_id"),
        pl.col("order_date").dt.strftime("%Y%m%d"),
        separator="-",
    )
    return lines.with_columns(
        order_id=pl.when(pl.col("order_id").is_in(reused["order_id"].implode()))
        .then(unique_id)
        .otherwise(pl.col("order_id"))
    )


def merge_repeated_lines(
    output: AdapterOutput, lines: pl.LazyFrame, *, index: str, what: str, order: str
) -> pl.LazyFrame:
    """One line per (order, product): repeated lines are summed (quantity, amount).

    The merged line takes the place of the group at the end of the table. An amount is summed
    only when every line of the group has one. The lines removed are accounted as dropped.
    """
    repeated = duplicated_rows(
        lines,
        ["order_id", "product_id"],
        index,
        columns=["customer_id", "order_date", "quantity", "amount"],
    ).sort(index)
    if repeated.height == 0:
        return lines
    merged = repeated.group_by("order_id", "product_id", maintain_order=True).agg(
        pl.col(index).first(),
        pl.col("customer_id").first(),
        pl.col("order_date").first(),
        pl.col("quantity").sum(),
        pl.when(pl.col("amount").null_count() == 0).then(pl.col("amount").sum()).alias("amount"),
    )
    removed = repeated.height - merged.height
    output.drop("orders", f"repeated ({order}, {what}) line, summed into one line", removed)
    output.notes.append(
        f"{fmt(repeated.height)} lines repeat the {what} of another line of the same {order}: "
        f"merged into {fmt(merged.height)} lines (quantities and amounts summed; "
        f"{fmt(removed)} lines fewer)"
    )
    columns = lines.collect_schema().names()
    return pl.concat(
        [
            lines.filter(~pl.col(index).is_in(repeated[index].implode())),
            merged.lazy().select(columns),
        ]
    )


@dataclass(frozen=True, slots=True)
class Netting:
    """What netting cancellations against the orders they cancel did."""

    cancelled_units: float  # units of cancellations matched to earlier order lines
    lines_reduced: int  # order lines whose quantity went down
    lines_removed: int  # order lines cancelled in full (left out)
    unmatched_units: float  # cancelled units without an earlier order line to take them from


def net_cancellations(
    purchases: pl.DataFrame, cancellations: pl.DataFrame, *, index: str, max_rounds: int = 200
) -> tuple[pl.DataFrame, Netting]:
    """Take each cancellation (``customer_id, product_id, order_date, quantity`` > 0 units
    cancelled) off the same customer's order lines of the product dated on or before it, the
    latest first, until it is used up; returns the purchases (``index``, ``customer_id,
    product_id, order_date, quantity`` and any other column) with their quantities netted —
    lines cancelled in full are left out — and what was done.

    Vectorised by rounds: in each round every open cancellation takes what it can from the
    latest open line before it (several cancellations of one line share it in date order); a
    line used up is closed, so a cancellation still open moves on to the line before."""
    remaining = purchases.select(index, "customer_id", "product_id", "order_date", "quantity")
    remaining = remaining.rename({"quantity": "_left"}).sort("order_date")
    open_ = (
        cancellations.select("customer_id", "product_id", "order_date", "quantity")
        .filter(pl.col("quantity") > 0)
        .with_row_index("_cid")
        .rename({"quantity": "_want"})
    )
    total = float(open_["_want"].sum()) if open_.height else 0.0
    unmatched = 0.0
    for _ in range(max_rounds):
        if open_.height == 0:
            break
        lines = remaining.filter(pl.col("_left") > 0)
        matched = open_.sort("order_date").join_asof(
            lines.select(index, "customer_id", "product_id", pl.col("order_date").alias("_d")),
            left_on="order_date",
            right_on="_d",
            by=["customer_id", "product_id"],
            strategy="backward",
            check_sortedness=False,  # sorted by date above; the groups need no more
        )
        lost = matched.filter(pl.col(index).is_null())
        unmatched += float(lost["_want"].sum()) if lost.height else 0.0
        matched = matched.filter(pl.col(index).is_not_null()).join(
            lines.select(index, "_left"), on=index
        )
        if matched.height == 0:
            break
        taken = (
            matched.sort(index, "order_date", "_cid")
            .with_columns(
                (pl.col("_want").cum_sum().over(index) - pl.col("_want")).alias("_before")
            )
            .with_columns(
                pl.min_horizontal(
                    pl.col("_want"), (pl.col("_left") - pl.col("_before")).clip(lower_bound=0)
                ).alias("_take")
            )
        )
        used = taken.group_by(index).agg(pl.col("_take").sum())
        remaining = (
            remaining.join(used, on=index, how="left")
            .with_columns((pl.col("_left") - pl.col("_take").fill_null(0)).alias("_left"))
            .drop("_take")
        )
        open_ = (
            taken.with_columns((pl.col("_want") - pl.col("_take")).alias("_want"))
            .filter(pl.col("_want") > 1e-9)
            .select("_cid", "customer_id", "product_id", "order_date", "_want")
        )
    else:
        unmatched += float(open_["_want"].sum()) if open_.height else 0.0
    netted = purchases.join(remaining.select(index, "_left"), on=index, how="left")
    reduced = netted.filter(pl.col("_left") < pl.col("quantity"))
    removed = int((reduced["_left"] <= 1e-9).sum())
    out = (
        netted.filter(pl.col("_left") > 1e-9)
        .with_columns(pl.col("_left").alias("quantity"))
        .drop("_left")
    )
    return out, Netting(total - unmatched, reduced.height, removed, unmatched)
