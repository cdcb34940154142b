"""Adapters: real exports in, canonical tables out, with an account of what was dropped.

An adapter is a pure function of its input files: it returns ``AdapterOutput`` and writes
nothing. Storing the tables (all-or-nothing, idempotent) is the import service's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl


@dataclass(frozen=True, slots=True)
class Dropped:
    """Rows an adapter left out of a table, and why."""

    table: str
    reason: str
    rows: int


@dataclass(slots=True)
class AdapterOutput:
    """Canonical tables produced from a source, and the account of the conversion."""

    source: str
    tables: dict[str, pl.DataFrame]
    dropped: list[Dropped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def kept(self) -> dict[str, int]:
        return {name: frame.height for name, frame in self.tables.items()}

    def drop(self, table: str, reason: str, rows: int) -> None:
        """Record ``rows`` left out of ``table`` for ``reason`` (nothing recorded for 0)."""
        if rows:
            self.dropped.append(Dropped(table, reason, int(rows)))
