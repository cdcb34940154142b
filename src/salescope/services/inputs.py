"""Reading the files and options of batch commands into validated frames.

The reference rule, the same in ``import``, ``assign``, ``coverage`` and ``next-orders``:

* a customer's ``rep_id`` must name a rep of the reps given (for an import: imported now or
  before); otherwise the command stops, naming the file, line, column and value
  (``check_rep_references``) — a customer of a rep nobody knows cannot be served or planned;
* an order line whose customer or product is not in the customers or products given (for an
  import: imported now or before) is kept, and counted in a note naming the file, how many
  lines, customers or products, the first ones and their line (``order_reference_notes``):
  orders are facts, and a catalogue or universe file is often narrower than the history.
  Without a customers (products) table there is nothing to check against.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from salescope.data.io import read_tables, row_numbering
from salescope.domain.errors import InputError, Issue
from salescope.domain.schemas import TableSchema

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_log = logging.getLogger("salescope.inputs")


def parse_date_option(value: str | None, option: str) -> dt.date | None:
    """A YYYY-MM-DD command-line option as a date, or InputError naming the option."""
    if value is None:
        return None
    text = value.strip()
    if not _ISO.match(text):
        raise InputError.single(option, "is not a date in YYYY-MM-DD form", value=value)
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError.single(option, "is not a real calendar date", value=value) from None


def read_all(
    files: Iterable[tuple[Path | None, TableSchema]], *, max_issues: int
) -> list[pl.DataFrame | None]:
    """Several files read together (``data.io.read_tables``), in the order given."""
    listed = list(files)
    frames = read_tables({str(i): f for i, f in enumerate(listed)}, max_issues=max_issues)
    return [frames[str(i)] for i in range(len(listed))]


def unknown_references(
    frame: pl.DataFrame,
    column: str,
    known: pl.Series,
    *,
    path: Path | None,
    what: str,
    max_issues: int,
    file: str | None = None,
) -> tuple[list[Issue], int]:
    """Issues for rows whose ``column`` names something not in ``known`` (nulls are fine),
    up to ``max_issues``, and how many rows there are in all. Rows are numbered as in
    ``path`` (``file`` names a frame that has none)."""
    offset, label = row_numbering(path) if path is not None else (1, "row")
    bad = (
        frame.select(pl.col(column).cast(pl.String))
        .with_row_index("__i__")
        .filter(
            pl.col(column).is_not_null() & ~pl.col(column).is_in(known.cast(pl.String).implode())
        )
    )
    issues = [
        Issue(
            file=str(path) if path is not None else (file or "input"),
            row=int(i) + offset if path is not None else None,
            column=column,
            value=str(v),
            problem=f"is not a known {what}",
            row_label=label,
        )
        for i, v in bad.head(max_issues).iter_rows()
    ]
    return issues, bad.height


def check_rep_references(
    customers: pl.DataFrame,
    known_reps: pl.Series,
    *,
    customers_path: Path | None = None,
    customers_file: str | None = None,
    reps_what: str,
    max_issues: int,
) -> None:
    """The reference rule for reps (module docstring): every ``rep_id`` a customer names
    must be in ``known_reps``, else InputError with each bad line."""
    if "rep_id" not in customers.columns:
        return
    issues, total = unknown_references(
        customers,
        "rep_id",
        known_reps,
        path=customers_path,
        file=customers_file,
        what=reps_what,
        max_issues=max_issues,
    )
    if issues:
        raise InputError(issues, total)


def check_known_reps(
    customers: pl.DataFrame,
    reps: pl.DataFrame,
    *,
    customers_path: Path | None,
    reps_path: Path | None,
    max_issues: int,
) -> None:
    """Every ``rep_id`` a customer names must be a rep of the reps table (the files they
    were read from name them, when they were)."""
    check_rep_references(
        customers,
        reps["rep_id"],
        customers_path=customers_path,
        customers_file="customers",
        reps_what=f"rep (not in {reps_path or 'reps'})",
        max_issues=max_issues,
    )


def _unknown_note(
    orders: pl.DataFrame,
    column: str,
    known: pl.Series,
    *,
    orders_file: str,
    orders_path: Path | None,
    noun: str,
    where: str,
    effect: str,
) -> str | None:
    offset, label = row_numbering(orders_path) if orders_path is not None else (1, "row")
    bad = (
        orders.select(pl.col(column))
        .with_row_index("__i__")
        .filter(pl.col(column).is_not_null() & ~pl.col(column).is_in(known.implode()))
    )
    if bad.is_empty():
        return None
    names = bad.group_by(column, maintain_order=True).agg(pl.col("__i__").first())
    shown = ", ".join(
        f"{value!r} ({label} {int(i) + offset})" if orders_path is not None else repr(value)
        for value, i in names.head(3).iter_rows()
    )
    more = f" and {names.height - 3:,} more" if names.height > 3 else ""
    lines = "line names" if bad.height == 1 else "lines name"
    things = noun if names.height == 1 else f"{noun}s"
    return (
        f"{orders_file}: {bad.height:,} order {lines} {names.height:,} {things} not in "
        f"{where} ({shown}{more}); {effect}"
    )


def order_reference_notes(
    orders: pl.DataFrame,
    *,
    orders_file: str,
    orders_path: Path | None = None,
    customers: pl.Series | None = None,
    customers_what: str = "",
    products: pl.Series | None = None,
    products_what: str = "",
    customers_effect: str,
    products_effect: str,
    log: bool = True,
) -> list[str]:
    """The reference rule for order lines (module docstring): one note per kind of unknown
    reference (customers, products), each saying what the command does with those lines
    (``customers_effect``, ``products_effect``); each note is also logged for the command
    line (``log``)."""
    notes = [
        note
        for note in (
            _unknown_note(
                orders,
                "customer_id",
                customers,
                orders_file=orders_file,
                orders_path=orders_path,
                noun="customer",
                where=customers_what,
                effect=customers_effect,
            )
            if customers is not None
            else None,
            _unknown_note(
                orders,
                "product_id",
                products,
                orders_file=orders_file,
                orders_path=orders_path,
                noun="product",
                where=products_what,
                effect=products_effect,
            )
            if products is not None
            else None,
        )
        if note is not None
    ]
    if log:
        for note in notes:
            _log.warning("%s", note)
    return notes
