"""The ``salescope`` command line: thin commands over the services.

A command parses its options, calls one service and renders the result. Errors a user can fix
(``SalescopeError``) are printed without a traceback and exit with status 1.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from salescope import __version__
from salescope.config import Settings, get_settings
from salescope.domain.errors import SalescopeError

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

out = Console()
err = Console(stderr=True)


def _settings(ctx: typer.Context) -> Settings:
    settings = ctx.obj
    assert isinstance(settings, Settings)
    return settings


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


# -- engines ---------------------------------------------------------------------------------
FileOpt = Annotated[Path, typer.Option(dir_okay=False)]


@app.command("next-orders")
def next_orders(
    ctx: typer.Context,
    orders: Annotated[Path, typer.Option(help="Order lines: the whole history to learn from.")],
    out_file: Annotated[Path, typer.Option("--out", help="Output CSV of proposed lines.")],
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
) -> None:
    """Propose the next order of each target customer."""
    from salescope.services import orders as service

    settings = _settings(ctx)
    request = service.check_next_orders(
        orders=orders,
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
    service.do_next_orders(request, out_file)


@app.command()
def evaluate(
    ctx: typer.Context,
    orders: Annotated[Path, typer.Option(help="Order lines to backtest on.")],
    cutoffs: Annotated[
        list[str] | None, typer.Option(help="Cut-off dates (YYYY-MM-DD); repeat the option.")
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Directory for the JSON report and the plot.")
    ] = Path("evaluation"),
) -> None:
    """Backtest the next-order engine against baselines at past cut-offs."""
    from salescope.services import orders as service

    request = service.check_evaluate(
        orders=orders, cutoffs=cutoffs, max_issues=_settings(ctx).max_issues
    )
    service.do_evaluate(request, out_dir)


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
) -> None:
    """Assign new customers to reps under capacity, with the least travel."""
    from salescope.services import coverage as service

    request = service.check_assign(
        reps=reps, customers=customers, max_moves=max_moves, max_issues=_settings(ctx).max_issues
    )
    service.do_assign(request, out_file)


@app.command()
def coverage(
    ctx: typer.Context,
    customers: Annotated[Path, typer.Option(help="The market universe: served and prospects.")],
    orders: Annotated[Path, typer.Option(help="Our order lines.")],
    reps: Annotated[Path, typer.Option(help="Reps table.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Output directory.")],
    products: Annotated[Path | None, typer.Option(help="Products table.")] = None,
    market: Annotated[Path | None, typer.Option(help="Observed market totals.")] = None,
    as_of: Annotated[str | None, typer.Option(help="Date of the analysis (YYYY-MM-DD).")] = None,
) -> None:
    """Recommend, per customer, to add, keep, grow, reduce, drop or change mode."""
    from salescope.services import coverage as service

    request = service.check_coverage(
        customers=customers,
        orders=orders,
        reps=reps,
        products=products,
        market=market,
        as_of=as_of,
        max_issues=_settings(ctx).max_issues,
    )
    service.do_coverage(request, out_dir)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
) -> None:
    """Run the web app and API."""
    from salescope.domain.errors import NotBuiltError

    raise NotBuiltError(
        "the web app and API", f"nothing is listening on {host}:{port}; use the batch commands"
    )


def main() -> None:
    """Entry point: run the app, turning user errors into a message and exit status 1.

    Usage errors are Typer's own (status 2); anything else is a bug and keeps its traceback.
    """
    try:
        app()
    except SalescopeError as error:
        err.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        sys.exit(1)


def render_table(title: str, rows: list[tuple[str, ...]], headers: tuple[str, ...]) -> Table:
    table = Table(title=title, title_justify="left")
    for i, header in enumerate(headers):
        table.add_column(header, justify="right" if i else "left")
    for row in rows:
        table.add_row(*row)
    return table
