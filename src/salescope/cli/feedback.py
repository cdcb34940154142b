"""``salescope feedback``: what the customers did with their proposals."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from salescope.cli.common import EncodingOpt, err, fields, out, render_table, settings_of

if TYPE_CHECKING:
    from salescope.services.feedback import FeedbackReport


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
    from salescope.data.io import read_tables
    from salescope.domain.schemas import ORDERS, PROPOSALS
    from salescope.services import feedback as service

    settings = settings_of(ctx, encoding)
    frames = read_tables(
        {"proposals": (proposals, PROPOSALS), "orders": (orders, ORDERS)},
        max_issues=settings.max_issues,
    )
    with fields(proposals=proposals):
        request = service.check_feedback(
            proposals=frames["proposals"],
            orders=frames["orders"],
            window_days=window_days,
            rest_days=rest_days,
            sources={"proposals": proposals, "orders": orders},
        )
    with err.status("recording feedback…"):
        report = service.do_feedback(request, settings, actor="cli")
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
