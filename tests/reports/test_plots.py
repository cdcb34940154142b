"""Plots: the proposals figure (bars by kind, the novelties' calibration before and after
feedback), written as PNG atomically, in the colours of the shared vocabularies."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import polars as pl

from salescope.domain.statuses import LINE_KIND_COLOURS, LineKind
from salescope.reports.plots import KIND_COLOURS, proposals_figure, save

EMPTY = pl.DataFrame(schema={"predicted": pl.Float64, "actual": pl.Float64, "lines": pl.Int64})


def _reliability(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "predicted": [0.1 * (i + 1) for i in range(n)],
            "actual": [0.1 * i for i in range(n)],
            "lines": [10] * n,
        }
    )


def test_no_novelty_shown_says_so_without_a_warning() -> None:
    """Before any feedback a run may show no novelty at all: the calibration panel says so
    instead of drawing an empty legend (matplotlib warns on a legend with no labelled artist)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figure = proposals_figure({"usual": 120}, EMPTY, EMPTY)
    reliability = figure.axes[1]
    assert reliability.get_legend() is None
    assert any(t.get_text() == "no novelty shown" for t in reliability.texts)
    plt.close(figure)


def test_both_rounds_are_drawn_and_labelled() -> None:
    """With novelties before and after feedback, each round is a labelled series."""
    points = pl.DataFrame({"predicted": [0.2, 0.6], "actual": [0.1, 0.5], "lines": [10, 30]})
    figure = proposals_figure({"usual": 120, "extension": 12}, points, points)
    labels = [t.get_text() for t in figure.axes[1].get_legend().get_texts()]
    assert labels == ["before feedback", "after feedback"]
    assert [p.get_height() for p in figure.axes[0].patches] == [120, 12]
    plt.close(figure)


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
