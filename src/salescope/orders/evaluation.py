"""Time-based backtest of the next-order engine against the baselines.

At each cut-off the engine and the baselines learn from the orders before it; the target of a
customer is its first order on or after the cut-off (customers with history only), dated as it
was placed. Reported per cut-off and method: Recall@10/20, NDCG@10, PHR@10, repeat and explore
recall; for the engine also the proposal's precision / recall / F1, the calibration error of
its probabilities, and quantity WAPE and bias on the lines it got right (against "repeat the
last quantity" on the same lines).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from salescope.orders import baselines
from salescope.orders.held_out import HeldOutScorer, score_held_out
from salescope.orders.history import encode
from salescope.orders.metrics import (
    calibration,
    proposal_metrics,
    quantity_metrics,
    ranking_metrics,
)
from salescope.orders.model import EngineParams, NextOrderModel
from salescope.orders.shapes import hold_out_first_orders_after, hold_out_last_orders
from salescope.progress import Progress, no_progress

ENGINE = "engine"
LAST_ORDER = "last order"  # the label of a last-order backtest
METHODS = (ENGINE, "TIFU-KNN", "GP-TopFreq", "P-TopFreq", "G-TopFreq")


@dataclass
class CutoffResult:
    """Everything measured at one cut-off."""

    cutoff: str
    customers: int
    lines: int
    ranking: dict[str, dict[str, float]] = field(default_factory=dict)
    proposal: dict[str, float] = field(default_factory=dict)
    quantity: dict[str, dict[str, float]] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    tifu: dict[str, Any] = field(default_factory=dict)
    extension: dict[str, float] = field(default_factory=dict)
    novelties: list[dict[str, Any]] = field(default_factory=list)
    engine: dict[str, Any] = field(default_factory=dict)  # what the fitted engine did
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_cutoffs(orders: pl.DataFrame, n: int = 3) -> list[dt.date]:
    """``n`` cut-offs in the last part of the history, spaced by a few order intervals, each
    leaving time for the customers' next orders."""
    dates = orders.select(
        pl.col("order_date").min().alias("a"), pl.col("order_date").max().alias("b")
    )
    first, last = dates.row(0)
    gaps = (
        orders.select("customer_id", "order_date")
        .unique()
        .sort("customer_id", "order_date")
        .select(pl.col("order_date").diff().over("customer_id").dt.total_days().median())
        .item()
    )
    step = int(max(28, 3 * (gaps or 14)))
    cuts = [last - dt.timedelta(days=step * i) for i in range(n, 0, -1)]
    return [c for c in cuts if c > first + dt.timedelta(days=step)]


def evaluate_cutoff(
    orders: pl.DataFrame,
    cutoff: dt.date,
    *,
    products: pl.DataFrame | None = None,
    customers: pl.DataFrame | None = None,
    params: EngineParams | None = None,
    grid: baselines.TifuGrid | None = None,
    score: HeldOutScorer = score_held_out,
    progress: Progress = no_progress,
) -> CutoffResult:
    """Backtest at one cut-off: everything learns from the orders before it; the target is
    each customer's first order on or after it."""
    history, held_out = hold_out_first_orders_after(orders, cutoff)
    return evaluate_held_out(
        history,
        held_out,
        label=cutoff.isoformat(),
        cutoff=cutoff,
        products=products,
        customers=customers,
        params=params,
        grid=grid,
        score=score,
        progress=progress,
    )


def evaluate_last_order(
    orders: pl.DataFrame,
    *,
    products: pl.DataFrame | None = None,
    customers: pl.DataFrame | None = None,
    params: EngineParams | None = None,
    grid: baselines.TifuGrid | None = None,
    score: HeldOutScorer = score_held_out,
    progress: Progress = no_progress,
) -> CutoffResult:
    """Backtest holding out each customer's last order (``shapes.hold_out_last_orders``):
    the engine and the baselines learn from every other order; each customer's target is its
    last order, dated as placed. The protocol for histories whose customers come and go, or
    whose dates are only an order sequence."""
    history, held_out = hold_out_last_orders(orders)
    return evaluate_held_out(
        history,
        held_out,
        label=LAST_ORDER,
        cutoff=None,
        products=products,
        customers=customers,
        params=params,
        grid=grid,
        score=score,
        progress=progress,
    )


def evaluate_held_out(
    history_orders: pl.DataFrame,
    held_out: pl.DataFrame,
    *,
    label: str,
    cutoff: dt.date | None,
    products: pl.DataFrame | None = None,
    customers: pl.DataFrame | None = None,
    params: EngineParams | None = None,
    grid: baselines.TifuGrid | None = None,
    score: HeldOutScorer = score_held_out,
    progress: Progress = no_progress,
) -> CutoffResult:
    """Score the engine and the baselines learning from ``history_orders`` on the orders
    ``held_out`` (one per target customer, canonical lines: whole days, as ``shapes`` holds
    them out — a day the history shares would be one basket with it); ``cutoff``: the date the
    history ends (calendar protocol) or None (each customer's order at its own date).
    ``score``: how the fitted engine scores the targets (in one call by default, or bucket
    by bucket on a compute backend: the same lists)."""
    both = pl.concat(
        [
            history_orders.with_columns(pl.lit(False).alias("_held")),
            held_out.with_columns(pl.lit(True).alias("_held")),
        ],
        how="diagonal_relaxed",
    )
    lines, codes = encode(both, products, carry=("_held",))
    is_truth = pl.col("_held")
    history = lines.filter(~is_truth).drop("_held")
    seen = history.select("c", "p").unique().with_columns(pl.lit(1).alias("seen"))
    truth = (
        lines.filter(is_truth)
        .drop("_held")
        .join(history.select("c").unique(), on="c", how="semi")
        .join(seen, on=["c", "p"], how="left")
        .with_columns(pl.col("seen").fill_null(0))
    )
    targets = truth.group_by("c").agg(pl.col("d").first().alias("t")).sort("c")
    result = CutoffResult(label, targets.height, truth.height)
    if targets.height == 0:
        return result
    id_targets = targets.join(codes.customers, on="c").select(
        "customer_id", pl.col("t").alias("order_date")
    )

    progress("engine", 0.0)
    started = time.perf_counter()
    model = NextOrderModel(params).fit(history_orders, products, customers=customers, cutoff=cutoff)
    result.seconds["engine_fit"] = time.perf_counter() - started
    started = time.perf_counter()
    scores = score(model, id_targets)
    ranked = _coded(scores.ranked, codes)
    proposal = _coded(scores.proposal, codes)
    engine_unseen = _coded(scores.unseen, codes)
    result.seconds["engine_predict"] = time.perf_counter() - started
    result.ranking[ENGINE] = ranking_metrics(ranked, truth)
    result.proposal = proposal_metrics(proposal, truth)
    result.calibration = calibration(ranked.filter(pl.col("rank") <= 10), truth)
    result.engine = model.summary()
    hit_repeat = ranked.filter((pl.col("rank") <= 10) & (pl.col("kind") == "usual"))
    last = baselines.last_quantity(history)
    result.quantity[ENGINE] = quantity_metrics(hit_repeat, truth)
    result.quantity["last quantity"] = quantity_metrics(
        hit_repeat.drop("quantity").join(last, on=["c", "p"]), truth
    )
    result.quantity["engine, proposal"] = quantity_metrics(proposal, truth)
    result.novelties = novelty_precision(proposal, truth)

    progress("baselines", 0.6)
    started = time.perf_counter()
    validation = (
        baselines.calendar_validation(model.spacing_)
        if cutoff is not None
        else baselines.last_order_validation
    )
    tuned, validation_recall = baselines.tune_tifu(
        history, codes.n_customers, codes.n_products, validation=validation, grid=grid
    )
    tifu = baselines.TifuKnn(tuned).fit(history, codes.n_customers, codes.n_products)
    result.ranking["TIFU-KNN"] = ranking_metrics(tifu.rank(targets, 20), truth)
    result.tifu = {**asdict(tuned), "validation_recall@10": validation_recall}
    reference = _unseen_only(tifu.rank(targets, 400, alpha=0.0), history, 10)
    ours = ranking_metrics(engine_unseen, truth, (10,))["explore_recall@10"]
    theirs = ranking_metrics(reference, truth, (10,))["explore_recall@10"]
    result.extension = {
        "engine_explore_recall@10": ours,
        "user_knn_explore_recall@10": theirs,
        "gain": ours / theirs - 1.0 if theirs > 0 else float("nan"),
    }
    result.seconds["tifu_tuning"] = time.perf_counter() - started
    result.ranking["GP-TopFreq"] = ranking_metrics(
        baselines.gp_topfreq(history, targets, 20), truth
    )
    result.ranking["P-TopFreq"] = ranking_metrics(baselines.p_topfreq(history, targets, 20), truth)
    result.ranking["G-TopFreq"] = ranking_metrics(baselines.g_topfreq(history, targets, 20), truth)
    progress("done", 1.0)
    return result


def _unseen_only(ranked: pl.DataFrame, history: pl.DataFrame, top: int) -> pl.DataFrame:
    """A ranking restricted to the products each customer never bought, re-ranked 1..top."""
    return (
        ranked.join(history.select("c", "p").unique(), on=["c", "p"], how="anti")
        .sort("c", "rank")
        .with_columns(pl.int_range(1, pl.len() + 1).over("c").cast(pl.UInt32).alias("rank"))
        .filter(pl.col("rank") <= top)
    )


def novelty_precision(proposal: pl.DataFrame, truth: pl.DataFrame) -> list[dict[str, Any]]:
    """The novelties of the proposals (coded ``c, p``) by kind and by promotion: how many were
    shown, and the share the customer's next order held (a backtest has no proposals to
    answer, so this is the precision of novelties against what customers did on their own)."""
    novel = proposal.filter(pl.col("kind") != "usual").join(
        truth.select("c", "p", pl.lit(True).alias("_hit")), on=["c", "p"], how="left"
    )
    if novel.height == 0:
        return []
    rows: list[dict[str, Any]] = []
    for by in ("kind", "promotion_id"):
        table = (
            novel.filter(pl.col(by).is_not_null())
            .group_by(by)
            .agg(
                pl.len().alias("shown"),
                pl.col("_hit").fill_null(False).mean().alias("precision"),
                pl.col("probability").mean().alias("mean_probability"),
            )
            .sort(by)
        )
        rows.extend({"by": by, "value": r.pop(by), **r} for r in table.iter_rows(named=True))
    return rows


def _coded(lines: pl.DataFrame, codes: Any) -> pl.DataFrame:
    """Output lines with the evaluation's codes ``c, p``."""
    return lines.join(codes.customers, on="customer_id").join(codes.products, on="product_id")


def backtest(
    orders: pl.DataFrame,
    cutoffs: list[dt.date],
    *,
    products: pl.DataFrame | None = None,
    customers: pl.DataFrame | None = None,
    params: EngineParams | None = None,
    grid: baselines.TifuGrid | None = None,
    score: HeldOutScorer = score_held_out,
    progress: Progress = no_progress,
) -> list[CutoffResult]:
    """``evaluate_cutoff`` at each cut-off."""
    results = []
    for i, cutoff in enumerate(cutoffs):

        def step(stage: str, fraction: float, i: int = i, cutoff: dt.date = cutoff) -> None:
            progress(f"{cutoff}: {stage}", (i + fraction) / len(cutoffs))

        results.append(
            evaluate_cutoff(
                orders,
                cutoff,
                products=products,
                customers=customers,
                params=params,
                grid=grid,
                score=score,
                progress=step,
            )
        )
    return results


def summary_rows(results: list[CutoffResult]) -> list[dict[str, Any]]:
    """One row per cut-off and method, for tables."""
    rows: list[dict[str, Any]] = []
    for result in results:
        for method in METHODS:
            metrics = result.ranking.get(method)
            if metrics is None:
                continue
            row: dict[str, Any] = {"cutoff": result.cutoff, "method": method}
            for key in (
                "recall@10",
                "recall@20",
                "ndcg@10",
                "phr@10",
                "repeat_recall@10",
                "explore_recall@10",
            ):
                row[key] = metrics.get(key)
            if method == ENGINE:
                row.update({f"proposal_{k}": v for k, v in result.proposal.items()})
                row["wape"] = result.quantity[ENGINE].get("wape")
                row["bias"] = result.quantity[ENGINE].get("bias")
                row["wape_last_quantity"] = result.quantity["last quantity"].get("wape")
                row["ece"] = result.calibration.get("ece")
            rows.append(row)
    return rows
