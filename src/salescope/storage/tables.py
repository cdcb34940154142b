"""The table store: canonical tables as Parquet files in the data directory, versioned.

Layout::

    <data_dir>/tables/CURRENT          name of the current version, e.g. "v000004"
    <data_dir>/tables/v000004/*.parquet one file per canonical table
    <data_dir>/tables/v000003/          the previous version, kept for rollback

A change is written as a whole new version (unchanged tables are hard-linked, not copied) and
becomes visible by atomically replacing ``CURRENT``: readers see the old tables or the new ones,
never a mix, and a failed import leaves the store as it was.

An import writes its version first (``write_version``), commits the database transaction that
records it (the import run names the store and the version: that commit is the import's one
commit point), and only then moves ``CURRENT`` (``make_current``). ``recover`` repairs what a
killed import left: ``CURRENT`` is moved to the version the database last committed (forward
when the kill came between the commit and the move), and versions newer than it that no
commit names, staging folders and temporary files are removed.

Merging is by key, so importing the same data twice changes nothing:

* tables with a key (customers, products, …) — an incoming row replaces the row with its key;
* orders — the lines of an incoming order replace every stored line of that ``order_id``;
* visits — identical rows are kept once.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from salescope.data.io import write_parquet
from salescope.domain.errors import SalescopeError
from salescope.domain.schemas import TABLES

_VERSION = re.compile(r"^v(\d{6})$")
_MERGE_KEYS: dict[str, tuple[str, ...]] = {
    "orders": ("order_id",),
    "visits": ("customer_id", "visit_date", "rep_id", "duration_minutes", "mode"),
}


@dataclass(frozen=True, slots=True)
class TableChange:
    """What a merge does to one table. For orders, counts are of orders, not lines."""

    table: str
    rows_before: int
    rows_after: int
    added: int
    replaced: int
    unchanged: int

    @property
    def changed(self) -> bool:
        return bool(self.added or self.replaced)


@dataclass(frozen=True, slots=True)
class MergePlan:
    """The tables after a merge, and what changed; nothing is written until ``commit``."""

    frames: dict[str, pl.DataFrame]
    changes: dict[str, TableChange]

    @property
    def changed(self) -> bool:
        return any(c.changed for c in self.changes.values())


def merge_key(table: str) -> tuple[str, ...]:
    if table in _MERGE_KEYS:
        return _MERGE_KEYS[table]
    return TABLES[table].key


def _align(old: pl.DataFrame, new: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Give both frames the same columns (the union), with nulls where a column is absent."""
    columns = list(old.columns) + [c for c in new.columns if c not in old.columns]
    stacked = pl.concat([old.head(0), new.head(0)], how="diagonal_relaxed")

    def fit(frame: pl.DataFrame) -> pl.DataFrame:
        exprs = [
            pl.col(c).cast(stacked.schema[c])
            if c in frame.columns
            else pl.lit(None, dtype=stacked.schema[c]).alias(c)
            for c in columns
        ]
        return frame.select(exprs)

    return fit(old), fit(new)


def _group_hashes(frame: pl.DataFrame, key: tuple[str, ...]) -> pl.DataFrame:
    """One order-independent hash per key group (the sum of its rows' hashes)."""
    return (
        frame.with_columns(frame.hash_rows().alias("__h__"))
        .group_by(list(key))
        .agg(pl.col("__h__").sum().alias("__h__"))
    )


def plan_merge(
    table: str, old: pl.DataFrame | None, new: pl.DataFrame
) -> tuple[pl.DataFrame, TableChange]:
    """Merge ``new`` into ``old`` by the table's key; return the result and the counts."""
    key = merge_key(table)
    if old is None or old.height == 0:
        groups = new.select(list(key)).unique().height if key else new.height
        return new, TableChange(table, 0, new.height, groups, 0, 0)
    old, new = _align(old, new)
    if not key:
        merged = pl.concat([old, new]).unique(maintain_order=True)
        added = merged.height - old.height
        return merged, TableChange(table, old.height, merged.height, added, 0, new.height - added)
    old_h = _group_hashes(old, key)
    new_h = _group_hashes(new, key)
    joined = new_h.join(old_h, on=list(key), how="left", suffix="_old", nulls_equal=True)
    added = joined.filter(pl.col("__h___old").is_null()).height
    unchanged = joined.filter(pl.col("__h__") == pl.col("__h___old")).height
    replaced = joined.height - added - unchanged
    kept = old.join(new.select(list(key)).unique(), on=list(key), how="anti", nulls_equal=True)
    merged = pl.concat([kept, new])
    return merged, TableChange(table, old.height, merged.height, added, replaced, unchanged)


class TableStore:
    """Versioned Parquet files of the canonical tables under ``root``."""

    keep_versions = 2

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # -- reading ---------------------------------------------------------------------------
    @property
    def version(self) -> str | None:
        pointer = self.root / "CURRENT"
        if not pointer.exists():
            return None
        name = pointer.read_text(encoding="utf-8").strip()
        if not _VERSION.match(name) or not (self.root / name).is_dir():
            raise SalescopeError(f"{pointer} names a missing table version {name!r}")
        return name

    def names(self) -> list[str]:
        version = self.version
        if version is None:
            return []
        return sorted(p.stem for p in (self.root / version).glob("*.parquet"))

    def path(self, table: str) -> Path | None:
        version = self.version
        if version is None:
            return None
        candidate = self.root / version / f"{table}.parquet"
        return candidate if candidate.exists() else None

    def scan(self, table: str) -> pl.LazyFrame:
        path = self.path(table)
        if path is None:
            raise SalescopeError(
                f"no {table} table in {self.root}: import data first "
                "(salescope import … or salescope demo)"
            )
        return pl.scan_parquet(path)

    def read(self, table: str) -> pl.DataFrame | None:
        path = self.path(table)
        return pl.read_parquet(path) if path is not None else None

    def counts(self) -> dict[str, int]:
        return {name: self.scan(name).select(pl.len()).collect().item() for name in self.names()}

    # -- writing ---------------------------------------------------------------------------
    def plan(self, incoming: Mapping[str, pl.DataFrame], *, replace: bool = False) -> MergePlan:
        """Merge ``incoming`` tables into the stored ones (or replace them all)."""
        frames: dict[str, pl.DataFrame] = {}
        changes: dict[str, TableChange] = {}
        for table, frame in incoming.items():
            old = None if replace else self.read(table)
            merged, change = plan_merge(table, old, frame)
            frames[table] = merged
            changes[table] = change
        return MergePlan(frames, changes)

    @property
    def store_id(self) -> str:
        """This store's identity (created with it), recorded with the versions the database
        commits, so that two stores sharing a database are never confused."""
        self.root.mkdir(parents=True, exist_ok=True)
        marker = self.root / "STORE"
        if not marker.exists():
            tmp = self.root / f".STORE.{os.getpid()}.tmp"
            tmp.write_text(uuid.uuid4().hex + "\n", encoding="utf-8")
            with contextlib.suppress(FileExistsError):
                os.link(tmp, marker)  # the first writer wins
            tmp.unlink()
        return marker.read_text(encoding="utf-8").strip()

    def commit(self, plan: MergePlan, *, replace: bool = False) -> str:
        """Write a new version holding the plan's tables (and, unless ``replace``, the other
        stored tables unchanged); make it current atomically; return its name."""
        name = self.write_version(plan, replace=replace)
        self.make_current(name)
        return name

    def write_version(self, plan: MergePlan, *, replace: bool = False) -> str:
        """Write a new version as ``commit`` does, without making it current; return its
        name. ``make_current`` publishes it, ``discard`` removes it."""
        self.root.mkdir(parents=True, exist_ok=True)
        previous = self.version
        number = max((int(m.group(1)) for m in self._versions()), default=0) + 1
        name = f"v{number:06d}"
        staging = self.root / f".{name}.staging"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            if previous is not None and not replace:
                for old in (self.root / previous).glob("*.parquet"):
                    if old.stem not in plan.frames or not plan.changes[old.stem].changed:
                        _link_or_copy(old, staging / old.name)
            for table, frame in plan.frames.items():
                if (staging / f"{table}.parquet").exists():
                    continue
                if table == "orders":
                    frame = frame.sort(["customer_id", "order_date", "order_id"])
                write_parquet(frame, staging / f"{table}.parquet")
            _fsync_dir(staging)
            staging.rename(self.root / name)
            _fsync_dir(self.root)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return name

    def make_current(self, name: str) -> None:
        """Publish the written version ``name`` and prune the old ones."""
        self._point_to(name)
        self._prune()

    def discard(self, name: str) -> None:
        """Remove the written version ``name`` unless it is current."""
        if self.version != name:
            shutil.rmtree(self.root / name, ignore_errors=True)

    def recover(self, committed: str | None) -> list[str]:
        """Repair what a killed import left (see the module docstring); ``committed`` is the
        version the database last committed for this store (None: it knows of none, and
        ``CURRENT`` stays). Returns what was done, for the user."""
        done: list[str] = []
        if not self.root.exists():
            return done
        with contextlib.suppress(FileNotFoundError):
            (self.root / ".CURRENT.tmp").unlink()
        if committed is not None and (self.root / committed).is_dir():
            current = self._pointer()
            if current != committed:
                self._point_to(committed)
                done.append(
                    f"table version {committed} made current: the database committed it "
                    f"but the import stopped before {self.root / 'CURRENT'} named it"
                    if current is None or _number(current) < _number(committed)
                    else f"table version {current} withdrawn: the database never committed it"
                )
        current = self._pointer()
        limit = _number(current) if current else 0
        for match in self._versions():
            if int(match.group(1)) > limit:
                shutil.rmtree(self.root / match.group(0), ignore_errors=True)
                done.append(f"table version {match.group(0)} of an unfinished import removed")
        for stale in self.root.glob(".v*.staging"):
            shutil.rmtree(stale, ignore_errors=True)
        return done

    def _pointer(self) -> str | None:
        pointer = self.root / "CURRENT"
        if not pointer.exists():
            return None
        name = pointer.read_text(encoding="utf-8").strip()
        return name if _VERSION.match(name) else None

    def rollback_to(self, version: str | None) -> None:
        """Make ``version`` current again (after a failure elsewhere in the same import)."""
        if version is None:
            with contextlib.suppress(FileNotFoundError):
                (self.root / "CURRENT").unlink()
        else:
            self._point_to(version)

    def _point_to(self, name: str) -> None:
        tmp = self.root / ".CURRENT.tmp"
        tmp.write_text(name + "\n", encoding="utf-8")
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, self.root / "CURRENT")

    def _versions(self) -> list[re.Match[str]]:
        if not self.root.exists():
            return []
        found = (_VERSION.match(p.name) for p in self.root.iterdir() if p.is_dir())
        return sorted((m for m in found if m), key=lambda m: int(m.group(1)))

    def _prune(self) -> None:
        current = self.version
        versions = [m.group(0) for m in self._versions()]
        keep = set(versions[-self.keep_versions :]) | ({current} if current else set())
        for name in versions:
            if name not in keep:
                shutil.rmtree(self.root / name, ignore_errors=True)
        for stale in self.root.glob(".v*.staging"):
            shutil.rmtree(stale, ignore_errors=True)


def _number(version: str) -> int:
    match = _VERSION.match(version)
    return int(match.group(1)) if match else 0


def _fsync_dir(folder: Path) -> None:
    """Make a folder's entries durable (a rename survives a power cut)."""
    with contextlib.suppress(OSError):
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
