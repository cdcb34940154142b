"""Use cases of the optimal order: next orders and their backtest."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import polars as pl

from salescope.data.io import atomic_path, write_csv
from salescope.domain.errors import InputError
from salescope.domain.schemas import CUSTOMERS, OBJECTIVES, ORDERS, PRODUCTS, PROMOTIONS, TARGETS
from salescope.orders.evaluation import (
    METHODS,
    CutoffResult,
    backtest,
    default_cutoffs,
    summary_rows,
)
from salescope.orders.model import Acceptance, EngineParams, NextOrderModel, Promote
from salescope.orders.novelties import promote_with
from salescope.orders.promotions import PromotionModel
from salescope.progress import Progress, no_progress
from salescope.reports.plots import backtest_figure, save
from salescope.services.inputs import order_reference_notes, parse_date_option, read_all

Mode = Literal["proposal", "rank"]


@dataclass(frozen=True, slots=True)
class NextOrdersInput:
    orders: pl.DataFrame
    products: pl.DataFrame | None
    customers: pl.DataFrame | None
    promotions: pl.DataFrame | None
    objectives: pl.DataFrame | None
    targets: pl.DataFrame
    as_of: dt.date
    mode: Mode
    top: int | None


def check_next_orders(
    *,
    orders: Path,
    products: Path | None = None,
    customers: Path | None = None,
    promotions: Path | None = None,
    objectives: Path | None = None,
    targets: Path | None = None,
    as_of: str | None = None,
    mode: str = "proposal",
    top: int | None = None,
    max_issues: int = 20,
) -> NextOrdersInput:
    """Read and validate everything ``next-orders`` takes; the targets default to every
    customer of the history, dated ``as_of`` (default: the day after the last order)."""
    if mode not in ("proposal", "rank"):
        raise InputError.single("--mode", "is not one of: proposal, rank", value=mode)
    if top is not None and top < 1:
        raise InputError.single("--top", "must be at least 1", value=str(top))
    as_of_date = parse_date_option(as_of, "--as-of")
    frames = read_all(
        [
            (orders, ORDERS),
            (products, PRODUCTS),
            (customers, CUSTOMERS),
            (promotions, PROMOTIONS),
            (objectives, OBJECTIVES),
            (targets, TARGETS),
        ],
        max_issues=max_issues,
    )
    history, product_frame, customer_frame, promotion_frame, objective_frame, target_frame = frames
    assert history is not None
    if history.height == 0:
        raise InputError.single(str(orders), "holds no order lines: nothing to learn from")
    order_reference_notes(
        history,
        orders_file=str(orders),
        orders_path=orders,
        customers=None if customer_frame is None else customer_frame["customer_id"],
        customers_what=str(customers),
        products=None if product_frame is None else product_frame["product_id"],
        products_what=str(products),
        customers_effect="learned from, without customer attributes",
        products_effect="learned from, without catalogue attributes",
    )
    if as_of_date is None:
        last = history.select(pl.col("order_date").max()).item()
        as_of_date = last + dt.timedelta(days=1)
    if target_frame is None:
        target_frame = (
            history.select(pl.col("customer_id").unique(maintain_order=True))
            .with_columns(pl.lit(as_of_date).alias("order_date"))
            .sort("customer_id")
        )
    return NextOrdersInput(
        orders=history,
        products=product_frame,
        customers=customer_frame,
        promotions=promotion_frame,
        objectives=objective_frame,
        targets=target_frame,
        as_of=as_of_date,
        mode=mode,  # type: ignore[arg-type]
        top=top,
    )


def fit_next_orders(
    request: NextOrdersInput,
    *,
    params: EngineParams | None = None,
    progress: Progress = no_progress,
) -> NextOrderModel:
    """The next-order engine learned from the request's history, products and customers."""
    return NextOrderModel(params).fit(
        request.orders, request.products, customers=request.customers, progress=progress
    )


def do_next_orders(
    request: NextOrdersInput,
    out: Path,
    *,
    params: EngineParams | None = None,
    model: NextOrderModel | None = None,
    resting: pl.DataFrame | None = None,
    acceptance: Acceptance | None = None,
    progress: Progress = no_progress,
) -> pl.DataFrame:
    """Learn from the history (unless a fitted ``model`` is given), predict the next order of
    every target and write the lines to ``out`` (atomically: no file on failure). Returns the
    lines.

    ``resting`` (``customer_id, product_id``) and ``acceptance`` (the feedback calibration,
    ``salescope.services.feedback``) come from the operational database when one is used;
    promotions given with the request are learned from the history and attached to the
    novelties within their budgets."""
    if model is None:
        model = fit_next_orders(
            request, params=params, progress=lambda stage, f: progress(stage, 0.8 * f)
        )
    progress("predicting", 0.85)
    lines = model.recommend(
        request.targets,
        mode=request.mode,
        top=request.top,
        objectives=request.objectives,
        resting=resting,
        acceptance=acceptance,
        promote=_promoter(request),
    )
    progress("writing", 0.97)
    write_csv(lines, out)
    progress("done", 1.0)
    return lines


def _promoter(request: NextOrdersInput) -> Promote | None:
    """The promotions step of the proposals, when the request gives promotions."""
    if request.promotions is None or request.promotions.height == 0:
        return None
    model = PromotionModel().fit(
        request.orders, request.promotions, products=request.products, customers=request.customers
    )
    return promote_with(model)


@dataclass(frozen=True, slots=True)
class EvaluateInput:
    orders: pl.DataFrame
    cutoffs: list[dt.date]


def check_evaluate(
    *, orders: Path, cutoffs: list[str] | None = None, max_issues: int = 20
) -> EvaluateInput:
    """Read the history and the backtest cut-offs; each cut-off must leave history before it
    and orders after it."""
    dates = [d for d in (parse_date_option(c, "--cutoffs") for c in cutoffs or []) if d]
    (history,) = read_all([(orders, ORDERS)], max_issues=max_issues)
    assert history is not None
    if history.height == 0:
        raise InputError.single(str(orders), "holds no order lines: nothing to evaluate")
    first, last = history.select(
        pl.col("order_date").min().alias("a"), pl.col("order_date").max().alias("b")
    ).row(0)
    for cutoff in dates:
        if not first < cutoff <= last:
            raise InputError.single(
                "--cutoffs",
                f"must fall inside the history ({first} .. {last}): there must be orders "
                "before and after it",
                value=cutoff.isoformat(),
            )
    return EvaluateInput(orders=history, cutoffs=sorted(dates))


@dataclass(frozen=True, slots=True)
class EvaluateResult:
    results: list[CutoffResult]
    report: Path
    plot: Path
    table: Path


def do_evaluate(
    request: EvaluateInput,
    out_dir: Path,
    *,
    params: EngineParams | None = None,
    progress: Progress = no_progress,
) -> EvaluateResult:
    """Backtest the engine and the baselines at each cut-off; write ``report.json``,
    ``summary.csv`` and ``backtest.png`` to ``out_dir``."""
    cutoffs = request.cutoffs or default_cutoffs(request.orders)
    if not cutoffs:
        raise InputError.single(
            "--cutoffs", "none given and the history is too short to choose them"
        )
    results = backtest(request.orders, cutoffs, params=params, progress=progress)
    per_cutoff = [r.as_dict() for r in results]
    payload = {
        "cutoffs": per_cutoff,
        "summary": summary_rows(results),
        "orders": request.orders.height,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    report = out_dir / "report.json"
    with atomic_path(report) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    table = out_dir / "summary.csv"
    write_csv(pl.DataFrame(summary_rows(results)), table)
    plot = save(backtest_figure(per_cutoff, METHODS), out_dir / "backtest.png")
    return EvaluateResult(results, report, plot, table)
