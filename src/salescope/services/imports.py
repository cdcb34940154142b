"""Importing data: adapters or canonical files in, the table store and the database updated.

An import is all-or-nothing, with one commit point: every table of the import is validated
first (within and across its files, and against the reps known), the Parquet table store gets
a new version that is not yet current, then one database transaction updates customers and
reps and records the import run — naming the store and the version — with its audit record.
The commit of that transaction is the import: ``CURRENT`` moves to the version only after it.
A failure before the commit removes the version; a kill anywhere is repaired when the next
import starts (``TableStore.recover``): ``CURRENT`` follows the version the database committed,
and versions no commit names are removed. The whole import holds the data-folder lock, so
two imports (or an import and a feedback) never interleave.

An import is idempotent: tables merge by key (see ``salescope.storage.tables``), so importing
the same files again changes nothing, and says so.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from sqlalchemy.orm import Session

from salescope.config import Settings
from salescope.data.adapters import AdapterOutput, Dropped
from salescope.data.io import CSV_SUFFIXES, PARQUET_SUFFIXES, list_files, read_table, row_numbering
from salescope.domain.errors import FieldError, InputError, Issue, SalescopeError
from salescope.domain.schemas import TABLES
from salescope.faults import checkpoint
from salescope.progress import Progress, no_progress
from salescope.services.inputs import check_rep_references, order_reference_notes
from salescope.storage import repositories as repo
from salescope.storage.db import Database
from salescope.storage.lock import data_folder_lock
from salescope.storage.tables import TableChange, TableStore, merge_key

ADAPTER_SOURCES = ("iowa", "online-retail")
SOURCES = (*ADAPTER_SOURCES, "tables")


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import kept, dropped and changed."""

    source: str
    files: tuple[str, ...]
    fingerprint: str
    kept: dict[str, int]
    dropped: tuple[Dropped, ...]
    notes: tuple[str, ...]
    changes: dict[str, TableChange]
    version: str | None
    database: dict[str, repo.UpsertCounts] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return any(c.changed for c in self.changes.values())


def expand_paths(paths: Sequence[Path]) -> list[Path]:
    """Files named, and the files of directories named; at least one."""
    files = list_files(paths)
    if not files:
        raise InputError.single(", ".join(map(str, paths)) or "(no path)", "holds no files")
    return files


def fingerprint(files: Sequence[Path]) -> str:
    """sha256 over the names and contents of ``files`` (order-independent)."""
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.name):
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()


def table_of(path: Path) -> str | None:
    """The canonical table a file holds, from its name: ``orders.csv`` -> ``orders``."""
    name = path.name.lower()
    for suffix in (*PARQUET_SUFFIXES, *CSV_SUFFIXES):
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            return stem if stem in TABLES else None
    return None


Parts = dict[str, list[tuple[Path, pl.DataFrame]]]
"""The validated frames of each table, with the file each came from."""


def read_canonical(
    files: Sequence[Path], table: str | None = None, max_issues: int = 20
) -> AdapterOutput:
    """Canonical files as an AdapterOutput: each file's table from ``table`` or its name.

    Several files of one table are one table: a key (an ``order_id`` for orders) found in
    two of them is refused with both places, as it is within one file."""
    return combine_parts(read_parts(files, table, max_issues))


def read_parts(files: Sequence[Path], table: str | None = None, max_issues: int = 20) -> Parts:
    """The files of ``read_canonical``, validated, by table, with their paths."""
    _check_table(table)
    issues: list[Issue] = []
    total = 0
    frames: Parts = {}
    for path in files:
        name = table or table_of(path)
        if name is None:
            issues.append(
                Issue(
                    file=str(path),
                    problem="is not named after a canonical table "
                    f"({', '.join(TABLES)}); name it so or pass --table",
                )
            )
            continue
        try:
            frames.setdefault(name, []).append(
                (path, read_table(path, TABLES[name], max_issues=max_issues))
            )
        except InputError as error:
            issues.extend(error.issues)
            total += error.total
    for name, parts in frames.items():
        found, count = _keys_in_two_files(name, parts, max_issues)
        issues.extend(found)
        total += count
    if issues:
        raise InputError(issues[:max_issues], max(total, len(issues)))
    return frames


def combine_parts(parts: Parts) -> AdapterOutput:
    """The tables of ``read_parts`` as one AdapterOutput (a table's files stacked)."""
    output = AdapterOutput(source="tables", tables={})
    for name, frames in parts.items():
        tables = [frame for _, frame in frames]
        output.tables[name] = (
            pl.concat(tables, how="diagonal_relaxed") if len(tables) > 1 else tables[0]
        )
    return output


def _keys_in_two_files(
    table: str, parts: list[tuple[Path, pl.DataFrame]], max_issues: int
) -> tuple[list[Issue], int]:
    """Issues for the keys of ``table`` (its merge key) that two of its files hold: each
    file's later rows are reported with the place of the first."""
    key = list(merge_key(table))
    if len(parts) < 2 or not key or table == "visits":
        return [], 0
    stacked = pl.concat(
        [
            frame.select(key)
            .with_row_index("__row__")
            .group_by(key, maintain_order=True)
            .agg(pl.col("__row__").first())
            .with_columns(pl.lit(n, dtype=pl.Int64).alias("__file__"))
            for n, (_, frame) in enumerate(parts)
        ],
        how="vertical_relaxed",
    )
    first = stacked.group_by(key, maintain_order=True).agg(
        pl.col("__file__").first().alias("__first_file__"),
        pl.col("__row__").first().alias("__first_row__"),
        pl.len().alias("__files__"),
    )
    twice = (
        stacked.join(first.filter(pl.col("__files__") > 1), on=key, nulls_equal=True)
        .filter(pl.col("__file__") != pl.col("__first_file__"))
        .sort("__file__", "__row__")
    )
    issues = []
    for row in twice.head(max_issues).iter_rows(named=True):
        path, _ = parts[row["__file__"]]
        first_path, _ = parts[row["__first_file__"]]
        offset, label = row_numbering(path)
        first_offset, first_label = row_numbering(first_path)
        what = "an order" if table == "orders" else "a key"
        issues.append(
            Issue(
                file=str(path),
                row=int(row["__row__"]) + offset,
                column=" + ".join(key),
                value=" / ".join(str(row[k]) for k in key),
                problem=(
                    f"is also in {first_path} ({first_label} "
                    f"{int(row['__first_row__']) + first_offset}): {what} must be in one "
                    "file only"
                ),
                row_label=label,
            )
        )
    return issues, twice.height


def _adapter(source: str) -> Callable[[Sequence[Path]], AdapterOutput]:
    if source == "iowa":
        from salescope.data.adapters.iowa import from_iowa

        return from_iowa
    if source == "online-retail":
        from salescope.data.adapters.online_retail import from_online_retail

        return from_online_retail
    raise SalescopeError(f"unknown import source {source!r}: one of {', '.join(SOURCES)}")


def _check_table(table: str | None) -> None:
    if table is not None and table not in TABLES:
        raise FieldError(f"is not one of: {', '.join(TABLES)}", "table", value=table)


@dataclass(frozen=True, slots=True)
class ImportRequest:
    """What to import: the files (folders expanded) of a source, the table of every file
    (canonical tables only), and whether they replace the stored tables."""

    source: str
    files: tuple[Path, ...]
    table: str | None = None
    replace: bool = False


def check_import(
    source: str, paths: Sequence[Path], *, table: str | None = None, replace: bool = False
) -> ImportRequest:
    """Check the source, the ``table`` option (canonical tables only, a known table) and
    that the paths hold files."""
    if source not in SOURCES:
        raise SalescopeError(f"unknown import source {source!r}: one of {', '.join(SOURCES)}")
    if table is not None and source != "tables":
        raise FieldError("only applies to `import tables`", "table", value=table)
    _check_table(table)
    return ImportRequest(source, tuple(expand_paths(paths)), table, replace)


def do_import(
    settings: Settings,
    request: ImportRequest,
    *,
    actor: str = "cli",
    progress: Progress = no_progress,
) -> ImportReport:
    """Convert the request's files and store the result (all-or-nothing, idempotent; the
    transaction's owner)."""
    started = time.perf_counter()
    source, files, table, replace = request.source, request.files, request.table, request.replace
    progress("reading", 0.02)
    digest = fingerprint(files)
    progress("converting", 0.1)
    if source == "tables":
        parts = read_parts(files, table, settings.max_issues)
        output = combine_parts(parts)
        if not replace:
            output.notes.extend(
                check_references(parts, TableStore(settings.tables_dir), settings.max_issues)
            )
    else:
        output = _adapter(source)(files)
    progress("storing", 0.6)
    report = store_output(
        settings,
        output,
        files=tuple(str(p) for p in files),
        fingerprint=digest,
        replace=replace,
        actor=actor,
        progress=progress,
    )
    progress("done", 1.0)
    return dataclasses.replace(report, seconds=time.perf_counter() - started)


def _sources_in_store(session: Session) -> set[str]:
    return {run.source for run in repo.list_imports(session, limit=10_000) if run.status == "ok"}


def committed_version(session: Session, store_id: str) -> str | None:
    """The table version the database last committed for the store ``store_id``, or None."""
    for run in repo.list_imports(session, limit=10_000):
        counts = run.counts or {}
        if run.status == "ok" and counts.get("store") == store_id and counts.get("version"):
            return str(counts["version"])
    return None


def recover_store(database: Database, store: TableStore) -> list[str]:
    """Bring the table store back in line with the database after a killed import (see the
    module docstring); what was done, in words."""
    if not store.root.exists():
        return []
    store_id = store.store_id
    committed = database.transaction(
        lambda session: committed_version(session, store_id), readonly=True
    )
    return store.recover(committed)


def check_references(parts: Parts, store: TableStore, max_issues: int) -> list[str]:
    """The reference rule of ``salescope.services.inputs`` on an import: a customer's rep
    must be a rep imported now or before (InputError with each bad line otherwise); order
    lines naming customers or products that no table imported now or before knows are
    counted in notes."""

    def known(table: str, column: str) -> pl.Series | None:
        found = [frame[column] for _, frame in parts.get(table, [])]
        if table in store.names():
            found.append(store.scan(table).select(column).collect()[column])
        return pl.concat(found).unique() if found else None

    reps = known("reps", "rep_id")
    issues: list[Issue] = []
    total = 0
    for path, frame in parts.get("customers", []):
        try:
            check_rep_references(
                frame,
                reps if reps is not None else pl.Series("rep_id", [], dtype=pl.String),
                customers_path=path,
                reps_what="rep (not in the reps imported now or before: import reps.csv "
                "first or with it)",
                max_issues=max_issues,
            )
        except InputError as error:
            issues += error.issues
            total += error.total
    if issues:
        raise InputError(issues[:max_issues], total)
    customers = known("customers", "customer_id")
    products = known("products", "product_id")
    notes: list[str] = []
    for path, frame in parts.get("orders", []):
        notes += order_reference_notes(
            frame,
            orders_file=str(path),
            orders_path=path,
            customers=customers,
            customers_what="the customers imported now or before",
            products=products,
            products_what="the products imported now or before",
            customers_effect="stored as they are",
            products_effect="stored as they are",
            log=False,
        )
    return notes


def store_output(
    settings: Settings,
    output: AdapterOutput,
    *,
    files: tuple[str, ...],
    fingerprint: str,
    replace: bool = False,
    actor: str = "cli",
    progress: Progress = no_progress,
) -> ImportReport:
    """Merge an adapter's tables into the store and the database, all-or-nothing, with one
    commit point (see the module docstring).

    Data of two different businesses are not mixed: importing from an adapter source other
    than the one already in the data directory needs ``replace`` (``tables`` files merge with
    anything).
    """
    checkpoint("import.validated")
    with data_folder_lock(
        settings.data_dir, command=f"import {output.source}", wait=settings.lock_wait
    ):
        checkpoint("import.locked")
        database = Database.from_settings(settings)
        try:
            return _store_locked(
                settings,
                database,
                output,
                files=files,
                fingerprint=fingerprint,
                replace=replace,
                actor=actor,
                progress=progress,
            )
        finally:
            database.dispose()


def _store_locked(
    settings: Settings,
    database: Database,
    output: AdapterOutput,
    *,
    files: tuple[str, ...],
    fingerprint: str,
    replace: bool,
    actor: str,
    progress: Progress,
) -> ImportReport:
    store = TableStore(settings.tables_dir)
    database.upgrade()
    recovered = recover_store(database, store)
    previous = store.version
    if not replace and output.source in (*ADAPTER_SOURCES, "demo") and previous is not None:
        others = database.transaction(_sources_in_store, readonly=True) - {
            output.source,
            "tables",
        }
        if others:
            raise SalescopeError(
                f"{settings.data_dir} holds data imported from {', '.join(sorted(others))};"
                f" importing {output.source} into it would mix two businesses: use "
                "another --data-dir, or --replace to start over"
            )
    notes = [*output.notes, *recovered]
    plan = store.plan(output.tables, replace=replace)
    changed = plan.changed or replace
    store_id = store.store_id
    progress("writing tables", 0.7)
    version = store.write_version(plan, replace=replace) if changed else None
    report = ImportReport(
        source=output.source,
        files=files,
        fingerprint=fingerprint,
        kept=output.kept,
        dropped=tuple(output.dropped),
        notes=tuple(notes),
        changes=plan.changes,
        version=version,
    )

    def record(session: Session) -> ImportReport:
        run = repo.start_import(
            session, source=output.source, files=files, fingerprint=fingerprint, actor=actor
        )
        db_counts: dict[str, repo.UpsertCounts] = {}
        if "customers" in output.tables:
            frame = output.tables["customers"]
            repo.ensure_regions(session, frame["region"].to_list())
            db_counts["customers"] = repo.upsert_customers(session, frame)
        if "reps" in output.tables:
            frame = output.tables["reps"]
            repo.ensure_regions(session, frame["region"].to_list())
            db_counts["reps"] = repo.upsert_reps(session, frame)
        checkpoint("import.database_written")
        done = dataclasses.replace(report, database=db_counts)
        counts = {**_counts_json(done), "store": store_id, "version": version}
        repo.finish_import(session, run, counts=counts)
        repo.record_audit(
            session,
            actor,
            "import.completed" if changed else "import.unchanged",
            "import_run",
            run.id,
            {"source": output.source, "files": list(files), **counts},
        )
        return done

    progress("updating the database", 0.85)
    try:
        checkpoint("import.version_written")
        report = database.transaction(record, writer=True)
    except BaseException:
        if version is not None:
            store.discard(version)
        raise
    checkpoint("import.committed")
    if version is not None:
        store.make_current(version)
    checkpoint("import.current_moved")
    return report


def _counts_json(report: ImportReport) -> dict[str, object]:
    return {
        "kept": report.kept,
        "dropped": [{"table": d.table, "reason": d.reason, "rows": d.rows} for d in report.dropped],
        "notes": list(report.notes),
        "tables": {
            name: {
                "rows_before": c.rows_before,
                "rows_after": c.rows_after,
                "added": c.added,
                "replaced": c.replaced,
                "unchanged": c.unchanged,
            }
            for name, c in report.changes.items()
        },
        "database": {name: c.as_dict() for name, c in report.database.items()},
    }
