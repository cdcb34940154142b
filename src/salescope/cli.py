"""The ``salescope`` command line: thin commands over the services.

A command parses its options, calls one service and renders the result. No traceback reaches
the user: errors a user can fix (``SalescopeError``, a file or folder that cannot be read or
written, a database that cannot be opened or written) are printed as one message and exit
with status 1; Ctrl-C and SIGTERM stop the command cleanly (temporary files removed, the
transaction rolled back) with status 130 and 143; anything else is a bug, reported in one
line with the file holding its traceback, status 3.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import sys
import tempfile
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from salescope import __version__
from salescope.cli_backends import (
    COVERAGE_LOCAL,
    EVALUATE_LOCAL,
    BackendOpt,
    SampleOpt,
    SparkMasterOpt,
)
from salescope.config import Settings, get_settings
from salescope.domain.errors import InputError, SalescopeError

if TYPE_CHECKING:
    from salescope.services.feedback import FeedbackReport
    from salescope.services.imports import ImportReport

app = typer.Typer(
    name="salescope",
    help="Sales intelligence: the optimal order of every customer, and coverage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
import_app = typer.Typer(
    help="Import data into the data directory as canonical tables.", no_args_is_help=True
)
app.add_typer(import_app, name="import")
users_app = typer.Typer(help="Users of the web app and API.", no_args_is_help=True)
app.add_typer(users_app, name="users")
keys_app = typer.Typer(help="API keys (shown once, stored hashed).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
recs_app = typer.Typer(help="Coverage recommendations under review.", no_args_is_help=True)
app.add_typer(recs_app, name="recommendations")
models_app = typer.Typer(
    help="The next-order model the app serves (train, use, list).", no_args_is_help=True
)
app.add_typer(models_app, name="models")
orders_app = typer.Typer(
    help="Orders in the app: automatic replenishment at its cut-off.", no_args_is_help=True
)
app.add_typer(orders_app, name="orders")

out = Console()
err = Console(stderr=True)


def _settings(ctx: typer.Context, encoding: str | None = None) -> Settings:
    """The settings of the run; with ``encoding`` (or ``SALESCOPE_ENCODING``), the CSV files
    the command reads are read in that encoding."""
    from salescope.data.io import input_encoding

    settings = ctx.obj
    assert isinstance(settings, Settings)
    chosen = encoding or settings.encoding
    if chosen:
        ctx.with_resource(input_encoding(chosen))
    return settings


EncodingOpt = Annotated[
    str | None,
    typer.Option(
        help="Encoding of the CSV files read (e.g. latin-1, cp1252); default: UTF-8, or "
        "UTF-16 with a byte-order mark. Other encodings are refused unless named here.",
    ),
]


@contextmanager
def progress_bar(description: str) -> Iterator[Any]:
    """A Rich progress bar fed by ``Progress`` callbacks (stage, fraction)."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[stage]}"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task(description, total=1.0, stage="")

        def update(stage: str, fraction: float) -> None:
            bar.update(task, completed=max(0.0, min(1.0, fraction)), stage=stage)

        yield update
        bar.update(task, completed=1.0, stage="done")


@app.callback()
def main_options(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Data directory (default: $SALESCOPE_DATA_DIR or ./salescope-data)."),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="Operational database URL (default: SQLite in the data directory)."),
    ] = None,
    max_issues: Annotated[
        int | None, typer.Option(help="Problems listed per bad input file.", min=1)
    ] = None,
) -> None:
    """Salescope: the optimal order of every customer, and who to serve, how and by whom."""
    ctx.obj = get_settings(data_dir=data_dir, database_url=database_url, max_issues=max_issues)


@app.command()
def version() -> None:
    """Print the version."""
    out.print(f"salescope {__version__}")


# -- demo ------------------------------------------------------------------------------------
@app.command()
def demo(
    ctx: typer.Context,
    seed: Annotated[int, typer.Option(help="Random seed of the synthetic company.")] = 7,
    small: Annotated[
        bool, typer.Option("--small", help="A small company (300 shops, 8 months).")
    ] = False,
    backtest: Annotated[
        bool, typer.Option(help="Also backtest the next-order engine at one cut-off.")
    ] = True,
    serve_app: Annotated[
        bool,
        typer.Option(
            "--serve/--no-serve",
            help="Serve the web app at the end (--no-serve: exit, for scripts).",
        ),
    ] = True,
    host: Annotated[str, typer.Option(help="Interface the app listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the app.", min=1, max=65535)] = 8000,
) -> None:
    """Build the synthetic demo company, run every engine on it, and score them against the
    company's ground truth; publish its coverage recommendations, create a user per role and
    serve the web app (unless --no-serve)."""
    from salescope.data.demo import DemoConfig
    from salescope.services.calendar import next_delivery_date
    from salescope.services.demo import do_demo

    settings = _settings(ctx)
    config = DemoConfig.small(seed) if small else DemoConfig(seed=seed)
    with progress_bar("demo company") as update:
        result = do_demo(settings, config, backtest=backtest, progress=update)
    summary = result.company.summary()
    labels = {
        "regions": "regions",
        "towns": "towns",
        "shops": "shops in the market universe",
        "served": "  served customers",
        "prospects": "  prospects",
        "new_in_history": "  customers won during the history",
        "churned": "  customers lost during the history",
        "reps": "reps",
        "merchandisers": "merchandisers",
        "categories": "categories",
        "products_own": "our products",
        "products_competitor": "competitors' products",
        "launches": "launches during the history",
        "promotions": "promotions",
        "objectives": "objectives",
        "orders": "orders",
        "order_lines": "order lines",
        "lines_per_order": "lines per order",
        "first_order": "first order",
        "last_order": "last order",
        "revenue": "revenue",
        "revenue_last_12m": "revenue, last 12 months",
        "lines_on_promotion": "lines bought on promotion",
        "market_rows": "market observations",
        "visits": "visits",
    }
    rows = [
        (label, f"{summary[key]:,}" if isinstance(summary[key], int | float) else str(summary[key]))
        for key, label in labels.items()
    ]
    out.print(render_table(f"Demo company (seed {seed})", rows, ("", "")))
    out.print(f"Tables stored in {settings.data_dir} (version {result.report.version}); files for")
    out.print(f"the batch commands in {result.tables_dir}, ground truth in {result.truth_dir}.")
    out.print(f"Overview plot: {result.overview}")
    s = result.next_orders_score
    out.print(
        f"\n[bold]Next orders[/] of every served customer: {result.next_orders}\n"
        f"  against the orders the customers really placed next: precision {s['precision']:.2f}, "
        f"recall {s['recall']:.2f}, F1 {s['f1']:.2f} ({s['lines_per_proposal']:.1f} lines "
        f"proposed, {s['lines_per_order']:.1f} ordered)"
    )
    show_demo_feedback(result)
    out.print("\n[bold]Coverage[/]")
    for line in result.coverage.lines():
        out.print(line, highlight=False, soft_wrap=True)
    out.print(
        f"  estimated potential against the true one: Spearman {result.potential_spearman:.3f}"
    )
    if result.evaluation is not None:
        out.print("\n[bold]Backtest[/] of the next-order engine against the baselines")
        show_backtest(result.evaluation.results)
        out.print(f"Report and plot in {result.evaluation.report.parent}")
    from salescope.services.demo_web import do_demo_web

    url = f"http://{host}:{port}"
    published, made, users_file = do_demo_web(
        settings, result.coverage.out_dir, url=url, proposals=result.feedback.proposals
    )
    out.print("\n[bold]Web app[/]")
    for line in published.lines():
        out.print(f"  {line}", highlight=False, soft_wrap=True)
    out.print(f"  Demo users (also in {users_file}):", highlight=False)
    width = max(len(u.email) for u in made) if made else 0
    for u in made:
        out.print(
            f"    {u.email:<{width}}  {u.password:<14} {u.role:<13} {u.scope}",
            highlight=False,
            soft_wrap=True,
        )
    today = settings.today or result.company.config.end + dt.timedelta(days=1)
    out.print(
        f"  The app works on {today} (the day after the demo's history; SALESCOPE_TODAY), "
        f"so the shop's next delivery is {next_delivery_date(today)}."
    )
    if serve_app:
        from salescope.web.serve import run

        run(settings.model_copy(update={"today": today}), host=host, port=port, console=out)
    else:
        out.print(
            f"Start the app with: SALESCOPE_TODAY={today} salescope --data-dir "
            f"{settings.data_dir} serve --port {port}",
            highlight=False,
            soft_wrap=True,
        )


def show_demo_feedback(result: Any) -> None:
    """The demo's proposals: the top customers' lines, counts by kind, and the simulated
    feedback round against the true acceptance."""
    import polars as pl

    lines = pl.read_csv(result.feedback.proposals, try_parse_dates=True)
    top = (
        lines.group_by("customer_id")
        .agg(pl.len().alias("n"), (pl.col("kind") != "usual").sum().alias("novel"))
        .sort(["novel", "n", "customer_id"], descending=[True, True, False])
        .head(2)["customer_id"]
        .to_list()
    )
    for customer in top:
        rows = [
            (
                str(r["rank"]),
                str(r["product_id"]),
                str(r["kind"]),
                f"{r['probability']:.2f}",
                f"{r['quantity']:g}",
                str(r["reason"] or ""),
            )
            for r in lines.filter(
                (pl.col("customer_id") == customer)
                & ((pl.col("kind") != "usual") | (pl.col("rank") <= 5))
            ).iter_rows(named=True)
        ]
        out.print(
            render_table(
                f"Proposal of {customer}",
                rows,
                ("#", "product", "kind", "prob.", "qty", "reason"),
            )
        )
    feedback = result.feedback
    kinds = ", ".join(f"{k}: {n:,}" for k, n in feedback.kinds.items())
    with_novelty = lines.group_by("customer_id").agg((pl.col("kind") != "usual").any())
    share = float(with_novelty["kind"].cast(pl.Float64).to_numpy().mean())
    out.print(f"Lines by kind: {kinds}; {share:.0%} of the proposals carry a novelty.")
    b, a = feedback.before, feedback.after
    out.print(
        "[bold]Simulated feedback round[/] (the shops answer as the truth says): "
        f"shown novelties accepted with true probability {b.get('shown_acceptance', 0):.2f} "
        f"before and {a.get('shown_acceptance', 0):.2f} after the feedback, against "
        f"{a.get('random_acceptance', 0):.2f} for products chosen at random "
        f"({a.get('lift_over_random', 0):.1f} x); calibration error of the novelties' "
        f"probabilities {b.get('ece', float('nan')):.3f} before, {a.get('ece', float('nan')):.3f} "
        "after."
    )
    for line in feedback.report.lines():
        out.print(f"  {line}", highlight=False, soft_wrap=True)
    out.print(f"Proposals after the feedback: {feedback.proposals}; plot: {feedback.plot}")


# -- imports ---------------------------------------------------------------------------------
PathsArg = Annotated[
    list[Path], typer.Argument(help="Files or directories to import.", show_default=False)
]
ReplaceOpt = Annotated[
    bool, typer.Option("--replace", help="Replace the stored tables instead of merging.")
]


def _import(
    ctx: typer.Context, source: str, paths: list[Path], encoding: str | None, **options: Any
) -> None:
    from salescope.services.imports import do_import

    settings = _settings(ctx, encoding)
    with progress_bar(f"import {source}") as update:
        report = do_import(settings, source, paths, progress=update, **options)
    show_import(report, settings)


@import_app.command("iowa")
def import_iowa(
    ctx: typer.Context, paths: PathsArg, replace: ReplaceOpt = False, encoding: EncodingOpt = None
) -> None:
    """Iowa liquor sales: the cleaned parquet with its stores and products files, or the
    portal's raw export."""
    _import(ctx, "iowa", paths, encoding, replace=replace)


@import_app.command("online-retail")
def import_online_retail(
    ctx: typer.Context, paths: PathsArg, replace: ReplaceOpt = False, encoding: EncodingOpt = None
) -> None:
    """UCI Online Retail (online_retail.csv.gz)."""
    _import(ctx, "online-retail", paths, encoding, replace=replace)


@import_app.command("tables")
def import_tables(
    ctx: typer.Context,
    paths: PathsArg,
    table: Annotated[
        str | None, typer.Option(help="Table of every file (default: from each file's name).")
    ] = None,
    replace: ReplaceOpt = False,
    encoding: EncodingOpt = None,
) -> None:
    """Canonical tables (CSV or Parquet) named after their table: orders.csv, customers.csv…"""
    _import(ctx, "tables", paths, encoding, table=table, replace=replace)


def show_import(report: ImportReport, settings: Settings) -> None:
    """Print what an import kept, dropped and changed."""
    rows = []
    for name, change in report.changes.items():
        unit = " orders" if name == "orders" else ""
        rows.append(
            (
                name,
                f"{report.kept.get(name, 0):,}",
                f"{change.added:,}{unit}",
                f"{change.replaced:,}{unit}",
                f"{change.unchanged:,}{unit}",
                f"{change.rows_after:,}",
            )
        )
    out.print(
        render_table(
            f"Imported {report.source} into {settings.data_dir}",
            rows,
            ("table", "rows read", "added", "replaced", "unchanged", "rows stored"),
        )
    )
    if report.dropped:
        dropped = [(d.table, d.reason, f"{d.rows:,}") for d in report.dropped]
        out.print(render_table("Left out", dropped, ("table", "reason", "rows"), text=2))
    for note in report.notes:
        out.print(f"[dim]note:[/] {note}")
    if report.changed:
        out.print(f"Stored as table version {report.version} in {report.seconds:.1f} s.")
    else:
        out.print(
            "Nothing changed: the data directory already holds these data "
            f"({report.seconds:.1f} s)."
        )


# -- engines ---------------------------------------------------------------------------------


@app.command("next-orders")
def next_orders(
    ctx: typer.Context,
    out_file: Annotated[Path, typer.Option("--out", help="Output CSV of proposed lines.")],
    orders: Annotated[
        Path | None, typer.Option(help="Order lines: the whole history to learn from.")
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
    from salescope.data.outputs import check_output_file
    from salescope.services import orders as service

    settings = _settings(ctx, encoding)
    if backend != "local" or spark_master:
        from salescope.cli_backends import next_orders_on

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
    request = service.check_next_orders(
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
        max_issues=settings.max_issues,
    )
    from salescope.services.feedback import in_force

    resting, calibrator = in_force(settings, request.as_of)
    with progress_bar("next orders") as update:
        engine = service.fit_next_orders(request, progress=lambda s, f: update(s, 0.8 * f))
        lines = service.do_next_orders(
            request,
            out_file,
            model=engine,
            resting=resting,
            acceptance=calibrator.apply if calibrator.is_fitted else None,
            progress=update,
        )
    show_lines(lines, request.mode, str(out_file))
    show_engine(engine.summary(), trained=model)


def show_lines(lines: Any, mode: str, where: str) -> None:
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


@app.command()
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
    from salescope.data.outputs import check_output_dir
    from salescope.services import orders as service

    settings = _settings(ctx, encoding)
    if backend != "local" or spark_master or sample is not None:
        from salescope.cli_backends import train_on

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
    request = service.check_train(
        orders=orders,
        model_out=model_out,
        products=products,
        customers=customers,
        as_of=as_of,
        max_issues=settings.max_issues,
    )
    with progress_bar("training") as update:
        result = service.do_train(request, model_out, progress=update)
    out.print(f"Model written to {result.folder}")
    show_engine(result.summary)


@app.command()
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
            "(each customer's last order held out)."
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
    """Backtest the next-order engine against baselines."""
    from salescope.cli_backends import unsupported
    from salescope.data.outputs import check_output_dir
    from salescope.services import orders as service

    unsupported("evaluate", backend, spark_master, EVALUATE_LOCAL)
    settings = _settings(ctx, encoding)
    check_output_dir(out_dir)
    request = service.check_evaluate(
        orders=orders,
        cutoffs=cutoffs,
        protocol=protocol,
        products=products,
        customers=customers,
        max_issues=settings.max_issues,
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


@app.command()
def assign(
    ctx: typer.Context,
    reps: Annotated[Path, typer.Option(help="Reps table.")],
    customers: Annotated[
        Path,
        typer.Option(help="customer_id, latitude, longitude, workload_minutes, rep_id [priority]."),
    ],
    out_file: Annotated[Path, typer.Option("--out", help="Output CSV of assignments.")],
    max_moves: Annotated[int, typer.Option(help="How many existing customers may change rep.")] = 0,
    time_limit: Annotated[
        float,
        typer.Option(help="Seconds the solver may search (the result is the best found by then)."),
    ] = 30.0,
    encoding: EncodingOpt = None,
) -> None:
    """Assign new customers to reps under capacity, with the least travel."""
    from salescope.data.outputs import check_output_file
    from salescope.services import assignment as service

    settings = _settings(ctx, encoding)
    check_output_file(out_file)
    request = service.check_assign(
        reps=reps,
        customers=customers,
        max_moves=max_moves,
        max_issues=settings.max_issues,
        time_limit=time_limit,
    )
    with err.status("assigning customers to reps…"):
        result = service.do_assign(request, out_file)
    out.print(
        f"Assigned {result.objective.customers_covered:,} of {result.objective.customers_new:,} "
        f"new customers to {result.loads.height:,} reps; wrote {out_file}",
        highlight=False,
    )
    for line in service.summary_lines(result, max_moves):
        out.print(f"  {line}", highlight=False, soft_wrap=True)
    title, rows = service.load_rows(result)
    out.print(
        render_table(title, rows, ("rep", "capacity min", "load min", "use", "customers", "new"))
    )


@app.command()
def coverage(
    ctx: typer.Context,
    customers: Annotated[Path, typer.Option(help="The market universe: served and prospects.")],
    orders: Annotated[Path, typer.Option(help="Our order lines.")],
    reps: Annotated[Path, typer.Option(help="Reps table.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Output directory.")],
    products: Annotated[Path | None, typer.Option(help="Products table.")] = None,
    market: Annotated[Path | None, typer.Option(help="Observed market totals.")] = None,
    visits: Annotated[
        Path | None, typer.Option(help="Visit log: today's service and its cost.")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="TOML parameters: [coverage] economics, [wallet], [assign]."),
    ] = None,
    as_of: Annotated[str | None, typer.Option(help="Date of the analysis (YYYY-MM-DD).")] = None,
    encoding: EncodingOpt = None,
    backend: BackendOpt = "local",
    spark_master: SparkMasterOpt = None,
) -> None:
    """Recommend, per shop: add or not now (prospects); keep, grow, reduce, drop or change
    mode (served shops)."""
    from salescope.cli_backends import unsupported
    from salescope.data.outputs import check_output_dir

    unsupported("coverage", backend, spark_master, COVERAGE_LOCAL)
    from salescope.services import coverage as service

    settings = _settings(ctx, encoding)
    check_output_dir(out_dir)
    request = service.check_coverage(
        customers=customers,
        orders=orders,
        reps=reps,
        products=products,
        market=market,
        visits=visits,
        config=config,
        as_of=as_of,
        max_issues=settings.max_issues,
    )
    with err.status("coverage: potential, segments, recommendations, assignment…"):
        result = service.do_coverage(request, out_dir)
    for line in result.lines():
        out.print(line, highlight=False, soft_wrap=True)


@app.command()
def feedback(
    ctx: typer.Context,
    proposals: Annotated[
        Path, typer.Option(help="Proposed lines: the next-orders output (with order_date).")
    ],
    orders: Annotated[Path, typer.Option(help="Order lines the customers really placed.")],
    window_days: Annotated[
        int, typer.Option(help="Days after a proposal's date within which an order answers it.")
    ] = 14,
    rest_days: Annotated[
        int, typer.Option(help="Days a novelty rests once turned down twice in a row.")
    ] = 90,
    encoding: EncodingOpt = None,
) -> None:
    """Match the orders placed against their proposals line by line, store the outcomes,
    update resting novelties and recalibrate acceptance."""
    from salescope.services import feedback as service

    settings = _settings(ctx, encoding)
    request = service.check_feedback(
        proposals=proposals, orders=orders, max_issues=settings.max_issues
    )
    with err.status("recording feedback…"):
        report = service.do_feedback(
            request, settings, actor="cli", window_days=window_days, rest_days=rest_days
        )
    show_feedback(report)


def show_feedback(report: FeedbackReport) -> None:
    """Print what feedback stored: outcomes by kind, acceptance, calibration, resting."""
    from salescope.domain.statuses import LineOutcome

    summary = report.lines()
    for line in summary[:2]:
        out.print(line, highlight=False, soft_wrap=True)
    if report.outcome_table.height:
        rows = [
            (
                row["kind"] or "(not proposed)",
                *(f"{row[o.value]:,}" for o in LineOutcome),
                f"{sum(row[o.value] for o in LineOutcome):,}",
            )
            for row in report.outcome_table.iter_rows(named=True)
        ]
        headers = ("kind", *(o.label.lower() for o in LineOutcome), "lines")
        out.print(render_table("Outcomes recorded now", rows, headers))
    else:
        out.print(summary[2], highlight=False)
    if report.acceptance.height:
        rows = [
            (by, value, f"{shown:,}", f"{taken:,}", f"{rate:.1%}", f"{prob:.1%}")
            for by, value, shown, taken, rate, prob in report.acceptance.iter_rows()
        ]
        out.print(
            render_table(
                "Acceptance of proposed lines, all feedback recorded",
                rows,
                ("by", "", "shown", "taken", "acceptance", "mean probability"),
                text=2,
            )
        )
    for line in summary[3:]:
        out.print(line, highlight=False, soft_wrap=True)


# -- users and keys --------------------------------------------------------------------------
@users_app.command("add")
def users_add(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="E-mail address: the user's sign-in name.")],
    role: Annotated[str, typer.Option(help="admin, director, manager, rep, merchandiser or shop.")],
    region: Annotated[
        list[str] | None, typer.Option(help="A region a manager manages; repeat the option.")
    ] = None,
    rep_id: Annotated[str | None, typer.Option(help="The rep a rep or merchandiser is.")] = None,
    customer_id: Annotated[str | None, typer.Option(help="The customer a shop is.")] = None,
    name: Annotated[str, typer.Option(help="Full name, shown in the app.")] = "",
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Read the password from standard input (first line)."
        ),
    ] = False,
) -> None:
    """Add a user. Without --password-stdin a password is generated and printed once."""
    import secrets

    from salescope.services import users as service
    from salescope.services.database import open_database

    settings = _settings(ctx)
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    generated = password is None
    if password is None:
        password = secrets.token_urlsafe(12)
    with open_database(settings) as database, database.session() as session:
        new = service.check_new_user(
            session,
            email,
            role,
            regions=region or [],
            rep_id=rep_id,
            customer_id=customer_id,
            password=password,
            full_name=name,
        )
        user = service.do_add_user(session, new, service.password_hasher(settings), actor="cli")
        where = ", ".join(r.code for r in user.regions)
    out.print(
        f"Added {user.username} ({user.role}{': ' + where if where else ''}).", highlight=False
    )
    if generated:
        out.print("Password (shown once):", highlight=False)
        out.print(password, highlight=False, soft_wrap=True)


@users_app.command("list")
def users_list(ctx: typer.Context) -> None:
    """List the users: e-mail, role, regions, rep or customer, active."""
    from salescope.services import users as service
    from salescope.services.database import open_database

    with open_database(_settings(ctx)) as database, database.session() as session:
        rows = [
            (
                u.username,
                u.role,
                ", ".join(r.code for r in u.regions),
                u.rep_id or u.customer_id or "",
                "yes" if u.active else "disabled",
                u.created_at.strftime("%Y-%m-%d %H:%M"),
            )
            for u in service.list_users(session)
        ]
    out.print(
        render_table(
            f"{len(rows)} users",
            rows,
            ("e-mail", "role", "regions", "rep / customer", "active", "created (UTC)"),
            text=5,
        )
    )


@users_app.command("disable")
def users_disable(
    ctx: typer.Context, email: Annotated[str, typer.Argument(help="The user's e-mail.")]
) -> None:
    """Disable a user: no more sign-in, its sessions end, its keys stop working."""
    from salescope.services import users as service
    from salescope.services.database import open_database

    with open_database(_settings(ctx)) as database, database.session() as session:
        user = service.do_disable_user(session, email, actor="cli")
    out.print(f"Disabled {user.username}.", highlight=False)


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    user: Annotated[str, typer.Option(help="E-mail of the user the key acts as.")],
    scope: Annotated[
        list[str],
        typer.Option(
            help="orders:read, orders:write, recommendations:read, recommendations:write, "
            "visits:read, visits:write; repeat the option."
        ),
    ],
    name: Annotated[str, typer.Option(help="What the key is for.")] = "",
) -> None:
    """Create an API key. The key is printed once, alone on the last line."""
    from salescope.services import keys as service
    from salescope.services.database import open_database

    with open_database(_settings(ctx)) as database, database.session() as session:
        row, key = service.do_create_key(session, user, scope, name=name, actor="cli")
        scopes = " ".join(row.scopes)
    out.print(
        f"Key {row.key_id} for {user.strip().lower()} ({scopes}). Keep it now: it is not "
        "stored and cannot be shown again.",
        highlight=False,
    )
    print(key)


@keys_app.command("list")
def keys_list(ctx: typer.Context) -> None:
    """List the keys (never the secret): id, user, scopes, name, created, last used, state."""
    from salescope.services import keys as service
    from salescope.services.database import open_database

    def when(value: Any) -> str:
        return value.strftime("%Y-%m-%d %H:%M") if value is not None else ""

    with open_database(_settings(ctx)) as database, database.session() as session:
        rows = [
            (
                k.key_id,
                k.user.username,
                " ".join(k.scopes),
                k.name,
                when(k.created_at),
                when(k.last_used_at),
                "revoked " + when(k.revoked_at) if k.revoked_at else "active",
            )
            for k in service.list_keys(session)
        ]
    headers = ("key id", "user", "scopes", "name", "created", "last used", "state")
    out.print(render_table(f"{len(rows)} keys", rows, headers, text=7))


@keys_app.command("revoke")
def keys_revoke(
    ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="The key id (or the key).")]
) -> None:
    """Revoke a key: it stops working at once."""
    from salescope.services import keys as service
    from salescope.services.database import open_database

    with open_database(_settings(ctx)) as database, database.session() as session:
        row = service.do_revoke_key(session, key_id, actor="cli")
    out.print(f"Revoked key {row.key_id}.", highlight=False)


@recs_app.command("import")
def recommendations_import(
    ctx: typer.Context,
    folder: Annotated[
        Path, typer.Argument(help="The output folder of `salescope coverage --out DIR`.")
    ],
) -> None:
    """Publish a coverage output as recommendations for the managers to review (decided ones
    are kept; the same output twice changes nothing)."""
    from salescope.services import recommendations as service
    from salescope.services.database import open_database

    output = service.check_coverage_output(folder)
    with open_database(_settings(ctx)) as database, database.session() as session:
        report = service.do_publish(session, output, actor="cli")
    for line in report.lines():
        out.print(line, highlight=False, soft_wrap=True)


@models_app.command("train")
def models_train(ctx: typer.Context) -> None:
    """Train the engine on the data folder (its tables, with the orders placed in the app
    merged in first) and make it the model the app serves (for a nightly schedule)."""
    from salescope.services import models as service

    settings = _settings(ctx)
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
        with open_database(_settings(ctx)) as database, database.session() as session:
            run = service.do_register_model(session, folder, actor="cli", source="cli")
    except ModelFolderError as error:
        raise InputError.single("FOLDER", str(error), value=str(folder)) from None
    out.print(f"Model {run.id} ({run.folder}, orders before {run.cutoff}) is now in use.")


@models_app.command("list")
def models_list(ctx: typer.Context) -> None:
    """The latest trainings: status, when, from what, how the usual lines are ranked."""
    from salescope.services import models as service
    from salescope.services.database import open_database

    with open_database(_settings(ctx)) as database, database.session() as session:
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


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.", min=1, max=65535)] = 8000,
) -> None:
    """Run the web app and API (uvicorn) until interrupted."""
    from salescope.web.serve import run

    run(_settings(ctx), host=host, port=port, console=out)


STOPPED = (
    "{how}: the unfinished change was rolled back and its temporary files removed (an "
    "import already committed stands; the next run completes it)"
)


class Terminated(BaseException):
    """SIGTERM or SIGINT, raised in the main thread so that every ``finally`` and ``with``
    block runs: temporary files are removed and the open transaction is rolled back. (Click
    would turn Ctrl-C into "Aborted!" and status 1.)"""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(signum)


class _NoteHandler(logging.Handler):
    """Notes of the services (``salescope`` loggers, warning and above) as ``note:`` lines
    on standard error."""

    def emit(self, record: logging.LogRecord) -> None:
        err.print(f"[dim]note:[/] {record.getMessage()}", highlight=False, soft_wrap=True)


def _install_notes() -> None:
    logger = logging.getLogger("salescope")
    if not any(isinstance(h, _NoteHandler) for h in logger.handlers):
        logger.addHandler(_NoteHandler(logging.WARNING))
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _fail(message: str, code: int) -> None:
    from rich.markup import escape

    # the message is text, not markup: "salescope[spark]" or a file "x[1].csv" stay whole
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(code)


def _crash_report(error: BaseException) -> Path | None:
    """Write the traceback of an unexpected error to a file; its path, or None."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        handle, name = tempfile.mkstemp(
            prefix=f"salescope-crash-{stamp}-", suffix=".txt", text=True
        )
        with os.fdopen(handle, "w", encoding="utf-8") as report:
            report.write(f"salescope {__version__}: {' '.join(sys.argv)}\n\n")
            report.write("".join(traceback.format_exception(error)))
    except OSError:
        return None
    return Path(name)


def main() -> None:
    """Entry point: run the app; no traceback ever reaches the user (see the module
    docstring). Usage errors are Typer's own (status 2)."""
    from sqlalchemy.exc import SQLAlchemyError

    from salescope.data.outputs import describe_os_error
    from salescope.runtime import quiet_openmp
    from salescope.storage.db import describe_database_error

    quiet_openmp()
    _install_notes()
    handled = (signal.SIGTERM, signal.SIGINT)
    previous = {signum: signal.getsignal(signum) for signum in handled}
    in_main_thread = True
    try:
        for signum in handled:
            signal.signal(signum, _terminate)
    except ValueError:  # not the main thread (an embedding program): leave signals alone
        in_main_thread = False
    try:
        app()
    except SalescopeError as error:
        _fail(str(error), 1)
    except KeyboardInterrupt:
        _fail(STOPPED.format(how="interrupted"), 128 + signal.SIGINT)
    except Terminated as stop:
        how = "interrupted" if stop.signum == signal.SIGINT else "terminated"
        _fail(STOPPED.format(how=how), 128 + stop.signum)
    except OSError as error:
        _fail(f"cannot go on: {describe_os_error(error)}", 1)
    except SQLAlchemyError as error:
        _fail(describe_database_error(error), 1)
    except MemoryError:
        _fail("not enough memory for these data", 1)
    except Exception as error:
        report = _crash_report(error)
        where = f"; details in {report}" if report else ""
        text = str(error).strip()
        first = text.splitlines()[0][:200] if text else "no message"
        _fail(
            f"internal error ({type(error).__name__}: {first}); this is a bug in Salescope, "
            f"please report it{where}",
            3,
        )
    finally:
        if in_main_thread:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def render_table(
    title: str, rows: Sequence[Sequence[str]], headers: Sequence[str], *, text: int = 1
) -> Table:
    """A Rich table whose first ``text`` columns are left-aligned and the others (numbers)
    right-aligned."""
    table = Table(title=title, title_justify="left")
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i < text else "right")
    for row in rows:
        table.add_row(*row)
    return table


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

    settings = _settings(ctx)
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
