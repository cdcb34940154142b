"""Coverage on the command line: ``assign``, ``coverage`` and ``recommendations import``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from salescope.cli.backends import BackendOpt, SparkMasterOpt
from salescope.cli.common import (
    EncodingOpt,
    err,
    fields,
    given,
    out,
    recs_app,
    render_table,
    settings_of,
)
from salescope.domain.errors import InputError

if TYPE_CHECKING:
    from salescope.coverage.params import CoverageConfig


def read_config(path: Path | None) -> CoverageConfig:
    """The parameters of ``--config`` (TOML; the defaults without it), or the problem with
    the file named."""
    from salescope.coverage.params import ParamsError, load_config

    try:
        return load_config(path)
    except OSError as error:
        raise InputError.single(str(path), f"cannot be read: {error.strerror}") from None
    except ParamsError as error:
        raise InputError.single(str(path), error.problem, column=error.key) from None


def assign(
    ctx: typer.Context,
    reps: Annotated[Path, typer.Option(help="Reps table.")],
    customers: Annotated[
        Path,
        typer.Option(
            help="customer_id, latitude, longitude, workload_minutes, rep_id \\[priority]."
        ),
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
    from salescope.data.io import read_tables
    from salescope.data.outputs import check_output_file
    from salescope.domain.schemas import ASSIGN_CUSTOMERS, REPS
    from salescope.services import assignment as service

    settings = settings_of(ctx, encoding)
    check_output_file(out_file)
    frames = read_tables(
        {"reps": (reps, REPS), "customers": (customers, ASSIGN_CUSTOMERS)},
        max_issues=settings.max_issues,
    )
    with fields(reps=reps):
        request = service.check_assign(
            reps=given(frames["reps"]),
            customers=given(frames["customers"]),
            max_moves=max_moves,
            time_limit=time_limit,
            sources={"reps": reps, "customers": customers},
            max_issues=settings.max_issues,
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
        typer.Option(help="TOML parameters: \\[coverage] economics, \\[wallet], \\[assign]."),
    ] = None,
    as_of: Annotated[str | None, typer.Option(help="Date of the analysis (YYYY-MM-DD).")] = None,
    encoding: EncodingOpt = None,
    backend: BackendOpt = "local",
    spark_master: SparkMasterOpt = None,
) -> None:
    """Recommend, per shop: add or not now (prospects); keep, grow, reduce, drop or change
    mode (served shops). --backend spark: the tables read by Spark, the rest on this
    machine."""
    from salescope.data.io import read_tables
    from salescope.data.outputs import check_output_dir
    from salescope.domain import schemas
    from salescope.services import coverage as service
    from salescope.services.inputs import parse_date_option

    settings = settings_of(ctx, encoding)
    if backend != "local" or spark_master:
        from salescope.cli.backends import coverage_on

        result = coverage_on(
            settings,
            backend=backend,
            master=spark_master,
            customers=customers,
            orders=orders,
            reps=reps,
            products=products,
            market=market,
            visits=visits,
            config=read_config(config),
            as_of=as_of,
            out_dir=out_dir,
        )
        for line in result.lines():
            out.print(line, highlight=False, soft_wrap=True)
        return
    check_output_dir(out_dir)
    as_of_date = parse_date_option(as_of, "--as-of")
    params = read_config(config)
    files = {
        "customers": (customers, schemas.CUSTOMERS),
        "orders": (orders, schemas.ORDERS),
        "reps": (reps, schemas.REPS),
        "products": (products, schemas.PRODUCTS),
        "market": (market, schemas.MARKET),
        "visits": (visits, schemas.VISITS),
    }
    frames = read_tables(files, max_issues=settings.max_issues)
    with fields():
        request = service.check_coverage(
            customers=given(frames["customers"]),
            orders=given(frames["orders"]),
            reps=given(frames["reps"]),
            products=frames["products"],
            market=frames["market"],
            visits=frames["visits"],
            config=params,
            as_of=as_of_date,
            sources={name: path for name, (path, _) in files.items()},
            max_issues=settings.max_issues,
        )
    with err.status("coverage: potential, segments, recommendations, assignment…"):
        result = service.do_coverage(request, out_dir)
    for line in result.lines():
        out.print(line, highlight=False, soft_wrap=True)


@recs_app.command("import")
def recommendations_import(
    ctx: typer.Context,
    folder: Annotated[
        Path, typer.Argument(help="The output folder of `salescope coverage --out DIR`.")
    ],
) -> None:
    """Publish a coverage output as recommendations for the managers to review (decided ones
    are kept; the same output twice changes nothing)."""
    from salescope.data.io import read_coverage_output
    from salescope.services import recommendations as service
    from salescope.services.database import open_database

    output = service.check_coverage_output(read_coverage_output(folder))
    with open_database(settings_of(ctx)) as database, database.session() as session:
        report = service.do_publish(session, output, actor="cli")
    for line in report.lines():
        out.print(line, highlight=False, soft_wrap=True)
