"""Files read as the command line reads them, for the services' ``check_*`` (which take
frames, never files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from salescope.data.io import read_tables
from salescope.domain import schemas

SCHEMAS = {
    "orders": schemas.ORDERS,
    "products": schemas.PRODUCTS,
    "customers": schemas.CUSTOMERS,
    "promotions": schemas.PROMOTIONS,
    "objectives": schemas.OBJECTIVES,
    "targets": schemas.TARGETS,
    "reps": schemas.REPS,
    "market": schemas.MARKET,
    "visits": schemas.VISITS,
    "proposals": schemas.PROPOSALS,
}


def read_inputs(
    *, schemas_by_name: dict[str, Any] | None = None, **paths: Path | None
) -> dict[str, Any]:
    """The frames of ``paths`` by field (``None`` for a file not given) and ``sources``:
    keyword arguments of a ``check_*``."""
    known = SCHEMAS | (schemas_by_name or {})
    frames: dict[str, Any] = read_tables({k: (p, known[k]) for k, p in paths.items()})
    return frames | {"sources": paths}
