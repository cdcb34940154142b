"""Reading the files and options of batch commands into validated frames."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from salescope.data.io import read_table, row_numbering
from salescope.domain.errors import InputError, Issue
from salescope.domain.schemas import TableSchema

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")


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


def read_optional(
    path: Path | None, schema: TableSchema, *, max_issues: int
) -> pl.DataFrame | None:
    """``read_table`` for an optional file option."""
    return None if path is None else read_table(path, schema, max_issues=max_issues)


def read_all(
    files: Iterable[tuple[Path | None, TableSchema]], *, max_issues: int
) -> list[pl.DataFrame | None]:
    """Read several files, reporting the problems of all of them together."""
    frames: list[pl.DataFrame | None] = []
    issues: list[Issue] = []
    total = 0
    for path, schema in files:
        try:
            frames.append(read_optional(path, schema, max_issues=max_issues))
        except InputError as error:
            frames.append(None)
            issues.extend(error.issues)
            total += error.total
    if issues:
        raise InputError(issues[:max_issues], total)
    return frames


def unknown_references(
    frame: pl.DataFrame,
    column: str,
    known: pl.Series,
    *,
    path: Path,
    what: str,
    max_issues: int,
) -> tuple[list[Issue], int]:
    """Issues for rows whose ``column`` names something not in ``known`` (nulls are fine),
    up to ``max_issues``, and how many rows there are in all."""
    offset, label = row_numbering(path)
    bad = (
        frame.select(pl.col(column))
        .with_row_index("__i__")
        .filter(pl.col(column).is_not_null() & ~pl.col(column).is_in(known.implode()))
    )
    issues = [
        Issue(
            file=str(path),
            row=int(i) + offset,
            column=column,
            value=str(v),
            problem=f"is not a known {what}",
            row_label=label,
        )
        for i, v in bad.head(max_issues).iter_rows()
    ]
    return issues, bad.height


def check_known_reps(
    customers: pl.DataFrame,
    reps: pl.DataFrame,
    *,
    customers_path: Path,
    reps_path: Path,
    max_issues: int,
) -> None:
    """Every ``rep_id`` a customer names must be a rep of the reps file."""
    issues, total = unknown_references(
        customers,
        "rep_id",
        reps["rep_id"],
        path=customers_path,
        what=f"rep (not in {reps_path})",
        max_issues=max_issues,
    )
    if issues:
        raise InputError(issues, total)
