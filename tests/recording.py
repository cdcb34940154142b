"""A local backend that records what each bucketed job broadcasts (its artefact)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from salescope.compute import LocalBackend


def recording_backend(monkeypatch: pytest.MonkeyPatch) -> tuple[LocalBackend, list[Any]]:
    """A ``LocalBackend`` whose ``map_buckets`` runs as usual and appends each job's artefact
    to the list returned with it."""
    seen: list[Any] = []
    backend = LocalBackend()
    run = backend.map_buckets

    def recording(table: pa.Table, kernel: Any, artefact: Any, schema: pa.Schema) -> pa.Table:
        seen.append(artefact)
        return run(table, kernel, artefact, schema)

    monkeypatch.setattr(backend, "map_buckets", recording)
    return backend, seen
