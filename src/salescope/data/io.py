"""Read and validate canonical tables from CSV or Parquet, vectorised.

``read_table`` is the one entry point for every file a user hands to Salescope. It reads the
file, converts every known column to its type, checks the schema's rules and either returns a
typed frame or raises ``InputError`` listing the problems (file, row, column, value, what is
wrong), up to a limit, with the total count. Rows are the 1-based line of a CSV file (the header
is line 1) or the 1-based row of a Parquet file.

All checks are Polars expressions over whole columns: no Python loop touches the rows.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from salescope.data import csv_text
from salescope.data.outputs import atomic_path, write_csv, write_parquet
from salescope.domain.errors import InputError, Issue
from salescope.domain.schemas import Column, ColumnType, TableSchema

DEFAULT_MAX_ISSUES = 20
ROW = "__row__"

_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")
_PERIOD = r"^\d{4}(-(0[1-9]|1[0-2]))?$"
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"

CSV_SUFFIXES = (".csv", ".csv.gz", ".txt", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")

__all__ = [
    "atomic_path",
    "file_format",
    "input_encoding",
    "list_files",
    "read_raw",
    "read_table",
    "row_numbering",
    "validate_frame",
    "write_csv",
    "write_parquet",
]

_ENCODING: ContextVar[str | None] = ContextVar("salescope_input_encoding", default=None)
"""The encoding chosen for CSV input (``input_encoding``); None: detect UTF-8/UTF-16."""


def file_format(path: Path) -> str:
    """``csv`` or ``parquet`` from the file name, or an InputError naming the file."""
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    raise InputError.single(
        str(path), "is neither CSV (.csv, .csv.gz) nor Parquet (.parquet): cannot read it"
    )


def list_files(paths: Iterable[str | Path]) -> list[Path]:
    """The files named, and the files of the directories named (not recursed, sorted, no
    hidden ones), each once; an InputError names every path that does not exist."""
    files: list[Path] = []
    issues: list[Issue] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(
                sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            )
        elif path.is_file():
            files.append(path)
        else:
            issues.append(Issue(file=str(path), problem="does not exist"))
    if issues:
        raise InputError(issues)
    return list(dict.fromkeys(files))


def read_raw(path: str | Path) -> tuple[pl.DataFrame, int, str]:
    """Read a file without interpreting values.

    Returns the frame, the number to add to a 0-based row index to get the row users see, and
    the word for it ("line" for CSV, "row" for Parquet). CSV values are all strings.

    CSV text is read as UTF-8 (with or without a byte-order mark), or as UTF-16/UTF-32 when it
    says so; any other encoding is refused with the encodings it looks like, unless one is
    chosen with ``input_encoding`` (the ``--encoding`` option): a value is never read with a
    replaced character. A binary file, a header naming a column twice and a line with more
    fields than the header are refused with the line.
    """
    path = Path(path)
    label = str(path)
    if not path.exists():
        raise InputError.single(label, "does not exist")
    if path.is_dir():
        raise InputError.single(label, "is a directory, expected a file")
    fmt = file_format(path)
    try:
        if fmt == "parquet":
            return _read_parquet(path, label), 1, "row"
        return csv_text.read_csv(path, label, encoding=_ENCODING.get()), 2, "line"
    except InputError:
        raise
    except (pl.exceptions.PolarsError, OSError, ValueError, EOFError) as exc:
        raise InputError.single(label, f"cannot be read: {csv_text.first_line(exc)}") from exc


def _read_parquet(path: Path, label: str) -> pl.DataFrame:
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != b"PAR1":
        raise InputError.single(
            label,
            "is not a Parquet file (it does not start as one): name a CSV file .csv, or "
            "give a real Parquet file",
        )
    try:
        return pl.read_parquet(path)
    except pl.exceptions.DuplicateError as exc:
        raise InputError.single(label, f"names a column twice: {csv_text.first_line(exc)}") from exc


@contextlib.contextmanager
def input_encoding(name: str | None) -> Iterator[None]:
    """Read the CSV files of the block as ``name`` (any codec Python knows) instead of
    detecting UTF-8/UTF-16; ``None`` keeps detection. InputError for an unknown name."""
    if name is not None:
        try:
            codecs.lookup(name)
        except LookupError:
            raise InputError.single(
                "--encoding",
                "is not an encoding Python knows (e.g. utf-8, latin-1, cp1252)",
                value=name,
            ) from None
    token = _ENCODING.set(name)
    try:
        yield
    finally:
        _ENCODING.reset(token)


@dataclass(frozen=True, slots=True)
class _Check:
    column: str | None
    mask: pl.Expr  # true where the row is wrong
    shown: pl.Expr | None  # the value to show
    problem: str | pl.Expr


def _clean_strings(frame: pl.DataFrame) -> pl.DataFrame:
    """Strip string cells and turn empty ones into nulls.

    Only the columns that hold such a cell are rewritten: a test without allocation finds
    them, so clean columns (the usual case, e.g. Parquet written by a program) are not copied.
    """
    strings = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    if not strings or frame.height == 0:
        return frame
    dirty = frame.select(
        (pl.col(name).str.contains(r"^\s|\s$") | (pl.col(name) == "")).any().alias(name)
        for name in strings
    ).row(0)
    exprs = [
        pl.col(name).str.strip_chars().replace("", None).alias(name)
        for name, needs in zip(strings, dirty, strict=True)
        if needs
    ]
    return frame.with_columns(exprs) if exprs else frame


def _convert(column: Column, dtype: pl.DataType) -> tuple[pl.Expr, list[_Check]]:
    """Expression converting a raw column to its type, and the checks of the conversion."""
    raw = pl.col(column.name)
    name = column.name
    checks: list[_Check] = []
    target = column.type

    if dtype.is_nested() or dtype == pl.Object:
        # lists, arrays and structs (Parquet can hold them) are never a canonical value
        checks.append(
            _Check(name, raw.is_not_null(), None, f"holds {dtype} values, not {target.value}s")
        )
        return pl.lit(None, dtype=target.polars).alias(name), checks

    if target in (ColumnType.STRING, ColumnType.PERIOD):
        value = _to_text(raw, name, dtype, target, checks)
    elif target in (ColumnType.FLOAT, ColumnType.INT):
        value = _to_number(raw, name, dtype, target, checks)
    elif target is ColumnType.DATE:
        value = _to_date(raw, name, dtype, target, checks)
    elif target is ColumnType.BOOL:
        value = _to_bool(raw, name, dtype, target, checks)
    else:  # pragma: no cover - exhaustive over ColumnType
        raise AssertionError(target)
    return value.cast(target.polars).alias(name), checks


def _to_text(
    raw: pl.Expr, name: str, dtype: pl.DataType, target: ColumnType, checks: list[_Check]
) -> pl.Expr:
    """A string or period column's values; checks appended to ``checks``."""
    is_string = dtype == pl.String
    if is_string:
        value = raw
    elif dtype.is_float():
        # 12.0 read as float from a spreadsheet-made file: an id, not a number
        value = (
            pl.when(raw == raw.round(0))
            .then(raw.cast(pl.Int64, strict=False).cast(pl.String))
            .otherwise(raw.cast(pl.String))
        )
    else:
        value = raw.cast(pl.String)
    if target is ColumnType.PERIOD:
        checks.append(
            _Check(
                name,
                value.is_not_null() & ~value.str.contains(_PERIOD),
                value,
                "is not a period (expected YYYY-MM or YYYY)",
            )
        )
    return value


def _to_number(
    raw: pl.Expr, name: str, dtype: pl.DataType, target: ColumnType, checks: list[_Check]
) -> pl.Expr:
    """A number column's values; checks appended to ``checks``."""
    is_string = dtype == pl.String
    if is_string:
        number = raw.cast(pl.Float64, strict=False)
        checks.append(
            _Check(
                name,
                raw.is_not_null() & number.is_null(),
                raw,
                pl.when(raw.str.contains(r"^[-+]?\d+,\d+$"))
                .then(pl.lit("is not a number (decimals are written with a point: 2.5)"))
                .otherwise(pl.lit("is not a number")),
            )
        )
    elif dtype.is_numeric() or dtype == pl.Boolean:
        number = raw.cast(pl.Float64)
    else:
        checks.append(
            _Check(name, raw.is_not_null(), raw.cast(pl.String), f"is a {dtype}, not a number")
        )
        number = pl.lit(None, dtype=pl.Float64)
    checks.append(
        _Check(
            name,
            number.is_not_null() & ~number.is_finite(),
            number.cast(pl.String),
            "is not a finite number",
        )
    )
    if target is ColumnType.INT:
        checks.append(
            _Check(
                name,
                number.is_finite() & (number != number.round(0)),
                number.cast(pl.String),
                "is not a whole number",
            )
        )
        value = pl.when(number.is_finite()).then(number).cast(pl.Int64, strict=False)
    else:
        value = pl.when(number.is_finite()).then(number)
    return value


def _to_date(
    raw: pl.Expr, name: str, dtype: pl.DataType, target: ColumnType, checks: list[_Check]
) -> pl.Expr:
    """A date column's values; checks appended to ``checks``."""
    is_string = dtype == pl.String
    if is_string:
        iso = raw.str.contains(_ISO_DATE)
        # a timestamp with time of day is accepted: "2011-01-04 10:00:00" -> 2011-01-04
        head = raw.str.slice(0, 10)
        parsed = (
            pl.when(iso | raw.str.contains(r"^\d{4}-\d{2}-\d{2}[ T]"))
            .then(head.str.to_date("%Y-%m-%d", strict=False))
            .otherwise(None)
        )
        shape_ok = head.str.contains(_ISO_DATE)
        checks.append(
            _Check(
                name,
                raw.is_not_null() & ~shape_ok,
                raw,
                "is not a date in YYYY-MM-DD form",
            )
        )
        checks.append(
            _Check(
                name,
                raw.is_not_null() & shape_ok & parsed.is_null(),
                raw,
                "is not a real calendar date",
            )
        )
        value = parsed
    elif dtype == pl.Date:
        value = raw
    elif isinstance(dtype, pl.Datetime):
        value = raw.dt.date()
    else:
        checks.append(
            _Check(name, raw.is_not_null(), raw.cast(pl.String), f"is a {dtype}, not a date")
        )
        value = pl.lit(None, dtype=pl.Date)
    return value


def _to_bool(
    raw: pl.Expr, name: str, dtype: pl.DataType, target: ColumnType, checks: list[_Check]
) -> pl.Expr:
    """A true/false column's values; checks appended to ``checks``."""
    if dtype == pl.Boolean:
        value = raw
    else:
        text = raw.cast(pl.String).str.to_lowercase()
        value = (
            pl.when(text.is_in(_TRUE))
            .then(pl.lit(True))
            .when(text.is_in(_FALSE))
            .then(pl.lit(False))
            .otherwise(None)
        )
        checks.append(
            _Check(
                name,
                raw.is_not_null() & value.is_null(),
                raw.cast(pl.String),
                "is not true or false",
            )
        )
    return value


def _number_text(col: pl.Expr) -> pl.Expr:
    """A number as users wrote it: 3 rather than 3.0."""
    whole = col.is_finite() & (col == col.round(0)) & (col.abs() < 1e15)
    return (
        pl.when(whole)
        .then(col.cast(pl.Int64, strict=False).cast(pl.String))
        .otherwise(col.cast(pl.String))
    )


def _value_checks(column: Column) -> list[_Check]:
    col = pl.col(column.name)
    checks: list[_Check] = []
    if column.type in (ColumnType.FLOAT, ColumnType.INT):
        shown = _number_text(col)
        if column.positive:
            checks.append(_Check(column.name, col <= 0, shown, "must be greater than 0"))
        if column.minimum is not None:
            checks.append(
                _Check(
                    column.name,
                    col < column.minimum,
                    shown,
                    f"is below the minimum {column.minimum:g}",
                )
            )
        if column.maximum is not None:
            checks.append(
                _Check(
                    column.name,
                    col > column.maximum,
                    shown,
                    f"is above the maximum {column.maximum:g}",
                )
            )
    if column.choices is not None:
        allowed = ", ".join(column.choices)
        checks.append(
            _Check(
                column.name,
                col.is_not_null() & ~col.is_in(list(column.choices)),
                col,
                f"is not one of: {allowed}",
            )
        )
    return checks


def _functional_violations(
    frame: pl.DataFrame, schema: TableSchema, present: set[str]
) -> dict[tuple[str, str], pl.Series]:
    """Values of each determinant whose rows hold more than one value of the dependent.

    One streaming group-by per determinant (min != max per group): far cheaper in time and
    memory than a window over every row, which is then needed only where a rule is broken.
    """
    pairs: dict[str, list[str]] = {}
    for dependent, determinant in schema.functional:
        if dependent in present and determinant in present:
            pairs.setdefault(determinant, []).append(dependent)
    found: dict[tuple[str, str], pl.Series] = {}
    for determinant, dependents in pairs.items():
        spans = (
            frame.lazy()
            .group_by(determinant)
            .agg(
                (pl.col(d).min() != pl.col(d).max()).fill_null(False).alias(f"c{i}")
                for i, d in enumerate(dependents)
            )
            .filter(pl.any_horizontal(f"c{i}" for i in range(len(dependents))))
            .collect(engine="streaming")
        )
        for i, dependent in enumerate(dependents):
            broken = spans.filter(pl.col(f"c{i}"))[determinant]
            if broken.len():
                found[(dependent, determinant)] = broken
    return found


def _table_checks(
    schema: TableSchema,
    present: set[str],
    offset: int,
    row_label: str,
    violations: dict[tuple[str, str], pl.Series],
) -> list[_Check]:
    checks: list[_Check] = []
    if schema.key and all(k in present for k in schema.key):
        key = pl.struct(list(schema.key))
        first_row = pl.col(ROW).first().over(list(schema.key)) + offset
        shown = (
            pl.concat_str([pl.col(k).fill_null("") for k in schema.key], separator=" / ")
            if len(schema.key) > 1
            else pl.col(schema.key[0])
        )
        checks.append(
            _Check(
                schema.key[0] if len(schema.key) == 1 else " + ".join(schema.key),
                ~key.is_first_distinct(),
                shown,
                pl.format(f"is a duplicate key: already at {row_label} {{}}", first_row),
            )
        )
    for start, end in schema.date_ranges:
        if start in present and end in present:
            checks.append(
                _Check(
                    end,
                    pl.col(end) < pl.col(start),
                    pl.col(end).cast(pl.String),
                    pl.format("is before {} {}", pl.lit(start), pl.col(start)),
                )
            )
    for smaller, larger in schema.not_above:
        if smaller in present and larger in present:
            checks.append(
                _Check(
                    smaller,
                    pl.col(smaller) > pl.col(larger),
                    pl.col(smaller).cast(pl.String),
                    pl.format("is above {} {}", pl.lit(larger), pl.col(larger)),
                )
            )
    for dependent, determinant in schema.functional:
        broken = violations.get((dependent, determinant))
        if broken is not None and dependent in present and determinant in present:
            first = pl.col(dependent).first().over(determinant)
            checks.append(
                _Check(
                    dependent,
                    pl.col(determinant).is_in(broken.implode(), nulls_equal=True)
                    & (pl.col(dependent) != first),
                    pl.col(dependent).cast(pl.String),
                    pl.format(
                        "differs from {} {} on the other lines of {} {}",
                        pl.lit(dependent),
                        first.cast(pl.String),
                        pl.lit(determinant),
                        pl.col(determinant),
                    ),
                )
            )
    for group in schema.together:
        if all(c in present for c in group):
            filled = [pl.col(c).is_not_null() for c in group]
            some = pl.any_horizontal(filled)
            every = pl.all_horizontal(filled)
            checks.append(
                _Check(
                    " + ".join(group),
                    some & ~every,
                    None,
                    "must be filled together or left empty together",
                )
            )
    return checks


def _collect_issues(
    frame: pl.DataFrame,
    checks: list[_Check],
    *,
    file: str,
    offset: int,
    row_label: str,
    max_issues: int,
) -> tuple[list[Issue], int]:
    if not checks:
        return [], 0
    counts = frame.select(
        [c.mask.fill_null(False).sum().alias(f"c{i}") for i, c in enumerate(checks)]
    ).row(0)
    issues: list[Issue] = []
    total = 0
    for check, count in zip(checks, counts, strict=True):
        if not count:
            continue
        total += int(count)
        exprs = [pl.col(ROW)]
        exprs.append((check.shown if check.shown is not None else pl.lit(None)).alias("shown"))
        problem = check.problem if isinstance(check.problem, pl.Expr) else pl.lit(check.problem)
        exprs.append(problem.alias("problem"))
        hits = (
            frame.with_columns(check.mask.fill_null(False).alias("__bad__"))
            .select([*exprs, pl.col("__bad__")])
            .filter(pl.col("__bad__"))
            .head(max_issues)
        )
        for row, shown, problem_text in hits.select(ROW, "shown", "problem").iter_rows():
            issues.append(
                Issue(
                    file=file,
                    row=int(row) + offset,
                    column=check.column,
                    value=None if shown is None else str(shown),
                    problem=str(problem_text),
                    row_label=row_label,
                )
            )
    issues.sort(key=lambda i: i.row or 0)
    return issues[:max_issues], total


def validate_frame(
    raw: pl.DataFrame,
    schema: TableSchema,
    *,
    file: str,
    offset: int = 1,
    row_label: str = "row",
    max_issues: int = DEFAULT_MAX_ISSUES,
) -> pl.DataFrame:
    """Convert and check a raw frame against ``schema``; return the typed frame.

    The result has every column of the schema (absent optional ones filled with nulls) in
    schema order, followed, when the schema keeps them, by the file's other columns (numeric
    where every value is a number).
    """
    stripped = [c.strip() for c in raw.columns]
    twice = sorted({c for c in stripped if c and stripped.count(c) > 1})
    if twice:
        raise InputError.single(
            file, f"names the column {twice[0]!r} twice (once with spaces around it)"
        )
    raw = raw.rename({c: c.strip() for c in raw.columns if c != c.strip()})
    missing = [c for c in schema.required if c not in raw.columns]
    if missing:
        found = ", ".join(raw.columns) or "none"
        raise InputError(
            [
                Issue(
                    file=file,
                    column=c,
                    problem=f"required column is missing (columns found: {found})",
                )
                for c in missing
            ]
        )
    raw = _clean_strings(raw).with_row_index(ROW)
    present = {c for c in schema.names if c in raw.columns}

    conversions: list[pl.Expr] = []
    # first pass, on the raw cells: emptiness and conversion (a bad cell is reported once)
    checks = [
        _Check(c, pl.col(c).is_null(), None, "is empty (a value is required)")
        for c in schema.required
    ]
    for column in schema.columns:
        if column.name in present:
            expr, conv_checks = _convert(column, raw.schema[column.name])
            conversions.append(expr)
            checks.extend(conv_checks)
    issues, total = _collect_issues(
        raw, checks, file=file, offset=offset, row_label=row_label, max_issues=max_issues
    )
    typed = raw.with_columns(conversions)
    value_checks = [c for col in schema.columns if col.name in present for c in _value_checks(col)]
    more, more_total = _collect_issues(
        typed,
        value_checks
        + _table_checks(
            schema, present, offset, row_label, _functional_violations(typed, schema, present)
        ),
        file=file,
        offset=offset,
        row_label=row_label,
        max_issues=max_issues,
    )
    issues += more
    total += more_total
    if issues:
        issues.sort(key=lambda i: i.row or 0)
        raise InputError(issues[:max_issues], total)

    columns = [
        pl.col(c.name) if c.name in present else pl.lit(None, dtype=c.type.polars).alias(c.name)
        for c in schema.columns
    ]
    extra: list[pl.Expr] = []
    if schema.keep_extra:
        for name in raw.columns:
            if name in present or name == ROW:
                continue
            extra.append(_numeric_if_possible(typed, name))
    return typed.select(columns + extra)


def _numeric_if_possible(frame: pl.DataFrame, name: str) -> pl.Expr:
    dtype = frame.schema[name]
    if dtype != pl.String:
        return pl.col(name)
    as_number = pl.col(name).cast(pl.Float64, strict=False)
    lost = frame.select((pl.col(name).is_not_null() & as_number.is_null()).any()).item()
    filled = frame.select(pl.col(name).is_not_null().any()).item()
    return as_number.alias(name) if filled and not lost else pl.col(name)


def read_table(
    path: str | Path,
    schema: TableSchema,
    *,
    max_issues: int = DEFAULT_MAX_ISSUES,
) -> pl.DataFrame:
    """Read a CSV or Parquet file as the canonical table ``schema``, or raise InputError."""
    raw, offset, label = read_raw(path)
    try:
        return validate_frame(
            raw, schema, file=str(path), offset=offset, row_label=label, max_issues=max_issues
        )
    except pl.exceptions.PolarsError as error:
        # a shape of data no check foresaw: still the file's problem, said without a traceback
        raise InputError.single(
            str(path),
            f"cannot be read as the {schema.name} table: {csv_text.first_line(error)}",
        ) from error


def row_numbering(path: str | Path) -> tuple[int, str]:
    """How ``read_table`` numbers the rows of ``path``: (offset to a 0-based index, word).

    ``read_table`` keeps the file's row order, so row ``i`` of its frame is what users see as
    ``word offset+i``; cross-file checks use this to name rows.
    """
    return (1, "row") if file_format(Path(path)) == "parquet" else (2, "line")


def read_tables(
    files: Mapping[str, tuple[Path | None, TableSchema]], *, max_issues: int = 20
) -> dict[str, pl.DataFrame | None]:
    """Read several files, by name (``None``: a file not given, read as ``None``), reporting
    the problems of all of them together: what a command reads before it makes a service's
    request (``services.*.check_*`` validate frames, never files)."""
    frames: dict[str, pl.DataFrame | None] = {}
    issues: list[Issue] = []
    total = 0
    for name, (path, schema) in files.items():
        frames[name] = None
        if path is None:
            continue
        try:
            frames[name] = read_table(path, schema, max_issues=max_issues)
        except InputError as error:
            issues.extend(error.issues)
            total += error.total
    if issues:
        raise InputError(issues[:max_issues], total)
    return frames


@dataclass(frozen=True, slots=True)
class CoverageFiles:
    """The files of a ``salescope coverage`` output folder, read but not checked
    (``services.recommendations.check_coverage_output`` checks them)."""

    folder: Path
    customers: pl.DataFrame  # customers.csv, every column as written
    fingerprint: str  # sha256 of customers.csv's bytes
    assignments: pl.DataFrame | None
    summary: dict[str, Any]
    reps: pl.DataFrame | None


def read_coverage_output(folder: Path) -> CoverageFiles:
    """Read ``folder``'s customers.csv (required), assignments.csv, summary.json and reps.csv
    (when present); a file that cannot be read is an ``InputError`` naming it."""
    path = folder / "customers.csv"
    if not path.is_file():
        raise InputError.single(
            str(folder), "holds no customers.csv (a `salescope coverage` output?)"
        )
    raw = path.read_bytes()
    try:
        customers = pl.read_csv(raw, infer_schema_length=10_000)
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as error:
        raise InputError.single(str(path), f"cannot be read as CSV: {error}") from None

    def optional(name: str) -> pl.DataFrame | None:
        found = folder / name
        return pl.read_csv(found, infer_schema_length=10_000) if found.is_file() else None

    summary: dict[str, Any] = {}
    if (folder / "summary.json").is_file():
        try:
            summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise InputError.single(str(folder / "summary.json"), "is not JSON") from None
    return CoverageFiles(
        folder,
        customers,
        hashlib.sha256(raw).hexdigest(),
        optional("assignments.csv"),
        summary,
        optional("reps.csv"),
    )
