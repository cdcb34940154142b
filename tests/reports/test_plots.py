"""Plots: written as PNG, atomically, in the colours of the shared vocabularies."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from salescope.domain.statuses import LINE_KIND_COLOURS, LineKind
from salescope.reports.plots import KIND_COLOURS, proposals_figure, save


def _reliability(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "predicted": [0.1 * (i + 1) for i in range(n)],
            "actual": [0.1 * i for i in range(n)],
            "lines": [10] * n,
        }
    )


def test_proposals_figure_is_saved_as_png_without_a_temporary(tmp_path: Path) -> None:
    """The proposals figure is written as a PNG at the target and leaves no temporary file."""
    figure = proposals_figure({"usual": 10, "extension": 3}, _reliability(3), _reliability(2))
    target = save(figure, tmp_path / "proposals.png")
    assert target.read_bytes()[:4] == b"\x89PNG"
    assert [p.name for p in tmp_path.iterdir()] == ["proposals.png"]


def test_kind_colours_are_the_vocabularys() -> None:
    """The plots colour line kinds as ``domain.statuses`` says, for every kind."""
    assert set(KIND_COLOURS) == {k.value for k in LineKind}
    assert all(KIND_COLOURS[k.value] == c for k, c in LINE_KIND_COLOURS.items())
