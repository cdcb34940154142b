"""What every command of the command line shares: the app and its groups, the consoles, the
settings of a run, the ``--encoding`` option, the progress bar and tables, and the error
fields of the services mapped back to the command's own names (options or files)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from salescope import __version__
from salescope.config import Settings, get_settings
from salescope.domain.errors import FieldError, InputError

if TYPE_CHECKING:
    import polars as pl

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


def settings_of(ctx: typer.Context, encoding: str | None = None) -> Settings:
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


def option_name(field: str) -> str:
    """The command-line option of a request field: ``as_of`` -> ``--as-of``."""
    return "--" + field.replace("_", "-")


@contextmanager
def fields(**names: str | Path | None) -> Iterator[None]:
    """Report a service's ``FieldError`` under the command's own name for its field: the file
    given for it (``orders=Path("orders.csv")``), or the option (``--top``) by default; as an
    ``InputError``, the way the command reports every bad input."""
    try:
        yield
    except FieldError as error:
        raise as_input_error(error, names) from None


def as_input_error(error: FieldError, names: Mapping[str, str | Path | None]) -> InputError:
    """``error`` named as the command line names its field (see ``fields``)."""
    given = names.get(error.field or "")
    where = str(given) if given is not None else option_name(error.field or "input")
    return InputError.single(where, error.render(option_name), value=error.value)


def given(frame: pl.DataFrame | None) -> pl.DataFrame:
    """The frame of a required option (Typer requires the option, so it was read)."""
    assert frame is not None
    return frame
