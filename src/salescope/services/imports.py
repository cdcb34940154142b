"""Importing data: adapters or canonical files in, the table store and the database updated.

An import is all-or-nothing: every table of the import is validated first, the Parquet table
store gets a new version and the operational database (customers, reps, the import run and its
audit record) is updated in one transaction; if any step fails, both are left as they were.

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
from salescope.data.io import CSV_SUFFIXES, PARQUET_SUFFIXES, list_files, read_table
from salescope.domain.errors import InputError, Issue, SalescopeError
from salescope.domain.schemas import TABLES
from salescope.progress import Progress, no_progress
from salescope.storage import repositories as repo
from salescope.storage.db import Database
from salescope.storage.tables import TableChange, TableStore

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


def read_canonical(
    files: Sequence[Path], table: str | None = None, max_issues: int = 20
) -> AdapterOutput:
    """Canonical files as an AdapterOutput: each file's table from ``table`` or its name."""
    if table is not None and table not in TABLES:
        raise InputError.single("--table", f"is not one of: {', '.join(TABLES)}", value=table)
    issues: list[Issue] = []
    total = 0
    frames: dict[str, list[pl.DataFrame]] = {}
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
                read_table(path, TABLES[name], max_issues=max_issues)
            )
        except InputError as error:
            issues.extend(error.issues)
            total += error.total
    if issues:
        raise InputError(issues[:max_issues], max(total, len(issues)))
    output = AdapterOutput(source="tables", tables={})
    for name, parts in frames.items():
        output.tables[name] = (
            pl.concat(parts, how="diagonal_relaxed") if len(parts) > 1 else (parts[0])
        )
    return output


def _adapter(source: str) -> Callable[[Sequence[Path]], AdapterOutput]:
    if source == "iowa":
        from salescope.data.adapters.iowa import from_iowa

        return from_iowa
    if source == "online-retail":
        from salescope.data.adapters.online_retail import from_online_retail

        return from_online_retail
    raise SalescopeError(f"unknown import source {source!r}: one of {', '.join(SOURCES)}")


def do_import(
    settings: Settings,
    source: str,
    paths: Sequence[Path],
    *,
    table: str | None = None,
    replace: bool = False,
    actor: str = "cli",
    progress: Progress = no_progress,
) -> ImportReport:
    """Convert ``paths`` from ``source`` and store the result (all-or-nothing, idempotent)."""
    started = time.perf_counter()
    if source not in SOURCES:
        raise SalescopeError(f"unknown import source {source!r}: one of {', '.join(SOURCES)}")
    if table is not None and source != "tables":
        raise InputError.single("--table", "only applies to `import tables`", value=table)
    files = expand_paths(paths)
    progress("reading", 0.02)
    digest = fingerprint(files)
    progress("converting", 0.1)
    if source == "tables":
        output = read_canonical(files, table, settings.max_issues)
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
    """Merge an adapter's tables into the store and the database, all-or-nothing.

    Data of two different businesses are not mixed: importing from an adapter source other
    than the one already in the data directory needs ``replace`` (``tables`` files merge with
    anything).
    """
    store = TableStore(settings.tables_dir)
    previous = store.version
    database = Database.from_settings(settings)
    try:
        database.upgrade()
        with database.session() as session:
            if not replace and output.source in (*ADAPTER_SOURCES, "demo"):
                others = _sources_in_store(session) - {output.source, "tables"}
                if others and store.version is not None:
                    raise SalescopeError(
                        f"{settings.data_dir} holds data imported from {', '.join(sorted(others))};"
                        f" importing {output.source} into it would mix two businesses: use "
                        "another --data-dir, or --replace to start over"
                    )
            run = repo.start_import(
                session, source=output.source, files=files, fingerprint=fingerprint, actor=actor
            )
            plan = store.plan(output.tables, replace=replace)
            progress("updating the database", 0.7)
            db_counts: dict[str, repo.UpsertCounts] = {}
            if "customers" in output.tables:
                frame = output.tables["customers"]
                repo.ensure_regions(session, frame["region"].to_list())
                db_counts["customers"] = repo.upsert_customers(session, frame)
            if "reps" in output.tables:
                frame = output.tables["reps"]
                repo.ensure_regions(session, frame["region"].to_list())
                db_counts["reps"] = repo.upsert_reps(session, frame)
            progress("writing tables", 0.8)
            changed = plan.changed or replace
            version = store.commit(plan, replace=replace) if changed else previous
            report = ImportReport(
                source=output.source,
                files=files,
                fingerprint=fingerprint,
                kept=output.kept,
                dropped=tuple(output.dropped),
                notes=tuple(output.notes),
                changes=plan.changes,
                version=version if changed else None,
                database=db_counts,
            )
            counts = _counts_json(report)
            repo.finish_import(session, run, counts=counts)
            repo.record_audit(
                session,
                actor,
                "import.completed" if changed else "import.unchanged",
                "import_run",
                run.id,
                {"source": output.source, "files": list(files), "version": version, **counts},
            )
    except BaseException:
        if store.version != previous:
            store.rollback_to(previous)
        raise
    finally:
        database.dispose()
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
