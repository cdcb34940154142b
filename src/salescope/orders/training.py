"""The training data of the next-order model: the lines it reads, pack sizes, the split into
training and validation rows, the popularity fallback."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from salescope.orders.engine_params import EngineParams
from salescope.orders.history import Codes
from salescope.orders.quantities import selling_multiples
from salescope.orders.ranker import (
    EVENT,
)


def spacing_of(orders: pl.DataFrame) -> int:
    """Days between calendar cut-offs: the median interval between the customers' last ten
    orders, between 7 and 60."""
    gaps = (
        orders.select("customer_id", "order_date")
        .unique()
        .sort("customer_id", "order_date")
        .filter(pl.int_range(pl.len()).over("customer_id") >= pl.len().over("customer_id") - 11)
        .select(pl.col("order_date").diff().over("customer_id").dt.total_days().median())
        .item()
    )
    return int(np.clip(gaps if gaps is not None else 14, 7, 60))


def recent_part(
    history: pl.DataFrame, cutoff: dt.date, spacing: int, params: EngineParams
) -> pl.DataFrame:
    """The lines the engine reads line by line: per customer, the look-back before the oldest
    of its training events (its ``label_orders``-th last order, or the oldest calendar
    cut-off)."""
    oldest = cutoff - dt.timedelta(days=spacing * params.events.calendar_cutoffs)
    dates = (
        history.lazy()
        .select("customer_id", "order_date")
        .unique()
        .group_by("customer_id")
        .agg(
            pl.col("order_date")
            .sort(descending=True)
            .get(pl.min_horizontal(pl.len() - 1, params.events.label_orders))
            .alias("_from")
        )
        .with_columns(
            (
                pl.min_horizontal(pl.col("_from"), pl.lit(oldest))
                - pl.duration(days=params.lookback_days)
            ).alias("_from")
        )
    )
    return (
        history.lazy()
        .join(dates, on="customer_id")
        .filter(pl.col("order_date") >= pl.col("_from"))
        .drop("_from")
        .collect()
    )


def as_date(value: object) -> dt.date:
    if not isinstance(value, dt.date):
        raise ValueError("the order history holds no dated lines")
    return value


def pack_sizes(
    products: pl.DataFrame | None, codes: Codes, lines: pl.DataFrame
) -> tuple[pl.DataFrame | None, int]:
    """``p, pack``: the products' pack sizes where the products table gives them, else the
    selling multiple their past quantities show (``quantities.selling_multiples``); and how
    many were inferred."""
    given = pl.DataFrame(schema={"p": pl.UInt32, "pack": pl.Float64})
    if products is not None and "pack_size" in products.columns:
        given = (
            products.select("product_id", pl.col("pack_size").cast(pl.Float64).alias("pack"))
            .filter(pl.col("pack").is_not_null())
            .join(codes.products, on="product_id")
            .select("p", "pack")
        )
    inferred = selling_multiples(lines).join(given, on="p", how="anti")
    packs = pl.concat([given, inferred.select("p", pl.col("pack").cast(pl.Float64))])
    return (packs if packs.height else None), inferred.height


def split_rows(
    frames: list[pl.DataFrame],
    p: EngineParams,
    *,
    learn_from_half: bool = False,
    thinned: bool = False,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Training rows (a random ``negative_rate`` of the negatives, at most
    ``max_train_rows``) and validation rows of the events' candidates; ``learn_from_half``:
    the validation events of half the customers are learned from too (the adoption model:
    adoptions are rare, and a customer's latest order holds many of them); ``thinned``: the
    frames' training negatives were already sampled (``thin``)."""
    if not frames:
        empty = pl.DataFrame(
            schema={EVENT: pl.UInt32, "c": pl.UInt32, "p": pl.UInt32, "label": pl.Int8}
        )
        return empty, empty
    frame = pl.concat(frames, how="diagonal_relaxed")
    validating = pl.col("valid")
    if learn_from_half:
        validating = validating & (pl.col("c").hash(p.seed + 1) % 2 == 0)
    valid = frame.filter(validating)
    train = frame.filter(~validating)
    if not thinned:
        train = subsample(train, p.negative_rate, p.seed)
    if train.height > p.max_train_rows:
        train = train.sample(p.max_train_rows, seed=p.seed)
    return train.sort(EVENT, "p"), valid.sort(EVENT, "p")


def thin(frame: pl.DataFrame, rate: float, seed: int) -> pl.DataFrame:
    """One frame of labelled candidates as ``split_rows(..., thinned=True)`` expects it: its
    validation rows, and all positives and about ``rate`` of the negatives of the others,
    each kept by a hash of its event and product (so whichever frame a row comes in, the same
    rows are kept). Applied frame by frame as the examples are built, the negatives left out
    are never held together in memory."""
    if rate >= 1.0:
        return frame
    drawn = pl.struct(EVENT, "p").hash(seed) % 1_000_000 < round(rate * 1_000_000)
    return frame.filter(pl.col("valid") | (pl.col("label") == 1) | drawn)


def subsample(frame: pl.DataFrame, rate: float, seed: int) -> pl.DataFrame:
    """All positives and a random ``rate`` of the negatives."""
    if rate >= 1.0:
        return frame
    keep = pl.int_range(pl.len()).shuffle(seed=seed) < pl.len() * rate
    return pl.concat(
        [frame.filter(pl.col("label") == 1), frame.filter(pl.col("label") == 0).filter(keep)]
    )


def popularity(lines: pl.DataFrame, cutoff: dt.date, n_products: int) -> pl.DataFrame:
    """Every product by the share of recent (90 days) orders holding it, then by all-time
    orders, then the products never ordered: ``p, probability, quantity``, best first."""
    recent = lines.filter(pl.col("d") >= cutoff - dt.timedelta(days=90))
    n_recent = max(1, recent["o"].n_unique())
    shares = recent.group_by("p").agg(
        (pl.col("o").n_unique() / n_recent).alias("probability"),
        pl.col("q").median().alias("quantity"),
    )
    counts = lines.group_by("p").agg(
        pl.col("o").n_unique().alias("_orders"), pl.col("q").median().alias("_q")
    )
    everything = pl.DataFrame({"p": pl.arange(0, n_products, eager=True).cast(pl.UInt32)})
    return (
        everything.join(shares, on="p", how="left")
        .join(counts, on="p", how="left")
        .with_columns(
            pl.col("probability").fill_null(0.0),
            pl.coalesce("quantity", "_q", pl.lit(1.0)).alias("quantity"),
            pl.col("_orders").fill_null(0),
        )
        .sort(["probability", "_orders", "p"], descending=[True, True, False])
        .select("p", "probability", "quantity")
    )
