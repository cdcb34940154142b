"""Progress reporting that engines and services accept without knowing who displays it."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Called with a short stage name and the fraction of the whole work done (0..1)."""

    def __call__(self, stage: str, fraction: float) -> None: ...


def no_progress(stage: str, fraction: float) -> None:
    """A Progress that shows nothing."""
