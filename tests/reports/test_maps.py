"""The coverage map: outline, territories, legend, and markers that do not hide each other."""

from __future__ import annotations

import numpy as np
import polars as pl
from matplotlib.collections import PathCollection
from matplotlib.patches import Polygon

from salescope.reports.maps import _hull, coverage_map


def _shops() -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(4)
    n = 120
    recs = ["keep"] * 60 + ["grow"] * 10 + ["drop"] * 5 + ["add"] * 5 + ["not_now"] * 40
    reps = pl.DataFrame({"rep_id": ["A", "B"], "latitude": [45.0, 45.0], "longitude": [9.0, 10.0]})
    lon = np.where(np.arange(n) % 2 == 0, rng.normal(9.0, 0.2, n), rng.normal(10.0, 0.2, n))
    shops = pl.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "latitude": rng.normal(45.0, 0.2, n),
            "longitude": lon,
            "status": ["prospect" if r in ("add", "not_now") else "served" for r in recs],
            "recommendation": recs,
            "rep_id": [
                None if r in ("not_now", "drop") else ("A" if i % 2 == 0 else "B")
                for i, r in enumerate(recs)
            ],
        }
    )
    return shops, reps


def test_the_map_draws_the_outline_the_territories_and_a_legend() -> None:
    """One outline around every shop, one territory per rep, and a legend naming each layer
    with its count."""
    shops, reps = _shops()
    ax = coverage_map(shops, reps).axes[0]
    polygons = [p for p in ax.patches if isinstance(p, Polygon)]
    assert len(polygons) == 1 + 2  # the region, then the two reps' territories
    outline = polygons[0].get_xy()
    lon, lat = shops["longitude"].to_numpy(), shops["latitude"].to_numpy()
    assert outline[:, 0].min() <= lon.min() and outline[:, 0].max() >= lon.max()
    assert outline[:, 1].min() <= lat.min() and outline[:, 1].max() >= lat.max()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "keep (60)" in labels and "add (prospect) (5)" in labels
    assert any(label.startswith("rep territories") for label in labels)
    assert any(label.startswith("region") for label in labels)


def test_smaller_markers_are_drawn_over_larger_ones() -> None:
    """The layers' z-order falls as their marker size grows: a small marker is never hidden
    under a large one."""
    shops, reps = _shops()
    ax = coverage_map(shops, reps).axes[0]
    layers = [c for c in ax.collections if isinstance(c, PathCollection) and c.get_zorder() < 5]
    order = sorted(layers, key=lambda c: c.get_zorder())
    sizes = [float(c.get_sizes()[0]) for c in order]
    assert sizes == sorted(sizes, reverse=True)


def test_hull_encloses_every_point() -> None:
    """The convex hull's polygon contains all the points (on its boundary or inside)."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=200), rng.normal(size=200)
    hull = _hull(x, y)
    from matplotlib.path import Path as MplPath

    inside = MplPath(hull).contains_points(np.column_stack([x, y]), radius=1e-9)
    on_edge = np.isin(np.round(x, 12), np.round(hull[:, 0], 12))
    assert np.all(inside | on_edge)
