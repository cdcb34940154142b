"""The coverage map: served shops, prospects to add, shops to drop and reps, by region."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from salescope.domain.statuses import Recommendation

# (label, filter, colour, marker, size), drawn in this order
_LAYERS: tuple[tuple[str, pl.Expr, str, str, float], ...] = (
    (
        "prospects (not added)",
        (pl.col("status") == "prospect") & (pl.col("recommendation") != "add"),
        "#90a4ae",
        ".",
        5,
    ),
    (
        "served: keep",
        (pl.col("status") == "served") & (pl.col("recommendation") == "keep"),
        Recommendation.KEEP.colour,
        "o",
        8,
    ),
    (
        "served: grow",
        pl.col("recommendation") == "grow",
        Recommendation.GROW.colour,
        "o",
        10,
    ),
    (
        "served: change mode",
        pl.col("recommendation") == "change_mode",
        Recommendation.CHANGE_MODE.colour,
        "o",
        9,
    ),
    (
        "served: reduce",
        pl.col("recommendation") == "reduce",
        Recommendation.REDUCE.colour,
        "o",
        9,
    ),
    ("drop", pl.col("recommendation") == "drop", Recommendation.DROP.colour, "X", 30),
    ("add", pl.col("recommendation") == "add", Recommendation.ADD.colour, "P", 34),
)


def coverage_map(
    shops: pl.DataFrame, reps: pl.DataFrame, *, max_panels: int = 9, title: str = "Coverage"
) -> Figure:
    """One panel per region (or one for all when regions are missing or too many).

    ``shops``: customer_id, latitude, longitude, status, recommendation and optionally region;
    ``reps``: rep_id, latitude, longitude and optionally region and role.
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
        rows, cols, figsize=(6.5 * cols, 5.5 * rows), squeeze=False, layout="constrained"
    )
    for ax, region in zip(axes.flat, regions, strict=False):
        here = located if region is None else located.filter(pl.col("region") == region)
        staff = reps
        if region is not None and "region" in reps.columns:
            staff = reps.filter(pl.col("region") == region)
        _panel(ax, here, staff, "all regions" if region is None else str(region))
    for ax in list(axes.flat)[len(regions) :]:
        ax.set_visible(False)
    counts = located.group_by("recommendation").len()
    text = ", ".join(f"{r}: {n:,}" for r, n in counts.sort("recommendation").iter_rows())
    figure.suptitle(f"{title} — {text}", fontsize=11)
    return figure


def _panel(ax: Axes, shops: pl.DataFrame, reps: pl.DataFrame, name: str) -> None:
    for label, keep, colour, marker, size in _LAYERS:
        layer = shops.filter(keep)
        if layer.height:
            ax.scatter(
                layer["longitude"].to_numpy(),
                layer["latitude"].to_numpy(),
                s=size,
                c=colour,
                marker=marker,
                linewidths=0.3 if marker in ("X", "P") else 0,
                edgecolors="white",
                label=f"{label} ({layer.height:,})",
                zorder=3 if marker in ("X", "P") else 2,
            )
    if reps.height:
        merch = (
            reps.filter(pl.col("role") == "merchandiser")
            if "role" in reps.columns
            else reps.head(0)
        )
        field = reps.join(merch.select("rep_id"), on="rep_id", how="anti")
        for people, marker, label in ((field, "^", "reps"), (merch, "s", "merchandisers")):
            if people.height:
                ax.scatter(
                    people["longitude"].to_numpy(),
                    people["latitude"].to_numpy(),
                    s=90,
                    c="#212121",
                    marker=marker,
                    edgecolors="white",
                    label=f"{label} ({people.height})",
                    zorder=4,
                )
                for rep_id, lon, lat in people.select(
                    "rep_id", "longitude", "latitude"
                ).iter_rows():
                    ax.annotate(
                        str(rep_id),
                        (lon, lat),
                        fontsize=7,
                        xytext=(4, 4),
                        textcoords="offset points",
                    )
    mid = shops["latitude"].mean() if shops.height else None
    if isinstance(mid, float):
        ax.set_aspect(1.0 / max(0.2, math.cos(math.radians(mid))))
    ax.set_title(name)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.legend(loc="best", fontsize=7, framealpha=0.8)
