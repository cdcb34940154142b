"""The next-order engine on the command line: ``next-orders``, ``train``, ``evaluate``; the
model the app serves (``models``) and automatic replenishment (``orders place-automatic``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from salescope.cli.backends import (
    BackendOpt,
    SampleOpt,
    SparkMasterOpt,
)
from salescope.cli.common import (
    EncodingOpt,
    err,
    fields,
    given,
    models_app,
    orders_app,
    out,
    progress_bar,
    render_table,
    settings_of,
)
from salescope.domain.errors import InputError

if TYPE_CHECKING:
    import polars as pl


def next_orders(
    ctx: typer.Context,
    out_file: Annotated[Path, typer.Option("--out", help="Output CSV of proposed lines.")],
    orders: Annotated[
        Path | None,
        typer.Option(
            help="Order lines: the whole history to learn from; with --model, the orders "
            "the customers are scored from (each one's own lines, the model unchanged)."
        ),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(help="A model folder written by `salescope train`: no refitting."),
    ] = None,
    products: Annotated[Path | None, typer.Option(help="Products table.")] = None,
    customers: Annotated[Path | None, typer.Option(help="Customers table.")] = None,
    promotions: Annotated[Path | None, typer.Option(help="Promotions table.")] = None,
    objectives: Annotated[Path | None, typer.Option(help="Objectives table.")] = None,
    targets: Annotated[
        Path | None, typer.Option(help="CSV customer_id, order_date of the orders to predict.")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option(help="Date of the orders (YYYY-MM-DD) when no --targets.")
    ] = None,
    mode: Annotated[str, typer.Option(help="proposal (gated, default) or rank (top K).")] = (
        "proposal"
    ),
    top: Annotated[int | None, typer.Option(help="Lines per customer (rank: exactly K).")] = None,
    encoding: EncodingOpt = None,
    backend: BackendOpt = "local",
    spark_master: SparkMasterOpt = None,
) -> None:
    """Propose the next order of each target customer."""
    from salescope.data.io import read_tables
    from salescope.data.outputs import check_output_file
    from salescope.domain import schemas
    from salescope.services import orders as service
    from salescope.services.feedback import in_force
    from salescope.services.inputs import parse_date_option

    settings = settings_of(ctx, encoding)
    if backend != "local" or spark_master:
        from salescope.cli.backends import next_orders_on

        with progress_bar(f"next orders ({backend})") as update:
            lines, engine, where = next_orders_on(
                settings,
                backend=backend,
                master=spark_master,
                out_file=out_file,
                orders=orders,
                model=model,
                products=products,
                customers=customers,
                promotions=promotions,
                objectives=objectives,
                targets=targets,
                as_of=as_of,
                mode=mode,
                top=top,
                progress=update,
            )
        show_lines(lines, mode, where)
        show_engine(engine.summary(), trained=model)
        return
    check_output_file(out_file)
    as_of_date = parse_date_option(as_of, "--as-of")
    with fields():
        trained = service.load_trained(model) if model is not None else None
    files = {
        "orders": (orders, schemas.ORDERS),
        "products": (products, schemas.PRODUCTS),
        "customers": (customers, schemas.CUSTOMERS),
        "promotions": (promotions, schemas.PROMOTIONS),
        "objectives": (objectives, schemas.OBJECTIVES),
        "targets": (targets, schemas.TARGETS),
    }
    frames = read_tables(files, max_issues=settings.max_issues)
    with fields(orders=orders, targets=targets):
        request = service.check_next_orders(
            **frames,
            model=trained,
            as_of=as_of_date,
            mode=mode,
            top=top,
            sources={name: path for name, (path, _) in files.items()},
        )
    feedback = in_force(settings, request.as_of)
    with progress_bar("next orders") as update:
        engine = service.fit_next_orders(request, progress=lambda s, f: update(s, 0.8 * f))
        lines = service.do_next_orders(
            request, out_file, model=engine, in_force=feedback, progress=update
        )
    show_lines(lines, request.mode, str(out_file))
    show_engine(engine.summary(), trained=model)


def show_lines(lines: pl.DataFrame, mode: str, where: str) -> None:
    """Say how many lines of each kind were written where, and which customers lapsed."""
    n_customers = lines["customer_id"].n_unique()
    out.print(
        f"{lines.height:,} lines for {n_customers:,} customers ({mode} mode) written to {where}"
    )
    counts = lines.group_by("kind").len().sort("kind")
    out.print(", ".join(f"{k}: {n:,}" for k, n in counts.iter_rows()))
    lapsed = lines.filter(lines["lapsed"])["customer_id"].n_unique()
    if lapsed:
        out.print(
            f"{lapsed:,} customers have not ordered for much longer than their rhythm: "
            "flagged lapsed (column lapsed), with a short proposal and no novelty"
        )


def show_engine(summary: dict[str, Any], *, trained: Path | None = None) -> None:
    """Say how the engine ranks the usual lines, and why, in a sentence or two."""
    from salescope.orders.summary import describe

    for sentence in describe(summary, trained=trained):
        out.print(sentence)


def train(
    ctx: typer.Context,
    orders: Annotated[Path, typer.Option(help="Order lines: the history to learn from.")],
    model_out: Annotated[
        Path, typer.Option("--model-out", help="Folder to write the fitted engine to.")
    ],
    products: Annotated[Path | None, typer.Option(help="Products table.")] = None,
    customers: Annotated[Path | None, typer.Option(help="Customers table.")] = None,
    as_of: Annotated[
        str | None, typer.Option(help="Learn from the orders before this date (YYYY-MM-DD).")
    ] = None,
    encoding: EncodingOpt = None,
    backend: BackendOpt = "local",
    spark_master: SparkMasterOpt = None,
    sample: SampleOpt = None,
) -> None:
    """Fit the next-order engine once and write it to a folder (next-orders --model)."""
    from salescope.data.io import read_tables
    from salescope.data.outputs import check_output_dir
    from salescope.domain import schemas
    from salescope.services import orders as service
    from salescope.services.inputs import parse_date_option

    settings = settings_of(ctx, encoding)
    if backend != "local" or spark_master or sample is not None:
        from salescope.cli.backends import train_on

        with progress_bar(f"training ({backend})") as update:
            result = train_on(
                settings,
                backend=backend,
                master=spark_master,
                orders=orders,
                model_out=model_out,
                products=products,
                customers=customers,
                as_of=as_of,
                sample=sample,
                progress=update,
            )
        out.print(f"Model written to {result.folder}")
        show_engine(result.summary)
        return
    check_output_dir(model_out, "--model-out")
    as_of_date = parse_date_option(as_of, "--as-of")
    files = {"orders": orders, "products": products, "customers": customers}
    frames = read_tables(
        {
            "orders": (orders, schemas.ORDERS),
            "products": (products, schemas.PRODUCTS),
            "customers": (customers, schemas.CUSTOMERS),
        },
        max_issues=settings.max_issues,
    )
    with fields(orders=orders):
        request = service.check_train(
            orders=given(frames["orders"]),
            products=frames["products"],
            customers=frames["customers"],
            as_of=as_of_date,
            sources=files,
        )
    with progress_bar("training") as update:
        result = service.do_train(request, model_out, progress=update)
    out.print(f"Model written to {result.folder}")
    show_engine(result.summary)


def evaluate(
    ctx: typer.Context,
    orders: Annotated[Path, typer.Option(help="Order lines to backtest on.")],
    cutoffs: Annotated[
        list[str] | None, typer.Option(help="Cut-off dates (YYYY-MM-DD); repeat the option.")
    ] = None,
    protocol: Annotated[
        str,
        typer.Option(
            help="cutoffs (each customer's first order after each cut-off) or last-order "
            "(each customer's last order held out). An order is a customer's day: the order "
            "ids of one date count as one."
        ),
    ] = "cutoffs",
    products: Annotated[Path | None, typer.Option(help="Products table.")] = None,
    customers: Annotated[Path | None, typer.Option(help="Customers table.")] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Directory for the JSON report and the plot.")
    ] = Path("evaluation"),
    encoding: EncodingOpt = None,
    backend: BackendOpt = "local",
    spark_master: SparkMasterOpt = None,
) -> None:
    """Backtest the next-order engine against baselines (--backend spark: the held-out
    customers scored on the cluster, the fits on this machine)."""
    from salescope.data.io import read_tables
    from salescope.data.outputs import check_output_dir
    from salescope.domain import schemas
    from salescope.services import orders as service
    from salescope.services.inputs import parse_date_option

    settings = settings_of(ctx, encoding)
    if backend != "local" or spark_master:
        from salescope.cli.backends import evaluate_on

        with progress_bar(f"backtest ({backend})") as update:
            result = evaluate_on(
                settings,
                backend=backend,
                master=spark_master,
                orders=orders,
                products=products,
                customers=customers,
                cutoffs=cutoffs or [],
                protocol=protocol,
                out_dir=out_dir,
                progress=update,
            )
        show_backtest(result.results)
        out.print(f"Report {result.report}, table {result.table}, plot {result.plot}")
        return
    check_output_dir(out_dir)
    dates = [d for d in (parse_date_option(c, "--cutoffs") for c in cutoffs or []) if d]
    frames = read_tables(
        {
            "orders": (orders, schemas.ORDERS),
            "products": (products, schemas.PRODUCTS),
            "customers": (customers, schemas.CUSTOMERS),
        },
        max_issues=settings.max_issues,
    )
    with fields(orders=orders):
        request = service.check_evaluate(
            orders=given(frames["orders"]),
            cutoffs=dates,
            protocol=protocol,
            products=frames["products"],
            customers=frames["customers"],
        )
    with progress_bar("backtest") as update:
        result = service.do_evaluate(request, out_dir, progress=update)
    show_backtest(result.results)
    out.print(f"Report {result.report}, table {result.table}, plot {result.plot}")


def show_backtest(results: Sequence[Any]) -> None:
    """Print the backtest tables: ranking per method, then the engine's proposal and
    quantities."""
    from salescope.orders.evaluation import METHODS

    keys = ("recall@10", "recall@20", "ndcg@10", "phr@10", "repeat_recall@10", "explore_recall@10")
    for result in results:
        rows = [
            (method, *(f"{result.ranking[method][k]:.4f}" for k in keys))
            for method in METHODS
            if method in result.ranking
        ]
        title = f"Cut-off {result.cutoff}: {result.customers:,} customers, {result.lines:,} lines"
        headers = ("method", "R@10", "R@20", "NDCG@10", "PHR@10", "repeat R@10", "explore R@10")
        out.print(render_table(title, rows, headers))
        p, q, last = (
            result.proposal,
            result.quantity.get("engine", {}),
            result.quantity.get("last quantity", {}),
        )
        if p:
            out.print(
                f"  proposal: precision {p['precision']:.3f}, recall {p['recall']:.3f}, "
                f"F1 {p['f1']:.3f}, {p['lines_per_proposal']:.1f} lines "
                f"(orders hold {p['lines_per_order']:.1f});"
                f" quantity WAPE {q.get('wape', float('nan')):.3f} (bias {q.get('bias', 0):+.3f})"
                f" vs last quantity {last.get('wape', float('nan')):.3f};"
                f" calibration error {result.calibration.get('ece', float('nan')):.3f}"
                f" (Brier skill {result.calibration.get('brier_skill', float('nan')):+.3f})"
            )
        if result.engine:
            show_engine(result.engine)
        x = result.extension
        if x:
            out.print(
                "  range extension (products never bought, ranked among themselves): "
                f"explore R@10 {x['engine_explore_recall@10']:.4f} against "
                f"{x['user_knn_explore_recall@10']:.4f} for user-kNN over TIFU vectors "
                f"({x['gain']:+.1%})"
            )
        if result.novelties:
            shown = ", ".join(
                f"{r['value']} {r['shown']:,} shown, {r['precision']:.1%} ordered"
                for r in result.novelties
            )
            out.print(f"  novelties of the proposals (ordered unprompted): {shown}")


@models_app.command("train")
def models_train(ctx: typer.Context) -> None:
    """Train the engine on the data folder (its tables, with the orders placed in the app
    merged in first) and make it the model the app serves (for a nightly schedule)."""
    from salescope.services import models as service

    settings = settings_of(ctx)
    service.check_train_app(settings)
    with progress_bar("training") as update:
        result = service.do_train_app(settings, actor="cli", source="cli", progress=update)
    if result.merged.orders:
        out.print(
            f"{result.merged.orders:,} orders placed in the app ({result.merged.lines:,} lines) "
            f"merged into the tables (version {result.merged.version})"
        )
    out.print(
        f"Model {result.run_id} written to {result.folder} and in use (learned from the "
        f"orders before {result.cutoff})"
    )
    show_engine(result.summary)


@models_app.command("use")
def models_use(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(help="A model folder written by `salescope train`.")],
) -> None:
    """Make a model folder written by `salescope train` the model the app serves."""
    from salescope.orders.persistence import ModelFolderError
    from salescope.services import models as service
    from salescope.services.database import open_database

    try:
        with open_database(settings_of(ctx)) as database, database.session() as session:
            run = service.do_register_model(session, folder, actor="cli", source="cli")
    except ModelFolderError as error:
        raise InputError.single("FOLDER", str(error)) from None  # the message names it
    out.print(f"Model {run.id} ({run.folder}, orders before {run.cutoff}) is now in use.")


@models_app.command("list")
def models_list(ctx: typer.Context) -> None:
    """The latest trainings: status, when, from what, how the usual lines are ranked."""
    from salescope.services import models as service
    from salescope.services.database import open_database

    with open_database(settings_of(ctx)) as database, database.session() as session:
        runs = service.list_runs(session, None)
        in_use = service.model_in_use_id(session)
        rows = [
            (
                str(r.id) + (" (in use)" if r.id == in_use else ""),
                r.status,
                r.created_at.strftime("%Y-%m-%d %H:%M"),
                r.source,
                str(r.cutoff or ""),
                str((r.summary or {}).get("ranked_by", "")),
                (r.message or "")[:60],
            )
            for r in runs
        ]
    headers = ("model", "status", "started", "by", "orders before", "ranked by", "message")
    out.print(render_table(f"{len(rows)} models", rows, headers, text=7))


@orders_app.command("place-automatic")
def orders_place_automatic(
    ctx: typer.Context,
    at: Annotated[
        str | None,
        typer.Option(
            help="Act as if it were this moment (ISO, UTC: 2024-09-02T16:05), for a catch-up."
        ),
    ] = None,
) -> None:
    """Place the automatic orders whose cut-off has passed (for cron, every few minutes):
    each shop in automatic mode gets its proposal, or the lines it saved, unless it cancelled
    or already ordered for that date. Running it twice places nothing twice."""
    import datetime as dt

    from salescope.services import replenishment
    from salescope.services.calendar import Clock
    from salescope.services.database import open_database
    from salescope.services.serving import OrderEngine

    settings = settings_of(ctx)
    clock = Clock.from_settings(settings)
    if at is not None:
        try:
            moment = dt.datetime.fromisoformat(at)
        except ValueError:
            raise InputError.single("--at", "not an ISO date and time", value=at) from None
        moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
        clock = Clock(shift=moment - dt.datetime.now(dt.UTC))
    with open_database(settings) as database:
        engine = OrderEngine(settings, database, clock, warm=False)
        run = replenishment.do_place_due(database, engine, actor="cli (automatic replenishment)")
    days = replenishment.due_dates(clock.now(), settings.auto_cutoff_hour)
    if not days:
        out.print(
            f"No cut-off has passed for an upcoming delivery at {clock.now():%Y-%m-%d %H:%M} UTC."
        )
    for order_id in run.placed:
        out.print(f"placed {order_id}")
    for reason, n in sorted(run.skipped.items()):
        out.print(f"{n:,} shops skipped: {reason}")
    for customer, message in sorted(run.failed.items()):
        err.print(f"{customer}: {message}")
    out.print(f"{len(run.placed):,} automatic orders placed.")
    if run.failed:
        raise typer.Exit(1)
