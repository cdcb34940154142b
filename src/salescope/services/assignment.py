"""Use case of rep assignment: new customers to reps, under capacity, least travel."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from salescope.domain.errors import InputError, NotBuiltError
from salescope.domain.schemas import ASSIGN_CUSTOMERS, REPS
from salescope.services.inputs import read_all, unknown_references


@dataclass(frozen=True, slots=True)
class AssignInput:
    reps: pl.DataFrame
    customers: pl.DataFrame
    max_moves: int


def check_assign(
    *, reps: Path, customers: Path, max_moves: int = 0, max_issues: int = 20
) -> AssignInput:
    """Read reps and customers; every rep a customer names must exist."""
    if max_moves < 0:
        raise InputError.single("--max-moves", "must be 0 or more", value=str(max_moves))
    rep_frame, customer_frame = read_all(
        [(reps, REPS), (customers, ASSIGN_CUSTOMERS)], max_issues=max_issues
    )
    assert rep_frame is not None and customer_frame is not None
    if rep_frame.height == 0:
        raise InputError.single(str(reps), "holds no reps: nobody to assign customers to")
    issues, total = unknown_references(
        customer_frame,
        "rep_id",
        rep_frame["rep_id"],
        path=customers,
        what=f"rep (not in {reps})",
        max_issues=max_issues,
    )
    if issues:
        raise InputError(issues, total)
    return AssignInput(reps=rep_frame, customers=customer_frame, max_moves=max_moves)


def do_assign(request: AssignInput, out: Path) -> pl.DataFrame:
    raise NotBuiltError(
        "rep assignment",
        f"input checked ({request.reps.height:,} reps, {request.customers.height:,} "
        f"customers), no file written to {out}",
    )
