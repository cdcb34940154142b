"""Shortcuts of a small request through the scoring steps, each giving what the general step
gives: joins against a whole model's frames replaced by look-ups by code, and steps that do
nothing for one target skipped. A Polars join or window costs a fraction of a millisecond
however few the rows, and a one-customer request takes dozens of them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from salescope.orders.history import by_code

if TYPE_CHECKING:
    from salescope.orders.novelties import Context


def attach_objectives(frame: pl.DataFrame, wanted: pl.DataFrame) -> pl.DataFrame:
    """``frame`` left-joined with the objective pairs ``wanted`` (``c, t, p`` and their
    columns); without any pair, their columns as nulls (the join's result, without it)."""
    if wanted.height:
        return frame.join(wanted, on=["c", "t", "p"], how="left")
    extra = [n for n in wanted.columns if n not in ("c", "t", "p")]
    if any(n in frame.columns for n in extra):
        return frame.join(wanted, on=["c", "t", "p"], how="left")
    nulls = [pl.Series(n, [None], dtype=wanted.schema[n]) for n in extra]
    return frame.hstack([column.new_from_index(0, frame.height) for column in nulls])


def attach_segment(frame: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """``frame`` (``c``) left-joined with each customer's ``segment`` (``by_code``)."""
    found = (
        None if "segment" in frame.columns else by_code(ctx.customers, "c", frame["c"], ["segment"])
    )
    if found is None:
        return frame.join(ctx.customers.select("c", "segment"), on="c", how="left")
    return frame.with_columns(found)


def same_targets(scored: pl.DataFrame, group: pl.DataFrame) -> bool:
    """Whether every row of ``scored`` (``c, t``) is of ``group``'s one target: the semi-join
    on the group keeps them all."""
    if group.height != 1 or scored.height == 0:
        return False
    c, t = group.get_column("c"), group.get_column("t")
    sc, st = scored.get_column("c"), scored.get_column("t")
    return bool(
        sc.null_count() == 0
        and st.null_count() == 0
        and sc.min() == sc.max() == c[0]
        and st.min() == st.max() == t[0]
    )


def coded_targets(
    targets: pl.DataFrame, customers: pl.DataFrame, kept: dict[str, Any]
) -> pl.DataFrame:
    """``_target_id, t, c``: the targets (``customer_id, order_date``) with their customer
    codes (``customers``: ``customer_id, c``; null for an id the history does not know) — the
    left join; for one target, by a dictionary kept in ``kept`` while ``customers`` is the
    same frame."""
    frame = targets.select(
        pl.col("customer_id").alias("_target_id"), pl.col("order_date").alias("t")
    )
    ids = frame.get_column("_target_id")
    if frame.height != 1 or ids.dtype != customers.schema["customer_id"]:
        return frame.join(
            customers.rename({"customer_id": "_target_id"}), on="_target_id", how="left"
        )
    index = kept.get("_customer_codes")
    if index is None or index[0] is not customers:
        codes = dict(zip(customers["customer_id"].to_list(), customers["c"].to_list(), strict=True))
        index = kept["_customer_codes"] = (customers, codes)
    found = [index[1].get(i) for i in ids.to_list()]
    return frame.with_columns(pl.Series("c", found, dtype=customers.schema["c"]))


def known_targets(coded: pl.DataFrame) -> pl.DataFrame:
    """``c, t``: the distinct targets of known customers (``coded_targets``), sorted."""
    if coded.height == 1:
        return (
            coded.select("c", "t")
            if coded.item(0, "c") is not None
            else coded.select("c", "t").clear()
        )
    return (
        coded.lazy().filter(pl.col("c").is_not_null()).select("c", "t").unique().sort("c", "t")
    ).collect(engine="in-memory")


def float_values(frame: pl.DataFrame, name: str, fill: float = np.nan) -> np.ndarray | None:
    """A Float64 column as an array with its nulls as ``fill`` (NaN by default); None when it
    holds a NaN (a NaN and a null differ in the expressions) or is not Float64 — the
    request's NumPy shortcuts then leave the rows to the query."""
    column = frame.get_column(name)
    if column.dtype != pl.Float64:
        return None
    values = column.to_numpy()
    nan = np.isnan(values)
    if int(nan.sum()) != column.null_count():
        return None
    return np.where(nan, fill, values) if nan.any() and not np.isnan(fill) else values


def rounded_values(frame: pl.DataFrame, quantity: np.ndarray) -> np.ndarray | None:
    """``quantities.rounded`` of ``quantity`` over ``frame``'s rows (``pack``,
    ``pack_share_cp``, ``int_share_cp``) with NumPy (halves to even, as Polars rounds); None
    when a column holds a NaN or is not Float64, or a quantity is NaN (left to the query)."""
    pack = float_values(frame, "pack")
    pack_share = float_values(frame, "pack_share_cp")
    int_share = float_values(frame, "int_share_cp")
    if pack is None or pack_share is None or int_share is None or np.isnan(quantity).any():
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        by_pack = (pack_share >= 0.8) & (pack > 1)  # a null compares False: no pack
        whole = np.where(np.isnan(int_share), 1.0, int_share) >= 0.8
        packs = np.maximum(np.round(quantity / pack), 1.0) * pack
    units = np.maximum(np.round(quantity), 1.0)
    return np.asarray(
        np.where(by_pack, packs, np.where(whole, units, np.maximum(quantity, 1e-6))),
        dtype=np.float64,
    )


def lapsed_values(frame: pl.DataFrame, intervals: float, min_days: float) -> np.ndarray | None:
    """Whether each row's customer is lapsed: ``days_since_c`` over ``intervals`` times its
    usual interval ``c_gap`` (90 days when unknown) and over ``min_days`` — the expression of
    ``NextOrderModel._scored`` with NumPy (nulls are not lapsed); None when a column holds a
    NaN or is not Float64."""
    since = float_values(frame, "days_since_c")
    gap = float_values(frame, "c_gap")
    if since is None or gap is None:
        return None
    threshold = np.maximum(np.where(np.isnan(gap), 90.0, gap) * intervals, float(min_days))
    with np.errstate(invalid="ignore"):
        return np.asarray(since > threshold, dtype=bool)  # a null (NaN) compares False


def with_scores(frame: pl.DataFrame, columns: list[pl.Series]) -> pl.DataFrame:
    """``frame`` with ``columns`` added (or replaced, in place, as ``with_columns``)."""
    if any(column.name in frame.columns for column in columns):
        return frame.with_columns(columns)
    return frame.hstack(columns)
