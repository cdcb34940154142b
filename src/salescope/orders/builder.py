"""From scored candidates to the lines of the next order (CONTRACTS.md ``next-orders``).

* ``rank`` mode: exactly ``min(K, products known)`` lines per target, best first; candidates
  the model scored come first, then the most ordered products fill the list.
* ``proposal`` mode: the customer's usual products, as many as maximise the expected F1 of the
  order (sorted probabilities p: choose k maximising 2·Σ_{i≤k} p_i / (k + Σ p)), at least one,
  at most ``top``. A customer never seen gets the most likely products of the business.

Every line carries a reason a rep can read aloud, built from the evidence behind it.
"""

from __future__ import annotations

import weakref
from typing import Literal, TypeVar

import numpy as np
import polars as pl

from salescope.domain.statuses import LineKind
from salescope.orders.windows import one_group, per

OrderMode = Literal["proposal", "rank"]
"""How ``next-orders`` lists a customer's lines: the proposal (usual lines cut at the best
expected F1, then gated novelties) or every candidate ranked."""

OUTPUT_COLUMNS = (
    "customer_id",
    "rank",
    "product_id",
    "kind",
    "probability",
    "quantity",
    "promotion_id",
    "reason",
    "order_date",
    "model_probability",  # a novelty's acceptance before feedback calibration (feedback refits)
    "lapsed",  # the customer has not ordered for much longer than its rhythm
)

RANKED_BY_NOTE = {
    "TIFU-KNN": "ranked by its own and similar shops' recent orders",
    "P-TopFreq": "ranked by how often it orders it",
}
"""What a usual line's reason adds when a baseline ranks instead of the learned model."""


def _interval(days: pl.Expr) -> pl.Expr:
    """'9 days', '3 weeks', '2 months' from a number of days."""
    d = days.round(0).cast(pl.Int64)
    w = (days / 7.0).round(0).cast(pl.Int64)
    m = (days / 30.4).round(0).cast(pl.Int64)
    return (
        pl.when(days < 1.5)
        .then(pl.lit("day"))
        .when(days < 13.5)
        .then(pl.format("{} days", d))
        .when(days < 60)
        .then(pl.when(w == 1).then(pl.lit("week")).otherwise(pl.format("{} weeks", w)))
        .otherwise(pl.when(m == 1).then(pl.lit("month")).otherwise(pl.format("{} months", m)))
    )


def _ago(days: pl.Expr) -> pl.Expr:
    d = days.round(0).cast(pl.Int64)
    return (
        pl.when(d <= 0)
        .then(pl.lit("today"))
        .when(d == 1)
        .then(pl.lit("yesterday"))
        .otherwise(pl.format("{} days ago", d))
    )


def reasons() -> pl.Expr:
    """A short sentence per scored candidate."""
    seen = pl.col("seen") == 1
    every = pl.format(
        "orders it every {}, last time {}",
        _interval(pl.col("gap_days_cp")),
        _ago(pl.col("days_since_cp")),
    )
    share = pl.format("; in {} of its last {} orders", pl.col("n_cp"), pl.col("c_orders"))
    once = pl.format("ordered it once, {}", _ago(pl.col("days_since_cp")))
    neighbours = pl.format(
        "{} % of the most similar customers buy it",
        (pl.col("nb_share") * 100).round(0).cast(pl.Int64),
    )
    return (
        pl.when(seen & (pl.col("n_cp") >= 2))
        .then(pl.concat_str([every, share]))
        .when(seen)
        .then(once)
        .otherwise(neighbours)
    )


Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


def _expected_f1_cut(
    frame: Frame,
    group: list[str],
    single: bool = False,
    ties: tuple[tuple[str, bool], ...] = (),
) -> Frame:
    """Keep, per group sorted by probability, the prefix with the best expected F1;
    ``single``: the frame holds one group (``orders.windows``); ``ties``: the columns (and
    whether descending) that order equal probabilities, so that the rows kept and their
    order never depend on how the rows arrived (calibrated probabilities tie often: a bucket
    of customers on Spark and all of them in one call must keep the same lines)."""
    keys = [*group, "probability", *(name for name, _ in ties)]
    descending = [False] * len(group) + [True] + [down for _, down in ties]
    ranked = frame.sort(keys, descending=descending, maintain_order=True)
    k = per(pl.int_range(1, pl.len() + 1), group, single)
    gain = (
        2.0
        * per(pl.col("probability").cum_sum(), group, single)
        / (k + per(pl.col("probability").sum(), group, single))
    )
    best = pl.col("_k").filter(pl.col("_f1") == pl.col("_best")).min()
    return (
        ranked.with_columns(k.alias("_k"), gain.alias("_f1"))
        .with_columns(per(pl.col("_f1").max(), group, single).alias("_best"))
        .with_columns(per(best, group, single).alias("_kbest"))
        .filter(pl.col("_k") <= pl.col("_kbest"))
        .drop("_k", "_f1", "_best", "_kbest")
    )


def fill_candidates(
    scored: pl.DataFrame, targets: pl.DataFrame, popular: pl.DataFrame, top: int
) -> pl.DataFrame:
    """Scored candidates of ``targets`` (``c, t``; ``c`` null for unknown customers, which get
    ``_key``), completed with ``popular`` products (``p, probability, quantity``, best first)
    to at least ``top`` per target. One known target's rows are put together without a
    query (``_one_target_filled``); the rows and columns are the query's
    (``fill_candidates_query``), in another row order (``to_lines`` orders them)."""
    filled = _one_target_filled(scored, targets, popular, top)
    return filled if filled is not None else fill_candidates_query(scored, targets, popular, top)


_FILLERS: dict[int, tuple[weakref.ref[pl.DataFrame], int, pl.DataFrame]] = {}
"""The first ``top`` rows of a ``popular`` frame with their reasons, by the frame's id."""


def _fillers(popular: pl.DataFrame, top: int) -> pl.DataFrame:
    """``popular``'s first ``top`` rows with the filler columns (``_src, seen, reason``),
    kept while the frame lives (a model's ``offered`` list serves every request)."""
    kept = _FILLERS.get(id(popular))
    if kept is None or kept[0]() is not popular or kept[1] != top:
        rows = popular.head(top).with_columns(
            pl.lit(1).alias("_src"),
            pl.lit(0, dtype=pl.Int8).alias("seen"),
            _filler_reason().alias("reason"),
        )
        if len(_FILLERS) > 16:
            _FILLERS.clear()
        kept = _FILLERS[id(popular)] = (weakref.ref(popular), top, rows)
    return kept[2]


def _filler_reason() -> pl.Expr:
    return pl.format(
        "among the most ordered products: in {} % of recent orders",
        (pl.col("probability") * 100).round(1),
    )


def _one_target_filled(
    scored: pl.DataFrame, targets: pl.DataFrame, popular: pl.DataFrame, top: int
) -> pl.DataFrame | None:
    """``fill_candidates`` of one known target whose rows ``scored`` all are, without a
    query; None otherwise."""
    if targets.height != 1 or targets.columns != ["_target_id", "t", "c"]:
        return None
    if targets.get_column("c").null_count():
        return None
    c, t = targets.item(0, "c"), targets.item(0, "t")
    if t is None or "_key" in scored.columns or "_target_id" in scored.columns:
        return None
    if scored.height:
        sc, st = scored.get_column("c"), scored.get_column("t")
        if sc.null_count() or st.null_count():
            return None
        if not (sc.min() == sc.max() == c and st.min() == st.max() == t):
            return None
    n, schema = scored.height, targets.schema
    have = scored.hstack(
        [
            pl.Series("_key", np.zeros(n, dtype=np.uint32), dtype=pl.UInt32),
            pl.Series(
                "_target_id", [targets.item(0, "_target_id")] * n, dtype=schema["_target_id"]
            ),
            pl.Series("_src", np.zeros(n, dtype=np.int32), dtype=pl.Int32),
        ]
    )
    fillers = _fillers(popular, top)
    if n:
        fresh = ~np.isin(fillers.get_column("p").to_numpy(), scored.get_column("p").to_numpy())
        fillers = fillers[np.flatnonzero(fresh)]
    m = fillers.height
    keyed = pl.DataFrame(
        [
            pl.Series("_key", np.zeros(m, dtype=np.uint32), dtype=pl.UInt32),
            *(
                pl.Series(name, [targets.item(0, name)] * m, dtype=schema[name])
                for name in targets.columns
            ),
        ]
    )
    return pl.concat([have, keyed.hstack(fillers)], how="diagonal_relaxed")


def fill_candidates_query(
    scored: pl.DataFrame, targets: pl.DataFrame, popular: pl.DataFrame, top: int
) -> pl.DataFrame:
    """``fill_candidates`` as one query."""
    # one query; ``to_lines`` puts the rows in a total order
    keyed = targets.lazy().with_row_index("_key")
    have = (
        scored.lazy()
        .join(keyed.filter(pl.col("c").is_not_null()), on=["c", "t"])
        .with_columns(pl.lit(0).alias("_src"))
    )
    filler = (
        keyed.join(popular.lazy().head(top), how="cross")
        .join(have.select("_key", "p"), on=["_key", "p"], how="anti")
        .with_columns(
            pl.lit(1).alias("_src"),
            pl.lit(0, dtype=pl.Int8).alias("seen"),
            _filler_reason().alias("reason"),
        )
    )
    # a filler the customer bought before (but was not a candidate) is still a usual product
    return pl.concat([have, filler], how="diagonal_relaxed").collect(engine="in-memory")


def to_lines(
    frame: pl.DataFrame,
    *,
    mode: OrderMode,
    top: int | None,
    customer_ids: pl.DataFrame,
    product_ids: pl.DataFrame,
    bought: pl.DataFrame,
    max_novelties: int = 3,
    lapsed_lines: int = 3,
    ranked_by: str = "model",
) -> pl.DataFrame:
    """Choose, order and label the lines; ``bought``: ``c, p`` pairs of the history.

    In proposal mode a customer without usual products (new, or silent for the whole
    look-back) gets a starter instead of an empty order: its ``max_novelties`` most likely
    products, as extension lines whose ``model_probability`` is that likelihood. A lapsed
    customer (``lapsed`` on its scored candidates) gets at most ``lapsed_lines`` usual lines,
    and every line's reason says it has not ordered for a long time. ``ranked_by`` names the
    ranking in force; a baseline's is said in the usual lines' reasons.

    One target's lines (a serving request) are chosen with NumPy and only the chosen rows'
    reasons are written, in Python (``orders.one_proposal``): the query's plan alone costs
    several milliseconds; many targets', or rows the shortcut does not take (NaN, values
    a reason cannot say), go through the query (``lines_query``), which gives the same
    lines."""
    from salescope.orders.one_proposal import one_target_lines

    lines = one_target_lines(
        frame,
        mode=mode,
        top=top,
        customer_ids=customer_ids,
        product_ids=product_ids,
        bought=bought,
        max_novelties=max_novelties,
        lapsed_lines=lapsed_lines,
        ranked_by=ranked_by,
    )
    if lines is not None:
        return lines
    return lines_query(
        frame,
        mode=mode,
        top=top,
        customer_ids=customer_ids,
        product_ids=product_ids,
        bought=bought,
        max_novelties=max_novelties,
        lapsed_lines=lapsed_lines,
        ranked_by=ranked_by,
    )


def lines_query(
    frame: pl.DataFrame,
    *,
    mode: OrderMode,
    top: int | None,
    customer_ids: pl.DataFrame,
    product_ids: pl.DataFrame,
    bought: pl.DataFrame,
    max_novelties: int = 3,
    lapsed_lines: int = 3,
    ranked_by: str = "model",
) -> pl.DataFrame:
    """``to_lines`` as one query; ``bought``: ``c, p`` pairs of the history.

    In proposal mode a customer without usual products (new, or silent for the whole
    look-back) gets a starter instead of an empty order: its ``max_novelties`` most likely
    products, as extension lines whose ``model_probability`` is that likelihood. A lapsed
    customer (``lapsed`` on its scored candidates) gets at most ``lapsed_lines`` usual lines,
    and every line's reason says it has not ordered for a long time. ``ranked_by`` names the
    ranking in force; a baseline's is said in the usual lines' reasons."""
    group = ["_key"]
    single = one_group(frame, group)  # one proposal: windows over the whole frame
    # one query (a request's few hundred rows are not worth a dozen)
    columns, unsaid = frame.columns, frame["reason"].null_count()
    lazy = frame.lazy()
    if "lapsed" not in columns:
        lazy = lazy.with_columns(pl.lit(None, dtype=pl.Boolean).alias("lapsed"))
    for name in ("days_since_c", "c_gap"):
        if name not in columns:
            lazy = lazy.with_columns(pl.lit(None, dtype=pl.Float64).alias(name))
    lazy = lazy.with_columns(
        per(pl.col("lapsed").max(), group, single).fill_null(False),
        per(pl.col("days_since_c").max(), group, single).alias("_silent"),
        per(pl.col("c_gap").max(), group, single).alias("_rhythm"),
    )
    if unsaid:  # scored candidates (fillers come with their reason)
        said = reasons()
        note = RANKED_BY_NOTE.get(ranked_by)
        if note is not None:
            said = pl.concat_str([said, pl.lit(f"; {note}")])
        lazy = lazy.with_columns(
            pl.when(pl.col("reason").is_null())
            .then(said)
            .otherwise(pl.col("reason"))
            .alias("reason")
        )
    silent = pl.col("_silent").round(0).cast(pl.Int64)
    lapsed_note = (
        pl.when(pl.col("_rhythm").is_null())
        .then(pl.format("no order for {} days, ordered once before: lapsed, check first; ", silent))
        .otherwise(
            pl.format(
                "no order for {} days, usually every {}: lapsed, check first; ",
                silent,
                _interval(pl.col("_rhythm")),
            )
        )
    )
    lazy = lazy.with_columns(
        pl.when(pl.col("lapsed"))
        .then(pl.concat_str([lapsed_note, pl.col("reason")]))
        .otherwise(pl.col("reason"))
        .alias("reason")
    )
    lazy = lazy.join(
        bought.lazy().with_columns(pl.lit(True).alias("_bought")), on=["c", "p"], how="left"
    ).with_columns(pl.col("_bought").fill_null(False))
    order = [*group, "_src", "score", "probability", "p"]
    descending = [False, False, True, True, False]
    # a total order: (key, source, product) is unique
    lazy = lazy.with_columns(pl.col("score").fill_null(-1e9)).sort(order, descending=descending)
    if mode == "rank":
        k = 10 if top is None else top
        chosen = lazy.with_columns(
            per(pl.int_range(1, pl.len() + 1), group, single).alias("rank")
        ).filter(pl.col("rank") <= k)
    else:
        # the customer's usual products; a customer without any gets the most likely ones
        has_usual = per(pl.col("_bought").any(), group, single)
        usual = _expected_f1_cut(
            lazy.filter(pl.col("_bought") & has_usual),
            group,
            single,
            ties=(("_src", False), ("score", True), ("p", False)),
        )
        usual = usual.filter(
            ~pl.col("lapsed") | (per(pl.int_range(pl.len()), group, single) < lapsed_lines)
        )
        starter = lazy.filter(~has_usual).filter(
            per(pl.int_range(pl.len()), group, single) < max_novelties
        )
        chosen = pl.concat([usual, starter], how="diagonal_relaxed")
        chosen = chosen.sort(order, descending=descending).with_columns(
            per(pl.int_range(1, pl.len() + 1), group, single).alias("rank")
        )
        if top is not None:
            chosen = chosen.filter(pl.col("rank") <= top)
    kind = (
        pl.when(pl.col("_bought"))
        .then(pl.lit(LineKind.USUAL.value))
        .otherwise(pl.lit(LineKind.EXTENSION.value))
    )
    if "_kind" in columns:  # the novelties say what they are
        kind = pl.coalesce(pl.col("_kind"), kind)
    out = (
        chosen.join(customer_ids.lazy().rename({"customer_id": "_cid"}), on="c", how="left")
        .join(product_ids.lazy(), on="p", how="left")
        .with_columns(
            pl.coalesce("_cid", "_target_id").alias("customer_id"),
            kind.alias("kind"),
            pl.col("probability").clip(0.0, 1.0),
            pl.col("quantity").fill_null(1.0).clip(lower_bound=1e-6),
            pl.lit(None, dtype=pl.String).alias("promotion_id"),
            pl.col("t").alias("order_date"),
            pl.when(pl.col("_bought"))
            .then(pl.lit(None, dtype=pl.Float64))
            .otherwise(pl.col("probability").clip(0.0, 1.0))
            .alias("model_probability"),
        )
        .sort("_key", "rank")
        .select(OUTPUT_COLUMNS)
    )
    return out.with_columns(pl.col("rank").cast(pl.Int64)).collect(engine="in-memory")
