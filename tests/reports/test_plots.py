"""The proposals figure: bars by kind and the novelties' calibration before and after feedback."""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import polars as pl

from salescope.reports.plots import proposals_figure

EMPTY = pl.DataFrame(schema={"predicted": pl.Float64, "actual": pl.Float64, "lines": pl.Int64})


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
