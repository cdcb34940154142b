"""Figures Salescope writes next to its results."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import polars as pl
from matplotlib.figure import Figure

from salescope.data.io import atomic_path
from salescope.domain.statuses import CUSTOMER_STATUS_COLOURS, LINE_KIND_COLOURS

STATUS_COLOURS = {s.value: c for s, c in CUSTOMER_STATUS_COLOURS.items()}  # drawing order


def save(figure: Figure, target: Path) -> Path:
    """Write ``figure`` as PNG atomically and release it."""
    with atomic_path(target) as tmp:
        figure.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(figure)
    return target


def company_overview(
    customers: pl.DataFrame, reps: pl.DataFrame, orders: pl.DataFrame, products: pl.DataFrame
) -> Figure:
    """Map of shops and reps, monthly sales by category, and the order rhythm of customers."""
    figure = plt.figure(figsize=(14, 7.5), layout="constrained")
    grid = figure.add_gridspec(2, 2, width_ratios=(1.15, 1))
    geo = figure.add_subplot(grid[:, 0])
    for status, colour in STATUS_COLOURS.items():
        shops = customers.filter(pl.col("status") == status).drop_nulls(["latitude", "longitude"])
        geo.scatter(
            shops["longitude"],
            shops["latitude"],
            s=6,
            c=colour,
            label=f"{status} ({shops.height:,})",
        )
    for role, marker in (("rep", "^"), ("merchandiser", "s")):
        people = reps.filter(pl.col("role") == role) if "role" in reps.columns else reps
        if people.height:
            geo.scatter(
                people["longitude"],
                people["latitude"],
                s=70,
                marker=marker,
                c="#c62828",
                edgecolors="white",
                label=f"{role}s ({people.height})",
            )
    geo.set_title("Market universe")
    geo.set_xlabel("longitude")
    geo.set_ylabel("latitude")
    geo.legend(loc="lower left", fontsize=8)
    geo.set_aspect(1.5)

    sales = figure.add_subplot(grid[0, 1])
    monthly = (
        orders.join(products.select("product_id", "category"), on="product_id", how="left")
        .with_columns(
            pl.col("order_date").dt.truncate("1mo").alias("month"),
            pl.col("category").fill_null("other"),
            pl.col("amount").fill_null(0.0),
        )
        .group_by("month", "category")
        .agg(pl.col("amount").sum())
        .pivot(on="category", index="month", values="amount")
        .sort("month")
        .fill_null(0.0)
    )
    categories = [c for c in monthly.columns if c != "month"]
    sales.stackplot(
        monthly["month"].to_list(),
        *[monthly[c].to_numpy() / 1e3 for c in categories],
        labels=categories,
        alpha=0.85,
    )
    sales.set_title("Our sales by category (thousands per month)")
    sales.legend(loc="upper left", fontsize=7, ncols=3)

    rhythm = figure.add_subplot(grid[1, 1])
    gaps = (
        orders.select("customer_id", "order_date")
        .unique()
        .sort("customer_id", "order_date")
        .with_columns(pl.col("order_date").diff().over("customer_id").dt.total_days().alias("gap"))
        .group_by("customer_id")
        .agg(pl.col("gap").median())
        .drop_nulls()
    )
    rhythm.hist(gaps["gap"].clip(0, 60).to_numpy(), bins=30, color="#546e7a")
    rhythm.set_title("Customers by median days between orders")
    rhythm.set_xlabel("days")
    return figure


def backtest_figure(results: list[dict[str, object]], methods: tuple[str, ...]) -> Figure:
    """Recall@10 of each method at each cut-off, and the engine's reliability diagram."""
    figure, (bars, reliability) = plt.subplots(
        1, 2, figsize=(13, 4.8), layout="constrained", width_ratios=(1.6, 1)
    )
    cutoffs = [str(r["cutoff"]) for r in results]
    width = 0.8 / max(1, len(methods))
    for i, method in enumerate(methods):
        values = [
            float(r["ranking"].get(method, {}).get("recall@10", 0.0))  # type: ignore[attr-defined]
            for r in results
        ]
        positions = [x + (i - (len(methods) - 1) / 2) * width for x in range(len(cutoffs))]
        bars.bar(positions, values, width=width, label=method)
    bars.set_xticks(range(len(cutoffs)), cutoffs)
    bars.set_ylabel("Recall@10")
    bars.set_title("Next-order backtest: Recall@10 by cut-off")
    bars.legend(fontsize=8, ncols=min(5, len(methods)))
    reliability.plot([0, 1], [0, 1], color="#9e9e9e", linestyle="--", linewidth=1)
    for r in results:
        table = r["calibration"].get("bins", [])  # type: ignore[attr-defined]
        if table:
            reliability.plot(
                [b["predicted"] for b in table],
                [b["observed"] for b in table],
                marker="o",
                label=f"{r['cutoff']} (ECE {r['calibration']['ece']:.3f})",  # type: ignore[index]
            )
    reliability.set_xlabel("predicted probability")
    reliability.set_ylabel("observed frequency")
    reliability.set_title("Engine calibration (top-20 lines)")
    reliability.legend(fontsize=8)
    return figure


KIND_COLOURS = {k.value: c for k, c in LINE_KIND_COLOURS.items()}


def proposals_figure(kinds: dict[str, int], before: pl.DataFrame, after: pl.DataFrame) -> Figure:
    """Proposal lines by kind, and the reliability of the novelties' acceptance probabilities
    (``predicted``, ``actual``, ``lines`` per bin) before and after a feedback round."""
    figure, (bars, reliability) = plt.subplots(1, 2, figsize=(12, 4.6), layout="constrained")
    names = [k for k in KIND_COLOURS if k in kinds]
    bars.bar(names, [kinds[k] for k in names], color=[KIND_COLOURS[k] for k in names])
    for i, name in enumerate(names):
        bars.annotate(f"{kinds[name]:,}", (i, kinds[name]), ha="center", va="bottom", fontsize=9)
    bars.set_yscale("log")
    bars.set_ylabel("lines (log scale)")
    bars.set_title("Proposal lines by kind")
    reliability.plot([0, 1], [0, 1], color="#9e9e9e", linestyle="--", linewidth=1)
    for label, points, colour in (
        ("before feedback", before, "#c62828"),
        ("after feedback", after, "#2e7d32"),
    ):
        if points.height:
            reliability.scatter(
                points["predicted"],
                points["actual"],
                s=(20 + 200 * points["lines"] / points["lines"].max()).to_list(),
                color=colour,
                alpha=0.75,
                label=label,
            )
            reliability.plot(points["predicted"], points["actual"], color=colour, linewidth=1)
    reliability.set_xlim(0, 1)
    reliability.set_ylim(0, 1)
    reliability.set_xlabel("acceptance probability shown")
    reliability.set_ylabel("true acceptance probability")
    reliability.set_title("Novelties: calibration (dot size: lines)")
    if before.height or after.height:
        reliability.legend(fontsize=8)
    else:
        reliability.text(0.5, 0.5, "no novelty shown", ha="center", va="center", color="#616161")
    return figure
