"""The coverage map: the region's outline, the reps' territories, served shops by
recommendation, prospects to add, shops to drop and the reps, with a legend.

* **Outline**: the convex hull of every shop of the panel (the region as the data draw it),
  slightly padded.
* **Territories**: for each rep, the convex hull of the shops it serves after the
  recommendations (its served shops kept and the prospects added to it), filled lightly in the
  rep's colour.
* **Markers** are drawn largest first, so that a small marker is never hidden under a large
  one; the many prospects not added are small hollow circles, the few shops to add or drop
  large and outlined; every layer is half transparent where shops crowd.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon

from salescope.domain.statuses import Recommendation

# (label, filter, colour, marker, size, hollow) — drawn from the largest size to the smallest
_LAYERS: tuple[tuple[str, pl.Expr, str, str, float, bool], ...] = (
    (
        "add (prospect)",
        pl.col("recommendation") == "add",
        Recommendation.ADD.colour,
        "P",
        60,
        False,
    ),
    ("drop", pl.col("recommendation") == "drop", Recommendation.DROP.colour, "X", 50, False),
    ("grow", pl.col("recommendation") == "grow", Recommendation.GROW.colour, "o", 22, False),
    (
        "change mode",
        pl.col("recommendation") == "change_mode",
        Recommendation.CHANGE_MODE.colour,
        "D",
        16,
        False,
    ),
    ("reduce", pl.col("recommendation") == "reduce", Recommendation.REDUCE.colour, "v", 18, False),
    ("keep", pl.col("recommendation") == "keep", Recommendation.KEEP.colour, "o", 10, False),
    (
        "prospect, not now",
        pl.col("recommendation") == "not_now",
        Recommendation.NOT_NOW.colour,
        "o",
        8,
        True,
    ),
)
_REP_COLOURS = plt.get_cmap("tab20")


def coverage_map(
    shops: pl.DataFrame, reps: pl.DataFrame, *, max_panels: int = 9, title: str = "Coverage"
) -> Figure:
    """One panel per region (or one for all when regions are missing or too many).

    ``shops``: customer_id, latitude, longitude, status, recommendation, and optionally
    rep_id (the rep after the recommendations) and region; ``reps``: rep_id, latitude,
    longitude and optionally region and role.
    """
    located = shops.drop_nulls(["latitude", "longitude"])
    regions: list[str | None] = [None]
    if "region" in located.columns:
        names = located["region"].drop_nulls().unique().sort().to_list()
        if 1 < len(names) <= max_panels:
            regions = list(names)
    cols = min(3, len(regions))
    rows = math.ceil(len(regions) / cols)
    figure, axes = plt.subplots(
        rows, cols, figsize=(7.5 * cols, 5.8 * rows), squeeze=False, layout="constrained"
    )
    colours = {rep_id: _REP_COLOURS(i % 20) for i, rep_id in enumerate(reps["rep_id"].to_list())}
    for ax, region in zip(axes.flat, regions, strict=False):
        here = located if region is None else located.filter(pl.col("region") == region)
        staff = reps
        if region is not None and "region" in reps.columns:
            staff = reps.filter(pl.col("region") == region)
        _panel(ax, here, staff, colours, "all regions" if region is None else str(region))
    for ax in list(axes.flat)[len(regions) :]:
        ax.set_visible(False)
    counts = located.group_by("recommendation").len()
    text = ", ".join(f"{r}: {n:,}" for r, n in counts.sort("recommendation").iter_rows())
    figure.suptitle(f"{title} — {text}", fontsize=11)
    return figure


def _hull(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The convex hull of points (monotone chain), as a closed polygon's vertices."""
    points = np.unique(np.column_stack([x, y]), axis=0)
    if len(points) < 3:
        return points
    points = points[np.lexsort((points[:, 1], points[:, 0]))]

    def half(pts: npt.NDArray[np.float64]) -> list[npt.NDArray[np.float64]]:
        chain: list[npt.NDArray[np.float64]] = []
        for p in pts:
            while len(chain) >= 2:
                a, b = chain[-2], chain[-1]
                if (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]) > 0:
                    break
                chain.pop()
            chain.append(p)
        return chain

    lower, upper = half(points), half(points[::-1])
    return np.asarray(lower[:-1] + upper[:-1], dtype=np.float64)


def _padded(vertices: npt.NDArray[np.float64], share: float) -> npt.NDArray[np.float64]:
    centre = vertices.mean(axis=0)
    return np.asarray(centre + (vertices - centre) * (1.0 + share), dtype=np.float64)


def _draw_outline(ax: Axes, shops: pl.DataFrame, handles: list[Patch | Line2D]) -> None:
    """The region's outline: the hull of its shops, a little padded."""
    if shops.height >= 3:
        outline = _hull(shops["longitude"].to_numpy(), shops["latitude"].to_numpy())
        if len(outline) >= 3:
            ax.add_patch(
                Polygon(
                    _padded(outline, 0.03),
                    closed=True,
                    facecolor="#f5f5f5",
                    edgecolor="#616161",
                    linewidth=1.2,
                    zorder=0,
                )
            )
            handles.append(
                Patch(facecolor="#f5f5f5", edgecolor="#616161", label="region (extent of shops)")
            )


def _draw_territories(
    ax: Axes,
    shops: pl.DataFrame,
    colours: dict[str, tuple[float, float, float, float]],
    handles: list[Patch | Line2D],
) -> None:
    """Each rep's territory: the hull of its shops, in the rep's colour."""
    if "rep_id" in shops.columns:
        served = shops.filter(pl.col("rep_id").is_not_null())
        drawn = 0
        for (rep_id,), mine in served.group_by(["rep_id"], maintain_order=True):
            if mine.height < 3 or rep_id not in colours:
                continue
            area = _hull(mine["longitude"].to_numpy(), mine["latitude"].to_numpy())
            if len(area) < 3:
                continue
            rgba = colours[str(rep_id)]
            ax.add_patch(
                Polygon(
                    area,
                    closed=True,
                    facecolor=(*rgba[:3], 0.12),
                    edgecolor=(*rgba[:3], 0.8),
                    linewidth=1.0,
                    zorder=1,
                )
            )
            drawn += 1
        if drawn:
            handles.append(
                Patch(
                    facecolor=(0.5, 0.5, 0.5, 0.12),
                    edgecolor=(0.3, 0.3, 0.3, 0.8),
                    label=f"rep territories ({drawn}; the rep's colour)",
                )
            )


def _panel(
    ax: Axes,
    shops: pl.DataFrame,
    reps: pl.DataFrame,
    colours: dict[str, tuple[float, float, float, float]],
    name: str,
) -> None:
    handles: list[Patch | Line2D] = []
    _draw_outline(ax, shops, handles)
    _draw_territories(ax, shops, colours, handles)
    for label, keep, colour, marker, size, hollow in sorted(_LAYERS, key=lambda layer: -layer[4]):
        layer = shops.filter(keep)
        if not layer.height:
            continue
        ax.scatter(
            layer["longitude"].to_numpy(),
            layer["latitude"].to_numpy(),
            s=size,
            marker=marker,
            facecolors="none" if hollow else colour,
            edgecolors=colour if hollow else "white",
            linewidths=0.6 if hollow else 0.4,
            alpha=0.85,
            zorder=2 + (60 - size) / 100.0,  # smaller on top
        )
        handles.append(
            Line2D(
                [],
                [],
                linestyle="none",
                marker=marker,
                markersize=math.sqrt(size) + 1,
                markerfacecolor="none" if hollow else colour,
                markeredgecolor=colour if hollow else "white",
                label=f"{label} ({layer.height:,})",
            )
        )
    if reps.height:
        merch = (
            reps.filter(pl.col("role") == "merchandiser")
            if "role" in reps.columns
            else reps.head(0)
        )
        field = reps.join(merch.select("rep_id"), on="rep_id", how="anti")
        for people, marker, label in ((field, "^", "reps"), (merch, "s", "merchandisers")):
            if not people.height:
                continue
            ax.scatter(
                people["longitude"].to_numpy(),
                people["latitude"].to_numpy(),
                s=110,
                c=[colours.get(r, (0.13, 0.13, 0.13, 1.0)) for r in people["rep_id"].to_list()],
                marker=marker,
                edgecolors="#212121",
                linewidths=1.0,
                zorder=5,
            )
            for rep_id, lon, lat in people.select("rep_id", "longitude", "latitude").iter_rows():
                ax.annotate(
                    str(rep_id),
                    (lon, lat),
                    fontsize=7,
                    xytext=(5, 5),
                    textcoords="offset points",
                    zorder=6,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.7},
                )
            handles.append(
                Line2D(
                    [],
                    [],
                    linestyle="none",
                    marker=marker,
                    markersize=9,
                    markerfacecolor="#9e9e9e",
                    markeredgecolor="#212121",
                    label=f"{label} ({people.height})",
                )
            )
    mid = shops["latitude"].mean() if shops.height else None
    if isinstance(mid, float):
        ax.set_aspect(1.0 / max(0.2, math.cos(math.radians(mid))))
    ax.set_title(name)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=7,
        framealpha=0.9,
        borderaxespad=0.0,
    )
