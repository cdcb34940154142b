"""The pair context looked up with NumPy (``novelties.pair_context`` of a request's pairs)
equals the joins' (``novelties.context_query``): on a fitted engine's pairs and evidence, as
they are and altered — several customers, products without category or brand, NaN and
missing evidence, customers of another segment — and where the look-up cannot answer as the
joins do (repeated or null evidence, unknown codes, columns the joins would add) it leaves
the pairs to them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from salescope.orders.model import NextOrderModel
from salescope.orders.novelties import Context, Evidence, _looked_up, context_query, pair_context

EVERY_THIRD = pl.int_range(pl.len()) % 3 == 0


def _pairs(model: NextOrderModel, customers: list[int]) -> pl.DataFrame:
    """The kept candidate rows of ``customers`` (``c, t, p`` and a tag), shuffled, and a few
    products none of them has."""
    main = model.warm().main
    rows = main.filter(pl.col("c").is_in(customers)).select("c", "p", "nb_share")
    rng = np.random.default_rng(len(customers))
    more = pl.DataFrame(
        {
            "c": pl.Series(rng.choice(customers, 6), dtype=pl.UInt32),
            "p": pl.Series(rng.integers(0, model.codes_.n_products, 6), dtype=pl.UInt32),
            "nb_share": [0.5] * 6,
        }
    )
    frame = pl.concat([rows, more]).with_columns(pl.lit(model.cutoff_).alias("t"))
    return frame.sample(fraction=1.0, shuffle=True, seed=len(customers))


Change = Callable[[Evidence, Context], tuple[Evidence, Context]]


def _no_category(ev: Evidence, ctx: Context) -> tuple[Evidence, Context]:
    products = ctx.products.with_columns(
        pl.when(EVERY_THIRD).then(None).otherwise(pl.col(n)).alias(n) for n in ("category", "brand")
    )
    return ev, Context(ctx.customers, products, ctx.geo)


def _nan(ev: Evidence, ctx: Context) -> tuple[Evidence, Context]:
    def nan(frame: pl.DataFrame, name: str) -> pl.DataFrame:
        return frame.with_columns(
            pl.when(EVERY_THIRD).then(float("nan")).otherwise(pl.col(name)).alias(name)
        )

    return (
        replace(
            ev,
            segments=nan(ev.segments, "seg_share"),
            categories=nan(ev.categories, "cat_share"),
            adoption=nan(ev.adoption, "p_adopt_90"),
        ),
        ctx,
    )


def _missing(ev: Evidence, ctx: Context) -> tuple[Evidence, Context]:
    return (
        replace(
            ev,
            categories=ev.categories.clear(),
            brands=ev.brands.filter(~EVERY_THIRD),
            adoption=ev.adoption.filter(EVERY_THIRD),
            bought=None,
        ),
        ctx,
    )


def _segments(ev: Evidence, ctx: Context) -> tuple[Evidence, Context]:
    customers = ctx.customers.with_columns(
        pl.when(EVERY_THIRD).then(pl.lit("nowhere")).otherwise(pl.col("segment")).alias("segment")
    )
    return ev, Context(customers, ctx.products, None)


CHANGES: dict[str, Change] = {
    "as is": lambda ev, ctx: (ev, ctx),
    "no category": _no_category,
    "nan": _nan,
    "missing": _missing,
    "segments": _segments,
}


@pytest.mark.parametrize("name", list(CHANGES))
def test_looked_up_context_equals_the_joins(demo_model: NextOrderModel, name: str) -> None:
    model = demo_model
    evidence, ctx = CHANGES[name](model.snapshot_.evidence, model.context_)
    codes = model.codes_.customers["c"].to_list()
    looked = 0
    groups = [[c] for c in codes[:: max(1, len(codes) // 12)]] + [codes[:5]]
    for customers in groups:
        pairs = _pairs(model, customers)
        for frame in (pairs, pairs.clear()):
            got = pair_context(evidence, ctx, frame)
            expected = context_query(evidence, ctx, frame)
            assert got.schema == expected.schema
            assert got.equals(expected, null_equal=True), (name, customers)
            looked += _looked_up(evidence, ctx, frame) is not None
    assert looked == 2 * len(groups)  # the look-up is the path tested


def test_the_joins_answer_what_the_look_up_cannot(demo_model: NextOrderModel) -> None:
    """Repeated or null evidence, an unknown code, codes of another type and pairs
    that hold a segment are joined (the same answer either way)."""
    model = demo_model
    ev, ctx = model.snapshot_.evidence, model.context_
    pairs = _pairs(model, model.codes_.customers["c"].head(2).to_list())
    n = model.codes_.n_products

    def product(value: int) -> pl.Expr:
        return pl.when(EVERY_THIRD).then(value).otherwise(pl.col("p")).alias("p")

    null = pl.when(EVERY_THIRD).then(None).otherwise(pl.col("seg_share")).alias("seg_share")
    cases = [
        (replace(ev, segments=pl.concat([ev.segments, ev.segments.head(1)])), ctx, pairs),
        (replace(ev, segments=ev.segments.with_columns(null)), ctx, pairs),
        (ev, ctx, pairs.with_columns(pl.col("c").cast(pl.Int64))),
        (ev, ctx, pairs.with_columns(pl.lit("bar").alias("segment"))),
    ]
    # a product the context lacks: the joins' nearby-shop share fails on it too
    assert _looked_up(ev, ctx, pairs.with_columns(product(n + 5))) is None
    for i, (evidence, context, frame) in enumerate(cases):
        assert _looked_up(evidence, context, frame) is None, i
        got = pair_context(evidence, context, frame)
        assert got.equals(context_query(evidence, context, frame), null_equal=True)
