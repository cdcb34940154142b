"""Use cases of coverage: the recommendations per customer of the market universe."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from salescope.domain.errors import InputError, NotBuiltError
from salescope.domain.schemas import CUSTOMERS, MARKET, ORDERS, PRODUCTS, REPS
from salescope.services.inputs import parse_date_option, read_all, unknown_references


@dataclass(frozen=True, slots=True)
class CoverageInput:
    customers: pl.DataFrame
    orders: pl.DataFrame
    reps: pl.DataFrame
    products: pl.DataFrame | None
    market: pl.DataFrame | None
    as_of: dt.date


def check_coverage(
    *,
    customers: Path,
    orders: Path,
    reps: Path,
    products: Path | None = None,
    market: Path | None = None,
    as_of: str | None = None,
    max_issues: int = 20,
) -> CoverageInput:
    """Read the market universe, our orders, reps, and optionally products and market data."""
    as_of_date = parse_date_option(as_of, "--as-of")
    frames = read_all(
        [
            (customers, CUSTOMERS),
            (orders, ORDERS),
            (reps, REPS),
            (products, PRODUCTS),
            (market, MARKET),
        ],
        max_issues=max_issues,
    )
    customer_frame, order_frame, rep_frame, product_frame, market_frame = frames
    assert customer_frame is not None and order_frame is not None and rep_frame is not None
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
    if as_of_date is None:
        last = order_frame.select(pl.col("order_date").max()).item()
        as_of_date = (last or dt.date.today()) + dt.timedelta(days=1)
    return CoverageInput(
        customers=customer_frame,
        orders=order_frame,
        reps=rep_frame,
        products=product_frame,
        market=market_frame,
        as_of=as_of_date,
    )


def do_coverage(request: CoverageInput, out_dir: Path) -> None:
    raise NotBuiltError(
        "the coverage engine",
        f"input checked ({request.customers.height:,} shops, {request.orders.height:,} order "
        f"lines, {request.reps.height:,} reps), nothing written to {out_dir}",
    )
