"""``salescope import``: real exports and canonical tables into the data folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from salescope.cli.common import (
    EncodingOpt,
    fields,
    import_app,
    out,
    progress_bar,
    render_table,
    settings_of,
)
from salescope.config import Settings

if TYPE_CHECKING:
    from salescope.services.imports import ImportReport

PathsArg = Annotated[
    list[Path], typer.Argument(help="Files or directories to import.", show_default=False)
]
ReplaceOpt = Annotated[
    bool, typer.Option("--replace", help="Replace the stored tables instead of merging.")
]


def _import(
    ctx: typer.Context, source: str, paths: list[Path], encoding: str | None, **options: Any
) -> None:
    from salescope.services.imports import check_import, do_import

    settings = settings_of(ctx, encoding)
    with fields():
        request = check_import(source, paths, **options)
    with progress_bar(f"import {source}") as update:
        report = do_import(settings, request, progress=update)
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
