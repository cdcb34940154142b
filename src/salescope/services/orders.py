"""Use cases of the optimal order: next orders, training and the backtest.

Each follows the services' convention: ``check_*`` takes frames (read by ``data.io``) and
options and returns a request, raising ``FieldError`` on the field at fault; ``do_*`` acts
on a checked request and returns its result. ``propose`` is the one next-orders use case
with the feedback in force, used by ``next-orders`` and by the app and the API
(``services.serving``)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import polars as pl

from salescope.data.io import atomic_path, row_numbering, write_csv
from salescope.domain.errors import FieldError
from salescope.orders.evaluation import (
    METHODS,
    CutoffResult,
    backtest,
    default_cutoffs,
    evaluate_last_order,
    summary_rows,
)
from salescope.orders.fresh import plan_orders, scoring_cutoff, with_orders
from salescope.orders.held_out import HeldOutScorer, score_held_out
from salescope.orders.model import EngineParams, NextOrderModel, Promote
from salescope.orders.novelties import promote_with
from salescope.orders.persistence import ModelFolderError, fingerprint, load_model, save_model
from salescope.orders.promotions import PromotionModel
from salescope.progress import Progress, no_progress
from salescope.reports.plots import backtest_figure, save
from salescope.services.feedback import InForce
from salescope.services.inputs import order_reference_notes

Mode = Literal["proposal", "rank"]
MODES: tuple[Mode, ...] = ("proposal", "rank")
Sources = Mapping[str, "str | Path | None"]
"""Where each frame of a request was read from, by field (``{"orders": Path("o.csv")}``):
notes and problems about a frame's rows name it, and its lines for a file. A frame without
a source is named by its field."""


def _source(sources: Sources | None, name: str) -> tuple[str, Path | None]:
    """The name a frame is reported under, and its file when it was read from one."""
    given = (sources or {}).get(name)
    return (name, None) if given is None else (str(given), Path(given))


@dataclass(frozen=True, slots=True)
class NextOrdersRequest:
    """What the next orders are made from: the history to learn from (or a trained model),
    the catalogue, the targets (customer and date) and how to propose."""

    orders: pl.DataFrame | None  # None: a trained model with no history given
    products: pl.DataFrame | None
    customers: pl.DataFrame | None
    promotions: pl.DataFrame | None
    objectives: pl.DataFrame | None
    targets: pl.DataFrame
    as_of: dt.date
    mode: Mode
    top: int | None
    model: NextOrderModel | None = None  # a trained model: scored without refitting


def check_next_orders(
    *,
    orders: pl.DataFrame | None = None,
    model: NextOrderModel | None = None,
    products: pl.DataFrame | None = None,
    customers: pl.DataFrame | None = None,
    promotions: pl.DataFrame | None = None,
    objectives: pl.DataFrame | None = None,
    targets: pl.DataFrame | None = None,
    as_of: dt.date | None = None,
    mode: str = "proposal",
    top: int | None = None,
    sources: Sources | None = None,
) -> NextOrdersRequest:
    """Check what ``next-orders`` takes: the history to learn from (``orders``) or a trained
    model (``model``, from ``salescope train``), and the options. The targets default to
    every customer of the history (or of the model), dated ``as_of`` (default: the day after
    the last order, or the model's cut-off). Order lines naming customers or products the
    tables given do not hold are counted in a note (``services.inputs``).

    A model with orders scores each customer of the orders from its own lines there
    (``orders.fresh``: customers outside a sampled fit, new shops, orders placed since the
    fit); the targets default to the customers of both, dated the day after the last order
    (or the model's cut-off, when later), and may not be dated earlier; lines of products
    the model does not know are left out, with a note."""
    if mode not in MODES:
        raise FieldError("is not one of: proposal, rank", "mode", value=mode)
    if top is not None and top < 1:
        raise FieldError("must be at least 1", "top", value=str(top))
    if orders is None and model is None:
        raise FieldError(
            "is needed (the history to learn from), or {field:model} (a trained engine)", "orders"
        )
    if model is not None and promotions is not None and orders is None:
        raise FieldError(
            "with {field:model} needs {field:orders} too: the promotions' lifts are learned "
            "from the history",
            "promotions",
        )
    if orders is not None and orders.height == 0 and model is None:
        raise FieldError("holds no order lines: nothing to learn from", "orders")
    if orders is not None:
        orders_file, orders_path = _source(sources, "orders")
        order_reference_notes(
            orders,
            orders_file=orders_file,
            orders_path=orders_path,
            customers=None if customers is None else customers["customer_id"],
            customers_what=_source(sources, "customers")[0],
            products=None if products is None else products["product_id"],
            products_what=_source(sources, "products")[0],
            customers_effect="learned from, without customer attributes",
            products_effect="learned from, without catalogue attributes",
        )
    if model is not None and orders is not None:  # scored from the orders read now
        start = _from_orders(model, orders, as_of, targets, sources)
        as_of = as_of or start
        ids = pl.concat(
            [model.codes_.customers.select("customer_id"), orders.select("customer_id")]
        ).unique()
    elif model is not None:
        as_of = as_of or model.cutoff_
        ids = model.codes_.customers.select("customer_id")
    else:
        assert orders is not None
        as_of = as_of or orders.select(pl.col("order_date").max()).item() + dt.timedelta(days=1)
        ids = orders.select(pl.col("customer_id").unique())
    if targets is None:
        targets = ids.with_columns(pl.lit(as_of).alias("order_date")).sort("customer_id")
    return NextOrdersRequest(
        orders=orders,
        products=products,
        customers=customers,
        promotions=promotions,
        objectives=objectives,
        targets=targets,
        as_of=as_of,
        mode=mode,
        top=top,
        model=model,
    )


def _from_orders(
    model: NextOrderModel,
    orders: pl.DataFrame,
    as_of: dt.date | None,
    targets: pl.DataFrame | None,
    sources: Sources | None,
) -> dt.date:
    """A trained model scoring from the orders read now (``orders.fresh``): the first date
    its targets may have (the day after the last order, or the model's cut-off when later),
    after checking ``as_of`` and the targets' dates against it, and noting the order lines of
    products the model does not know (left out)."""
    start = scoring_cutoff(model.cutoff_, orders)
    orders_file, orders_path = _source(sources, "orders")
    order_reference_notes(
        orders,
        orders_file=orders_file,
        orders_path=orders_path,
        products=model.codes_.products["product_id"],
        products_what="the model's products",
        customers_effect="",
        products_effect=(
            "left out of the scoring: the model has no statistics of them (train again to "
            "propose them)"
        ),
    )
    why = (
        f"the next orders follow the orders read: with {{field:model}}, {{field:orders}} "
        f"ends on {start - dt.timedelta(days=1)} (the model learned from the orders before "
        f"{model.cutoff_}), so the targets are dated {start} or later"
    )
    if as_of is not None and as_of < start:
        raise FieldError(f"is before {start}: {why}", "as_of", value=as_of.isoformat())
    if targets is not None and targets.height:
        early = targets.with_row_index("_row").filter(pl.col("order_date") < start)
        if early.height:
            path = _source(sources, "targets")[1]
            offset, label = row_numbering(path) if path is not None else (1, "row")
            row, day = early.select("_row", "order_date").row(0)
            more = f" (and {early.height - 1:,} more)" if early.height > 1 else ""
            raise FieldError(
                f"{label} {row + offset}, column 'order_date': {day} is before {start}{more}: "
                f"{why}",
                "targets",
            )
    return start


def load_trained(folder: Path) -> NextOrderModel:
    """A model folder written by ``salescope train``, or a ``FieldError`` on ``model``."""
    try:
        return load_model(folder)
    except ModelFolderError as error:
        raise FieldError(str(error), "model") from None  # the message names the folder


def fit_next_orders(
    request: NextOrdersRequest,
    *,
    params: EngineParams | None = None,
    progress: Progress = no_progress,
    planned: bool = False,
) -> NextOrderModel:
    """The next-order engine learned from the request's history, products and customers (or
    the trained one it names; with orders too, that engine scoring the targets' customers
    from their lines in the orders: ``orders.fresh.with_orders``; ``planned``: the planned
    engine, whose customers' tables each bucket computes, for a backend)."""
    if request.model is not None and request.orders is not None:
        progress("scoring from the orders read", 0.1)
        only = request.targets["customer_id"].unique()
        if planned:
            return plan_orders(request.model, request.orders, request.customers, only=only)
        return with_orders(request.model, request.orders, request.customers, only=only).engine
    if request.model is not None:
        return request.model
    assert request.orders is not None
    return NextOrderModel(params).fit(
        request.orders, request.products, customers=request.customers, progress=progress
    )


def propose(
    model: NextOrderModel,
    targets: pl.DataFrame,
    in_force: InForce,
    *,
    mode: Mode = "proposal",
    top: int | None = None,
    objectives: pl.DataFrame | None = None,
    promote: Promote | None = None,
) -> pl.DataFrame:
    """The next orders of ``targets`` (``customer_id, order_date``) with the feedback in
    force: the resting products are not offered as novelties, and once the acceptance
    calibrator is fitted the novelties' probabilities are calibrated on what customers did
    with earlier ones (before any feedback the engine's own gate decides). The one use case
    of next orders: the command line (``do_next_orders``), the app and the API
    (``services.serving``) all propose through it."""
    return model.recommend(
        targets,
        mode=mode,
        top=top,
        objectives=objectives,
        resting=in_force.resting,
        acceptance=in_force.acceptance,
        promote=promote,
    )


def do_next_orders(
    request: NextOrdersRequest,
    out: Path,
    *,
    in_force: InForce | None = None,
    params: EngineParams | None = None,
    model: NextOrderModel | None = None,
    progress: Progress = no_progress,
) -> pl.DataFrame:
    """Learn from the history (unless a fitted ``model`` is given or the request names a
    trained one), propose the next order of every target (``propose``, with the feedback
    ``in_force``: ``services.feedback.in_force``; none before any feedback) and write the
    lines to ``out`` (atomically: no file on failure). Returns the lines. Promotions given
    with the request are learned from the history and attached to the novelties within
    their budgets."""
    if model is None:
        model = fit_next_orders(
            request, params=params, progress=lambda stage, f: progress(stage, 0.8 * f)
        )
    progress("predicting", 0.85)
    lines = propose(
        model,
        request.targets,
        in_force or InForce.nothing(),
        mode=request.mode,
        top=request.top,
        objectives=request.objectives,
        promote=_promoter(request),
    )
    progress("writing", 0.97)
    write_csv(lines, out)
    progress("done", 1.0)
    return lines


@dataclass(frozen=True, slots=True)
class TrainRequest:
    orders: pl.DataFrame
    products: pl.DataFrame | None
    customers: pl.DataFrame | None
    as_of: dt.date | None
    files: dict[str, str]


def check_train(
    *,
    orders: pl.DataFrame,
    products: pl.DataFrame | None = None,
    customers: pl.DataFrame | None = None,
    as_of: dt.date | None = None,
    sources: Sources | None = None,
) -> TrainRequest:
    """Check what ``train`` learns from: order lines before ``as_of`` (when given)."""
    if as_of is not None:
        orders = orders.filter(pl.col("order_date") < as_of)
    if orders.height == 0:
        where = f" before {as_of}" if as_of else ""
        raise FieldError(f"holds no order lines{where}: nothing to learn from", "orders")
    files = {
        name: _source(sources, name)[0]
        for name, frame in (("orders", orders), ("products", products), ("customers", customers))
        if frame is not None
    }
    return TrainRequest(orders, products, customers, as_of, files)


@dataclass(frozen=True, slots=True)
class TrainResult:
    folder: Path
    summary: dict[str, object]


def do_train(
    request: TrainRequest,
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


def _promoter(request: NextOrdersRequest) -> Promote | None:
    """The promotions step of the proposals, when the request gives promotions."""
    if request.promotions is None or request.promotions.height == 0 or request.orders is None:
        return None
    model = PromotionModel().fit(
        request.orders, request.promotions, products=request.products, customers=request.customers
    )
    return promote_with(model)


Protocol = Literal["cutoffs", "last-order"]


@dataclass(frozen=True, slots=True)
class EvaluateRequest:
    orders: pl.DataFrame
    cutoffs: list[dt.date]
    protocol: Protocol = "cutoffs"
    products: pl.DataFrame | None = None
    customers: pl.DataFrame | None = None


def check_evaluate(
    *,
    orders: pl.DataFrame,
    cutoffs: Sequence[dt.date] = (),
    protocol: str = "cutoffs",
    products: pl.DataFrame | None = None,
    customers: pl.DataFrame | None = None,
) -> EvaluateRequest:
    """Check the history and the backtest's protocol: calendar cut-offs (each must leave
    history before it and orders after it) or each customer's last order held out."""
    if protocol not in ("cutoffs", "last-order"):
        raise FieldError("is not one of: cutoffs, last-order", "protocol", value=protocol)
    if protocol == "last-order" and cutoffs:
        raise FieldError(
            "is not used by {field:protocol} last-order (each customer's own last order)",
            "cutoffs",
        )
    if orders.height == 0:
        raise FieldError("holds no order lines: nothing to evaluate", "orders")
    first, last = orders.select(
        pl.col("order_date").min().alias("a"), pl.col("order_date").max().alias("b")
    ).row(0)
    for cutoff in cutoffs:
        if not first < cutoff <= last:
            raise FieldError(
                f"must fall inside the history ({first} .. {last}): there must be orders "
                "before and after it",
                "cutoffs",
                value=cutoff.isoformat(),
            )
    if protocol == "cutoffs" and not cutoffs and not default_cutoffs(orders):
        raise FieldError("none given and the history is too short to choose them", "cutoffs")
    return EvaluateRequest(
        orders=orders,
        cutoffs=sorted(cutoffs),
        protocol=protocol,  # type: ignore[arg-type]
        products=products,
        customers=customers,
    )


@dataclass(frozen=True, slots=True)
class EvaluateResult:
    results: list[CutoffResult]
    report: Path
    plot: Path
    table: Path


def do_evaluate(
    request: EvaluateRequest,
    out_dir: Path,
    *,
    params: EngineParams | None = None,
    score: HeldOutScorer = score_held_out,
    progress: Progress = no_progress,
) -> EvaluateResult:
    """Backtest the engine and the baselines at each cut-off; write ``report.json``,
    ``summary.csv`` and ``backtest.png`` to ``out_dir``. ``score``: how each fitted engine
    scores the held-out targets (in one call, or bucket by bucket on a compute backend:
    ``services.scaled.do_evaluate_on``)."""
    if request.protocol == "last-order":
        results = [
            evaluate_last_order(
                request.orders,
                products=request.products,
                customers=request.customers,
                params=params,
                score=score,
                progress=progress,
            )
        ]
    else:
        cutoffs = request.cutoffs or default_cutoffs(request.orders)
        results = backtest(
            request.orders,
            cutoffs,
            products=request.products,
            customers=request.customers,
            params=params,
            score=score,
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
