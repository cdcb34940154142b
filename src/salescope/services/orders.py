"""Use cases of the optimal order: next orders and their backtest."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import polars as pl

from salescope.domain.errors import InputError, NotBuiltError
from salescope.domain.schemas import CUSTOMERS, OBJECTIVES, ORDERS, PRODUCTS, PROMOTIONS, TARGETS
from salescope.services.inputs import parse_date_option, read_all

Mode = Literal["proposal", "rank"]


@dataclass(frozen=True, slots=True)
class NextOrdersInput:
    orders: pl.DataFrame
    products: pl.DataFrame | None
    customers: pl.DataFrame | None
    promotions: pl.DataFrame | None
    objectives: pl.DataFrame | None
    targets: pl.DataFrame
    as_of: dt.date
    mode: Mode
    top: int | None


def check_next_orders(
    *,
    orders: Path,
    products: Path | None = None,
    customers: Path | None = None,
    promotions: Path | None = None,
    objectives: Path | None = None,
    targets: Path | None = None,
    as_of: str | None = None,
    mode: str = "proposal",
    top: int | None = None,
    max_issues: int = 20,
) -> NextOrdersInput:
    """Read and validate everything ``next-orders`` takes; the targets default to every
    customer of the history, dated ``as_of`` (default: the day after the last order)."""
    if mode not in ("proposal", "rank"):
        raise InputError.single("--mode", "is not one of: proposal, rank", value=mode)
    if top is not None and top < 1:
        raise InputError.single("--top", "must be at least 1", value=str(top))
    as_of_date = parse_date_option(as_of, "--as-of")
    frames = read_all(
        [
            (orders, ORDERS),
            (products, PRODUCTS),
            (customers, CUSTOMERS),
            (promotions, PROMOTIONS),
            (objectives, OBJECTIVES),
            (targets, TARGETS),
        ],
        max_issues=max_issues,
    )
    history, product_frame, customer_frame, promotion_frame, objective_frame, target_frame = frames
    assert history is not None
    if history.height == 0:
        raise InputError.single(str(orders), "holds no order lines: nothing to learn from")
    if as_of_date is None:
        last = history.select(pl.col("order_date").max()).item()
        as_of_date = last + dt.timedelta(days=1)
    if target_frame is None:
        target_frame = (
            history.select(pl.col("customer_id").unique(maintain_order=True))
            .with_columns(pl.lit(as_of_date).alias("order_date"))
            .sort("customer_id")
        )
    return NextOrdersInput(
        orders=history,
        products=product_frame,
        customers=customer_frame,
        promotions=promotion_frame,
        objectives=objective_frame,
        targets=target_frame,
        as_of=as_of_date,
        mode=mode,  # type: ignore[arg-type]
        top=top,
    )


def do_next_orders(request: NextOrdersInput, out: Path) -> pl.DataFrame:
    """Predict the next order of every target and write it to ``out``."""
    raise NotBuiltError(
        "the next-order engine",
        f"input checked ({request.orders.height:,} order lines, {request.targets.height:,} "
        f"targets), no file written to {out}",
    )


@dataclass(frozen=True, slots=True)
class EvaluateInput:
    orders: pl.DataFrame
    cutoffs: list[dt.date]


def check_evaluate(
    *, orders: Path, cutoffs: list[str] | None = None, max_issues: int = 20
) -> EvaluateInput:
    """Read the history and the backtest cut-offs; each cut-off must leave history before it
    and orders after it."""
    dates = [d for d in (parse_date_option(c, "--cutoffs") for c in cutoffs or []) if d]
    (history,) = read_all([(orders, ORDERS)], max_issues=max_issues)
    assert history is not None
    if history.height == 0:
        raise InputError.single(str(orders), "holds no order lines: nothing to evaluate")
    first, last = history.select(
        pl.col("order_date").min().alias("a"), pl.col("order_date").max().alias("b")
    ).row(0)
    for cutoff in dates:
        if not first < cutoff <= last:
            raise InputError.single(
                "--cutoffs",
                f"must fall inside the history ({first} .. {last}): there must be orders "
                "before and after it",
                value=cutoff.isoformat(),
            )
    return EvaluateInput(orders=history, cutoffs=sorted(dates))


def do_evaluate(request: EvaluateInput, out_dir: Path) -> None:
    """Backtest the engine and the baselines at each cut-off."""
    raise NotBuiltError(
        "the backtest (evaluate)",
        f"input checked ({request.orders.height:,} order lines); it comes with the "
        "next-order engine",
    )
