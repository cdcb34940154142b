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
    evaluate_last_order,
    summary_rows,
)
from salescope.orders.model import Acceptance, EngineParams, NextOrderModel, Promote
from salescope.orders.novelties import promote_with
from salescope.orders.persistence import ModelFolderError, fingerprint, load_model, save_model
from salescope.orders.promotions import PromotionModel
from salescope.progress import Progress, no_progress
from salescope.reports.plots import backtest_figure, save
from salescope.services.inputs import order_reference_notes, parse_date_option, read_all

Mode = Literal["proposal", "rank"]


@dataclass(frozen=True, slots=True)
class NextOrdersInput:
    orders: pl.DataFrame | None  # None: a trained model (--model) with no history given
    products: pl.DataFrame | None
    customers: pl.DataFrame | None
    promotions: pl.DataFrame | None
    objectives: pl.DataFrame | None
    targets: pl.DataFrame
    as_of: dt.date
    mode: Mode
    top: int | None
    model: NextOrderModel | None = None  # read from --model: scored without refitting


def check_next_orders(
    *,
    orders: Path | None = None,
    model: Path | None = None,
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
    """Read and validate everything ``next-orders`` takes: the history to learn from
    (``orders``) or a trained model (``model``, from ``salescope train``). The targets default
    to every customer of the history, dated ``as_of`` (default: the day after the last
    order)."""
    check_sources(
        orders=orders is not None,
        model=model is not None,
        promotions=promotions is not None,
        mode=mode,
        top=top,
    )
    as_of_date = parse_date_option(as_of, "--as-of")
    trained = load_trained(model) if model is not None else None
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
    return next_orders_input(
        frames,
        orders=None if orders is None else str(orders),
        orders_path=orders,
        products=None if products is None else str(products),
        customers=None if customers is None else str(customers),
        trained=trained,
        as_of=as_of_date,
        mode=mode,
        top=top,
    )


def check_sources(
    *, orders: bool, model: bool, promotions: bool, mode: str, top: int | None
) -> None:
    """``next-orders`` learns from ``--orders`` or scores with ``--model``; promotions' lifts
    are learned from the history; the mode and the number of lines are valid."""
    if mode not in ("proposal", "rank"):
        raise InputError.single("--mode", "is not one of: proposal, rank", value=mode)
    if top is not None and top < 1:
        raise InputError.single("--top", "must be at least 1", value=str(top))
    if not orders and not model:
        raise InputError.single(
            "--orders", "is needed (the history to learn from), or --model (a trained engine)"
        )
    if model and promotions and not orders:
        raise InputError.single(
            "--promotions",
            "with --model needs --orders too: the promotions' lifts are learned from the history",
        )


def next_orders_input(
    frames: list[pl.DataFrame | None],
    *,
    orders: str | None,
    orders_path: Path | None,
    products: str | None,
    customers: str | None,
    trained: NextOrderModel | None,
    as_of: dt.date | None,
    mode: str,
    top: int | None,
) -> NextOrdersInput:
    """The request from the frames read (orders, products, customers, promotions,
    objectives, targets; None where not given): notes on the orders' references, the date
    and the targets by default."""
    as_of_date = as_of
    history, product_frame, customer_frame, promotion_frame, objective_frame, target_frame = frames
    if history is not None and history.height == 0 and trained is None:
        raise InputError.single(str(orders), "holds no order lines: nothing to learn from")
    if history is not None and orders is not None:
        order_reference_notes(
            history,
            orders_file=orders,
            orders_path=orders_path,
            customers=None if customer_frame is None else customer_frame["customer_id"],
            customers_what=str(customers),
            products=None if product_frame is None else product_frame["product_id"],
            products_what=str(products),
            customers_effect="learned from, without customer attributes",
            products_effect="learned from, without catalogue attributes",
        )
    if as_of_date is None:
        if trained is not None:
            as_of_date = trained.cutoff_
        else:
            assert history is not None
            as_of_date = history.select(pl.col("order_date").max()).item() + dt.timedelta(days=1)
    if target_frame is None:
        ids = (
            trained.codes_.customers.select("customer_id")
            if trained is not None
            else history.select(pl.col("customer_id").unique())  # type: ignore[union-attr]
        )
        target_frame = ids.with_columns(pl.lit(as_of_date).alias("order_date")).sort("customer_id")
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
        model=trained,
    )


def load_trained(folder: Path) -> NextOrderModel:
    """A model folder written by ``salescope train``, or InputError naming ``--model``."""
    try:
        return load_model(folder)
    except ModelFolderError as error:
        raise InputError.single("--model", str(error), value=str(folder)) from None


def fit_next_orders(
    request: NextOrdersInput,
    *,
    params: EngineParams | None = None,
    progress: Progress = no_progress,
) -> NextOrderModel:
    """The next-order engine learned from the request's history, products and customers (or
    the trained one it names)."""
    if request.model is not None:
        return request.model
    assert request.orders is not None
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
    """Learn from the history (unless a fitted ``model`` is given or the request names a
    trained one), predict the next order of every target and write the lines to ``out``
    (atomically: no file on failure). Returns the lines.

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


@dataclass(frozen=True, slots=True)
class TrainInput:
    orders: pl.DataFrame
    products: pl.DataFrame | None
    customers: pl.DataFrame | None
    as_of: dt.date | None
    files: dict[str, str]


def check_train(
    *,
    orders: Path,
    model_out: Path,
    products: Path | None = None,
    customers: Path | None = None,
    as_of: str | None = None,
    max_issues: int = 20,
) -> TrainInput:
    """Read and validate what ``train`` learns from; the model folder must be a folder (or
    not exist yet)."""
    if model_out.exists() and not model_out.is_dir():
        raise InputError.single("--model-out", "is a file, not a folder", value=str(model_out))
    as_of_date = parse_date_option(as_of, "--as-of")
    history, product_frame, customer_frame = read_all(
        [(orders, ORDERS), (products, PRODUCTS), (customers, CUSTOMERS)], max_issues=max_issues
    )
    assert history is not None
    if as_of_date is not None:
        history = history.filter(pl.col("order_date") < as_of_date)
    if history.height == 0:
        where = f" before {as_of_date}" if as_of_date else ""
        raise InputError.single(str(orders), f"holds no order lines{where}: nothing to learn from")
    files = {"orders": str(orders)}
    files.update({k: str(v) for k, v in (("products", products), ("customers", customers)) if v})
    return TrainInput(history, product_frame, customer_frame, as_of_date, files)


@dataclass(frozen=True, slots=True)
class TrainResult:
    folder: Path
    summary: dict[str, object]


def do_train(
    request: TrainInput,
    model_out: Path,
    *,
    params: EngineParams | None = None,
    progress: Progress = no_progress,
) -> TrainResult:
    """Fit the engine once and write it to ``model_out`` (atomically), for ``next-orders
    --model`` and the app to serve without refitting."""
    model = NextOrderModel(params).fit(
        request.orders,
        request.products,
        customers=request.customers,
        cutoff=request.as_of,
        progress=lambda stage, f: progress(stage, 0.95 * f),
    )
    progress("writing the model", 0.96)
    folder = save_model(
        model,
        model_out,
        data=fingerprint(request.orders, request.products, request.customers),
        data_files=request.files,
    )
    progress("done", 1.0)
    return TrainResult(folder, model.summary())


def _promoter(request: NextOrdersInput) -> Promote | None:
    """The promotions step of the proposals, when the request gives promotions."""
    if request.promotions is None or request.promotions.height == 0 or request.orders is None:
        return None
    model = PromotionModel().fit(
        request.orders, request.promotions, products=request.products, customers=request.customers
    )
    return promote_with(model)


Protocol = Literal["cutoffs", "last-order"]


@dataclass(frozen=True, slots=True)
class EvaluateInput:
    orders: pl.DataFrame
    cutoffs: list[dt.date]
    protocol: Protocol = "cutoffs"
    products: pl.DataFrame | None = None
    customers: pl.DataFrame | None = None


def check_evaluate(
    *,
    orders: Path,
    cutoffs: list[str] | None = None,
    protocol: str = "cutoffs",
    products: Path | None = None,
    customers: Path | None = None,
    max_issues: int = 20,
) -> EvaluateInput:
    """Read the history and the backtest's protocol: calendar cut-offs (each must leave
    history before it and orders after it) or each customer's last order held out."""
    if protocol not in ("cutoffs", "last-order"):
        raise InputError.single("--protocol", "is not one of: cutoffs, last-order", value=protocol)
    if protocol == "last-order" and cutoffs:
        raise InputError.single(
            "--cutoffs", "is not used by --protocol last-order (each customer's own last order)"
        )
    dates = [d for d in (parse_date_option(c, "--cutoffs") for c in cutoffs or []) if d]
    history, product_frame, customer_frame = read_all(
        [(orders, ORDERS), (products, PRODUCTS), (customers, CUSTOMERS)], max_issues=max_issues
    )
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
    return EvaluateInput(
        orders=history,
        cutoffs=sorted(dates),
        protocol=protocol,  # type: ignore[arg-type]
        products=product_frame,
        customers=customer_frame,
    )


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
    if request.protocol == "last-order":
        results = [
            evaluate_last_order(
                request.orders,
                products=request.products,
                customers=request.customers,
                params=params,
                progress=progress,
            )
        ]
    else:
        cutoffs = request.cutoffs or default_cutoffs(request.orders)
        if not cutoffs:
            raise InputError.single(
                "--cutoffs", "none given and the history is too short to choose them"
            )
        results = backtest(
            request.orders,
            cutoffs,
            products=request.products,
            customers=request.customers,
            params=params,
            progress=progress,
        )
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
