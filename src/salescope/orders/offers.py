"""The novelty lines of a proposal: development and extension offers, acceptance, promotions
and the gate; and rank mode's places for the products a customer lacks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import polars as pl

from salescope.domain.schemas import LINE_KEY, PROPOSAL_KEY
from salescope.domain.statuses import LineKind
from salescope.orders.gating import development_reason, extension_reason, gate
from salescope.orders.novelties import acceptance_prior, similar_share
from salescope.orders.quantities import rounded
from salescope.orders.shortlist import nothing_shown, shortlist
from salescope.orders.windows import one_group, per

if TYPE_CHECKING:
    from salescope.orders.history import Codes
    from salescope.orders.model import NextOrderModel

Acceptance = Callable[[pl.DataFrame], Any]
"""Maps novelty lines (``kind``, ``model_probability``) to calibrated acceptance probabilities."""
Promote = Callable[[pl.DataFrame], pl.DataFrame]
"""Attaches promotions to candidate novelty lines (ids, ``probability``, ``quantity``), raising
``probability`` where one applies and appending its terms to ``reason``."""


def novelty_lines(
    model: NextOrderModel,
    scored: pl.DataFrame,
    novelties: pl.DataFrame,
    resting: pl.DataFrame | None = None,
    acceptance: Acceptance | None = None,
    promote: Promote | None = None,
    usual: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The novelties shown (gated), as id lines with ``kind``, ``probability``
    (acceptance), ``model_probability`` (before feedback calibration), ``quantity``,
    ``promotion_id``, ``reason`` and ``expected_value``. ``usual``: the usual lines of
    the proposals (``customer_id, order_date, product_id``); a development line raises
    the quantity of one of them, so products outside them are not developed."""
    if acceptance is None and promote is None:  # only the rows that could be shown
        scored, novelties = shortlist(model, scored, novelties)
        if scored.height == 0 and novelties.height == 0:
            return nothing_shown(
                model,
                scored,
                novelties,
                lambda s, n: build_lines(model, s, n, resting, None, None, usual),
            )
    return build_lines(model, scored, novelties, resting, acceptance, promote, usual)


def build_lines(
    model: NextOrderModel,
    scored: pl.DataFrame,
    novelties: pl.DataFrame,
    resting: pl.DataFrame | None,
    acceptance: Acceptance | None,
    promote: Promote | None,
    usual: pl.DataFrame | None,
) -> pl.DataFrame:
    """``novelty_lines`` of every row of ``scored`` and ``novelties``."""
    p = model.params_.novelties
    ctx = model.context_
    margin = ctx.products.select("p", "margin", "offerable")
    development = _development(model, scored, margin)
    extension = (
        novelties.lazy()
        .join(margin.lazy().filter(pl.col("offerable")), on="p")
        .with_columns(
            acceptance_prior(model.prior_).alias("model_probability"),
            similar_share().alias("_share"),
            (pl.col("quantity") * pl.col("margin") * pl.col("weight").fill_null(1.0)).alias(
                "value_per_acceptance"
            ),
        )
        .with_columns(extension_reason().alias("reason"))
        .collect(engine="in-memory")
    )
    columns = [
        "c",
        "t",
        "p",
        "kind",
        "model_probability",
        "quantity",
        "value_per_acceptance",
        "reason",
    ]
    offers = pl.concat(
        [
            development.select(columns).with_columns(
                pl.lit(None, dtype=pl.Float64).alias("_share")
            ),
            extension.select(*columns, "_share"),
        ],
        how="vertical_relaxed",
    ).with_columns(pl.col("model_probability").clip(0.0, 1.0))
    if acceptance is None:
        # no feedback yet: the acceptance of a new product is the history's adoption rate,
        # which cannot tell a good proposal from a bad one; the most promising (by the
        # share of similar shops buying it) are shown, for feedback to set the scale
        developed = pl.col("kind") == LineKind.DEVELOPMENT.value
        offers = offers.filter(developed | (pl.col("_share") >= model.share_bar_))
        p = replace(p, min_probability=0.0, min_objective_probability=0.0)
    offers = offers.drop("_share")
    offers = model.codes_.decode(offers).rename({"t": "order_date"})
    if usual is not None:
        offers = developing_usual(offers, usual)
    if resting is not None and resting.height:
        offers = offers.join(
            resting.select("customer_id", "product_id").unique(),
            on=["customer_id", "product_id"],
            how="anti",
        )
    probability = (
        pl.Series(acceptance(offers), dtype=pl.Float64)
        if acceptance is not None and offers.height
        else offers["model_probability"]
    )
    offers = offers.with_columns(
        probability.clip(0.0, 1.0).alias("probability"),
        pl.lit(None, dtype=pl.String).alias("promotion_id"),
    )
    key = list(PROPOSAL_KEY)
    if promote is None or offers.height == 0:
        return gate(offers, p, key)
    # the most valuable few per proposal compete for the promotions' budgets; then only
    # the lines shown, until every promoted line is shown (the pool shrinks each round),
    # so no budget goes to a line the gate hides
    pool = gate(
        offers,
        replace(
            p,
            min_probability=0.0,
            min_objective_probability=0.0,
            min_development_probability=0.0,
            min_value=-1e18,
            max_novelties=3 * p.max_novelties,
        ),
        key,
    ).drop("expected_value")
    ids = [*key, "product_id"]
    while True:
        promoted = promote(pool)
        shown = gate(promoted, p, key)
        wasted = promoted.filter(pl.col("promotion_id").is_not_null()).join(
            shown.select(ids), on=ids, how="anti"
        )
        if wasted.height == 0:
            return shown
        pool = pool.join(shown.select(ids), on=ids, how="semi")


def developing_usual(offers: pl.DataFrame, usual: pl.DataFrame) -> pl.DataFrame:
    """``offers`` without the development lines of products outside the ``usual`` lines (a
    development line raises the quantity of a usual line); the offers themselves when none
    is a development line."""
    kinds = offers.get_column("kind")
    developed = pl.col("kind") == LineKind.DEVELOPMENT.value
    if not kinds.null_count() and not (kinds == LineKind.DEVELOPMENT.value).any():
        return offers
    return pl.concat(
        [
            offers.filter(~developed),
            offers.filter(developed).join(
                usual.select("customer_id", "order_date", "product_id"),
                on=list(LINE_KEY),
                how="semi",
            ),
        ]
    )


def _development(model: NextOrderModel, scored: pl.DataFrame, margin: pl.DataFrame) -> pl.DataFrame:
    """The development offers of ``scored`` (pairs of the customers' development tables); of
    no row, the empty frame of them, made once per model and input schema (a one-customer
    request without development pairs pays for no query)."""
    ctx, key = model.context_, (scored.schema, margin.schema)
    kept = model.__dict__.get("_no_development")
    if (
        scored.height == 0
        and kept is not None
        and kept[0] == key
        and kept[1] is model.development_
        and kept[2] is ctx
    ):
        empty: pl.DataFrame = kept[3]
        return empty
    development = (
        model.rows_of("development_", scored["c"])
        .lazy()
        .join(scored.lazy(), on=["c", "p"])
        .join(ctx.customers.lazy().select("c", "segment"), on="c", how="left")
        .with_columns(
            rounded(
                pl.col("_q") * (pl.col("peer_rate") / pl.col("own_rate")).clip(1.25, 2.0)
            ).alias("quantity"),
            pl.col("quantity").alias("_usual_q"),
            (pl.col("probability") * model.development_rate_).alias("model_probability"),
            pl.lit(LineKind.DEVELOPMENT.value).alias("kind"),
        )
        .join(margin.lazy(), on="p")
        .with_columns(
            ((pl.col("quantity") - pl.col("_usual_q")) * pl.col("margin")).alias(
                "value_per_acceptance"
            ),
            development_reason().alias("reason"),
        )
        .collect(engine="in-memory")
    )
    if scored.height == 0:
        model.__dict__["_no_development"] = (key, model.development_, ctx, development)
    return development


def rank_extensions(scored: pl.DataFrame, novelties: pl.DataFrame) -> pl.DataFrame:
    """Rank mode: the places the main ranker gives to products a customer lacks are filled
    with the adoption model's best such products, in its order (the repeat places are
    untouched)."""
    key = ["c", "t"]
    single = one_group(scored, key) and one_group(novelties, key)
    lapsed = novelties.select("c", "t", "p")
    slots = (
        scored.join(lapsed, on=["c", "t", "p"])
        .sort([*key, "score", "p"], descending=[False, False, True, False])
        .select(*key, per(pl.int_range(pl.len()), key, single).alias("_j"), "score")
    )
    best = (
        novelties.sort([*key, "p_adopt", "p"], descending=[False, False, True, False])
        .with_columns(per(pl.int_range(pl.len()), key, single).alias("_j"))
        .drop("score", strict=False)
        .join(slots, on=[*key, "_j"])
        .with_columns(
            pl.col("p_adopt").alias("probability"),
            pl.col("kind").alias("_kind"),
            extension_reason().alias("reason"),
        )
        .drop("_j")
    )
    kept = scored.join(lapsed, on=["c", "t", "p"], how="anti")
    return pl.concat([kept, best], how="diagonal_relaxed")


def unseen_ranking(novelties: pl.DataFrame | None, codes: Codes, top: int) -> pl.DataFrame:
    """The ``top`` products each target never bought (in the look-back window) by the
    adoption model, from its scored ``novelties``: ``customer_id, product_id, rank,
    probability``."""
    if novelties is None or novelties.height == 0:
        return pl.DataFrame(
            schema={
                "customer_id": pl.String,
                "product_id": pl.String,
                "rank": pl.Int64,
                "probability": pl.Float64,
            }
        )
    ranked = (
        novelties.filter(pl.col("seen") == 0)
        .sort(["c", "t", "p_adopt", "p"], descending=[False, False, True, False])
        .with_columns(pl.int_range(1, pl.len() + 1).over("c", "t").alias("rank"))
        .filter(pl.col("rank") <= top)
        .select("c", "p", "rank", pl.col("p_adopt").alias("probability"))
    )
    return codes.decode(ranked).select("customer_id", "product_id", "rank", "probability")
