"""The novelties shown: their reasons, the gate (acceptance, value, resting, how many per proposal)
and their place among the usual lines."""

from __future__ import annotations

import numpy as np
import polars as pl

from salescope.domain.schemas import PROPOSAL_KEY
from salescope.domain.statuses import LineKind
from salescope.orders.novelties import NoveltyParams
from salescope.orders.windows import one_group, per


# -- reasons ----------------------------------------------------------------------------------
def _pct(column: str) -> pl.Expr:
    return (pl.col(column) * 100).round(0).cast(pl.Int64)


def extension_reason() -> pl.Expr:
    """The strongest evidence behind an extension or objective line, in words."""
    similar = pl.format("{} % of the most similar shops buy it", _pct("nb_share"))
    nearby = pl.format("{} % of the shops nearby buy it", _pct("geo_share"))
    segment = pl.format("{} % of {} shops buy it", _pct("seg_share"), pl.col("segment"))
    launch = pl.format(
        "new product, launched {} weeks ago", (pl.col("p_age_days") / 7).round(0).cast(pl.Int64)
    )
    lapsed = pl.format(
        "bought it {} times, last {} months ago",
        pl.col("n_cp").cast(pl.Int64),
        (pl.col("days_since_cp") / 30.44).round(0).cast(pl.Int64),
    )
    best = pl.max_horizontal(
        pl.col("nb_share").fill_null(0.0),
        pl.col("geo_share").fill_null(0.0),
        pl.col("seg_share").fill_null(0.0),
    )
    evidence = (
        pl.when(pl.col("seen") == 1)
        .then(lapsed)
        .when(pl.col("p_age_days").fill_null(1e9) < 120)
        .then(launch)
        .when(best == pl.col("nb_share").fill_null(0.0))
        .then(similar)
        .when(best == pl.col("geo_share").fill_null(0.0))
        .then(nearby)
        .otherwise(segment)
    )
    objective = pl.format("must-sell for {} shops", pl.col("objective_scope").fill_null("its"))
    return (
        pl.when(pl.col("kind") == LineKind.OBJECTIVE.value)
        .then(pl.concat_str([objective, evidence], separator="; "))
        .otherwise(evidence)
    )


def amount(x: pl.Expr) -> pl.Expr:
    """A quantity as a rep says it: whole from 10 up, else one decimal without a trailing
    ".0" ("672", "2.5", "3")."""
    whole = x.round(0).cast(pl.Int64).cast(pl.String)
    tenth = x.round(1).cast(pl.String).str.replace(r"\.0$", "")
    return pl.when(x.abs() >= 10).then(whole).otherwise(tenth)


def development_reason() -> pl.Expr:
    return pl.format(
        "buys about {} a month; similar {} shops buy {} — suggest {} this order",
        amount(pl.col("own_rate")),
        pl.col("segment"),
        amount(pl.col("peer_rate")),
        amount(pl.col("quantity")),
    )


# -- gating -----------------------------------------------------------------------------------
def gate(novelties: pl.DataFrame, params: NoveltyParams, key: list[str]) -> pl.DataFrame:
    """The novelties shown: acceptance probability over the kind's bar, expected value over
    ``min_value``, at most ``max_novelties`` per proposal (``key``), the most valuable first
    (value: probability x quantity x unit margin; ties by probability)."""
    bar = (
        pl.when(pl.col("kind") == LineKind.OBJECTIVE.value)
        .then(pl.lit(params.min_objective_probability))
        .when(pl.col("kind") == LineKind.DEVELOPMENT.value)
        .then(pl.lit(params.min_development_probability))
        .otherwise(pl.lit(params.min_probability))
    )
    value = pl.col("probability") * pl.col("value_per_acceptance")
    tie = "product_id" if "product_id" in novelties.columns else "p"
    shown = (
        novelties.with_columns(value.alias("expected_value"))
        .filter((pl.col("probability") >= bar) & (pl.col("expected_value") >= params.min_value))
        .sort(
            [*key, "expected_value", "probability", tie],
            descending=[False] * len(key) + [True, True, False],
        )
    )
    place = per(pl.int_range(pl.len()), key, one_group(novelties, key))
    return shown.filter(place < params.max_novelties)


def _numbered(lines: pl.DataFrame, key: list[str], top: int | None) -> bool:
    """Whether ``lines`` are one proposal ranked 1, 2, ... in row order, within ``top``."""
    ranks = lines["rank"].to_numpy()
    return (
        one_group(lines, key)
        and lines.schema["rank"] == pl.Int64
        and bool((ranks == np.arange(1, len(ranks) + 1)).all())
        and (top is None or len(ranks) <= top)
    )


def merge_novelties(lines: pl.DataFrame, offers: pl.DataFrame, top: int | None) -> pl.DataFrame:
    """A proposal's lines: its usual lines, then the novelties shown, most valuable first; a
    development line takes the place of the usual line of its product. ``top`` caps the lines
    per proposal; ranks are renumbered from 1."""
    key = list(PROPOSAL_KEY)
    columns = lines.columns
    if offers.height == 0 and _numbered(lines, key, top):
        return lines  # one proposal, nothing to merge: its lines are already in place
    # one proposal among the lines and the offers: windows over the whole frame
    alone = one_group(offers, key)
    single = alone and one_group(lines, key)
    if single and lines.height and offers.height:
        single = lines.select(key).row(0) == offers.select(key).row(0)
    # one query; the rows are put in a total order (proposal, block, place) before ranking
    lazy_lines, lazy_offers = lines.lazy(), offers.lazy()
    order = (
        lazy_lines.with_row_index("_row").group_by(key).agg(pl.col("_row").min().alias("_first"))
    )
    if "lapsed" in columns and "lapsed" not in offers.columns:
        lazy_offers = lazy_offers.with_columns(pl.lit(False).alias("lapsed"))  # gated out
    shown = lazy_offers.with_columns(
        pl.lit(1).alias("_block"),
        per(pl.int_range(pl.len()), key, alone).alias("_pos"),
        pl.lit(0, dtype=pl.Int64).alias("rank"),
    )
    usual = lazy_lines.join(
        lazy_offers.select(*key, "product_id"), on=[*key, "product_id"], how="anti"
    ).with_columns(pl.lit(0).alias("_block"), pl.col("rank").alias("_pos"))
    merged = (
        pl.concat(
            [usual.select(*columns, "_block", "_pos"), shown.select(*columns, "_block", "_pos")],
            how="vertical_relaxed",
        )
        .join(order, on=key, how="left")
        .sort("_first", "_block", "_pos")
        .with_columns(per(pl.int_range(1, pl.len() + 1), key, single).cast(pl.Int64).alias("rank"))
    )
    if top is not None:
        merged = merged.filter(pl.col("rank") <= top)
    return merged.select(columns).collect(engine="in-memory")
