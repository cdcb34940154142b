"""Use case of rep assignment: new customers to reps, under capacity, least travel."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from salescope.coverage.assignment import AssignmentResult, AssignParams, assign
from salescope.data.io import write_csv
from salescope.domain.errors import FieldError
from salescope.services.inputs import check_known_reps

#: The contract's columns, then how far each existing customer was from its rep and why a
#: moved one moved.
OUTPUT_COLUMNS = (
    "customer_id",
    "rep_id",
    "previous_rep_id",
    "distance_km",
    "previous_distance_km",
    "distance_change_km",
    "move_reason",
)


@dataclass(frozen=True, slots=True)
class AssignRequest:
    reps: pl.DataFrame
    customers: pl.DataFrame
    max_moves: int
    time_limit: float = 30.0


def check_assign(
    *,
    reps: pl.DataFrame,
    customers: pl.DataFrame,
    max_moves: int = 0,
    time_limit: float = 30.0,
    sources: Mapping[str, str | Path | None] | None = None,
    max_issues: int = 20,
) -> AssignRequest:
    """Check the reps and the customers (every rep a customer names must exist) and the
    options; ``sources`` names the files the frames were read from."""
    if max_moves < 0:
        raise FieldError("must be 0 or more", "max_moves", value=str(max_moves))
    if not time_limit > 0:
        raise FieldError("must be more than 0 seconds", "time_limit", value=str(time_limit))
    if reps.height == 0:
        raise FieldError("holds no reps: nobody to assign customers to", "reps")
    named = {k: Path(v) for k, v in (sources or {}).items() if v is not None}
    check_known_reps(
        customers,
        reps,
        customers_path=named.get("customers"),
        reps_path=named.get("reps"),
        max_issues=max_issues,
    )
    return AssignRequest(reps=reps, customers=customers, max_moves=max_moves, time_limit=time_limit)


def do_assign(
    request: AssignRequest, out: Path, params: AssignParams | None = None
) -> AssignmentResult:
    """Assign the customers (``salescope.coverage.assignment``) and write ``out`` atomically:
    ``customer_id, rep_id, previous_rep_id, distance_km`` (empty ``rep_id``: unassigned), then
    ``previous_distance_km, distance_change_km, move_reason``.

    ``params`` defaults to the engine's, with the request's ``max_moves``.
    """
    if params is None:
        params = AssignParams(max_moves=request.max_moves, time_limit_seconds=request.time_limit)
    elif params.max_moves != request.max_moves:
        raise ValueError("params.max_moves differs from the request's max_moves")
    result = assign(request.reps, request.customers, params)
    frame = result.assignments.select(OUTPUT_COLUMNS).with_columns(
        pl.col("distance_km", "previous_distance_km", "distance_change_km").round(3)
    )
    write_csv(frame, out)
    return result


# -- what a command shows ------------------------------------------------------------------------
def summary_lines(result: AssignmentResult, max_moves: int) -> list[str]:
    """The result in a few lines: objective, bound and gap, moves, unassigned, time."""
    obj = result.objective
    lines = []
    if result.overloaded_today:
        over = result.loads.filter(pl.col("rep_id").is_in(list(result.overloaded_today))).sort(
            pl.col("load_today_minutes") - pl.col("capacity_minutes"), descending=True
        )
        shown = [
            f"{r['rep_id']} ({r['load_today_minutes']:,.0f} of {r['capacity_minutes']:,.0f} min"
            + (
                f", now {r['load_minutes']:,.0f}"
                if r["load_minutes"] != r["load_today_minutes"]
                else ""
            )
            + ")"
            for r in over.head(10).iter_rows(named=True)
        ]
        more = f" and {over.height - 10:,} more" if over.height > 10 else ""
        lines.append(
            f"reps over capacity today with their current customers: {over.height:,} — "
            + ", ".join(shown)
            + more
            + (
                "; they take no new customer"
                if max_moves == 0
                else "; moves may relieve them once no new customer is left out for it"
            )
        )
    placed = obj.distance_km - obj.fixed_km
    if obj.fixed_km > 0:
        lines.append(
            f"distance: {obj.distance_km:,.1f} km in all, {placed:,.1f} km for the customers "
            f"placed (existing ones kept: {obj.fixed_km:,.1f} km)"
        )
    else:
        lines.append(f"distance: {obj.distance_km:,.1f} km in all")
    if result.optimal:
        verdict = "optimal"
    elif result.gap == float("inf"):
        verdict = "no useful bound"
    elif obj.fixed_km > 0:
        verdict = f"the km placed at most {100 * result.gap:.3f} % above their optimum"
    else:
        verdict = f"at most {100 * result.gap:.3f} % above the optimum"
    lines.append(f"lower bound: {result.lower_bound:,.1f} km, {verdict} — {result.bound_method}")
    if obj.customers_new:
        bound = (
            ""
            if obj.priority_bound <= obj.priority_covered + 1e-9
            else f" (at most {obj.priority_bound:,.2f} could be)"
        )
        lines.append(
            f"priority covered: {obj.priority_covered:,.2f} of {obj.priority_total:,.2f}{bound}; "
            f"new customers assigned: {obj.customers_covered:,} of {obj.customers_new:,}, "
            f"unassigned: {result.unassigned:,}"
        )
    allowed = f"at most {max_moves:,} allowed" if max_moves else "none allowed"
    lines.append(f"moves of existing customers: {result.moves:,} ({allowed})")
    lines.append(f"time: {result.seconds:.1f} s")
    lines.extend(f"note: {note}" for note in result.notes)
    return lines


def load_rows(result: AssignmentResult, top: int = 10) -> tuple[str, list[tuple[str, ...]]]:
    """A title and the rows of the ``top`` fullest reps: rep, capacity, load, use, customers,
    new customers."""
    capacity, load = pl.col("capacity_minutes"), pl.col("load_minutes")
    use = (
        pl.when(capacity > 0).then(load / capacity).when(load > 0).then(float("inf")).otherwise(0.0)
    )
    loads = result.loads.with_columns(use.alias("use")).sort(
        ["use", "load_minutes"], descending=True
    )
    shown = loads.head(top)
    rows: list[tuple[str, ...]] = [
        (
            str(r["rep_id"]),
            f"{r['capacity_minutes']:,.0f}",
            f"{r['load_minutes']:,.0f}",
            "—" if r["capacity_minutes"] == 0 else f"{100 * r['use']:.1f} %",
            f"{r['customers']:,}",
            f"{r['new_customers']:,}",
        )
        for r in shown.iter_rows(named=True)
    ]
    if loads.height > top:
        title = f"Rep loads (the {top} fullest of {loads.height:,} reps)"
    else:
        title = "Rep loads"
    return title, rows
