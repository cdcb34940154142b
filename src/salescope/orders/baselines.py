"""Baselines the engine is measured against (and that tests use as references).

* G-TopFreq — the most frequent products overall.
* P-TopFreq — the customer's own most frequent products.
* GP-TopFreq — P-TopFreq, filled up with G-TopFreq.
* TIFU-KNN — Hu et al., SIGIR 2020, with its parameters tuned on a validation period.
* Last quantity — repeat the quantity of the customer's last order of the product.

Each ranking function takes history lines ``c, o, d, p, q`` and the target customers ``c`` and
returns ``c, p, rank``.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl

from salescope.orders.history import order_table, split_at, split_last_orders
from salescope.orders.metrics import ranking_metrics
from salescope.orders.neighbours import (
    TifuParams,
    nearest_neighbours,
    placed_lines,
    tifu_top_k,
    to_csr,
    vectors_of,
)


def _rank(frame: pl.DataFrame, score: str, top: int) -> pl.DataFrame:
    return (
        frame.sort(["c", score, "p"], descending=[False, True, False])
        .with_columns(pl.int_range(1, pl.len() + 1).over("c").cast(pl.UInt32).alias("rank"))
        .filter(pl.col("rank") <= top)
        .select("c", "p", "rank")
    )


def g_topfreq(lines: pl.DataFrame, targets: pl.DataFrame, top: int) -> pl.DataFrame:
    """The ``top`` products in most orders, for every target."""
    best = (
        lines.group_by("p")
        .agg(pl.col("o").n_unique().alias("n"))
        .sort(["n", "p"], descending=[True, False])
        .head(top)
        .with_columns(pl.int_range(1, pl.len() + 1).cast(pl.UInt32).alias("rank"))
    )
    return targets.select("c").unique().join(best.select("p", "rank"), how="cross")


def p_topfreq(lines: pl.DataFrame, targets: pl.DataFrame, top: int) -> pl.DataFrame:
    """Each target's ``top`` own products by the number of its orders holding them (ties: the
    most recent first)."""
    own = (
        lines.join(targets.select("c").unique(), on="c")
        .group_by("c", "p")
        .agg(pl.len().alias("n"), pl.col("d").max().alias("last"))
        .with_columns(
            (pl.col("n").cast(pl.Float64) + pl.col("last").dt.epoch("d") * 1e-7).alias("s")
        )
    )
    return _rank(own, "s", top)


def gp_topfreq(lines: pl.DataFrame, targets: pl.DataFrame, top: int) -> pl.DataFrame:
    """P-TopFreq, then G-TopFreq products the customer does not have, up to ``top``."""
    personal = p_topfreq(lines, targets, top)
    general = g_topfreq(lines, targets, top).join(personal, on=["c", "p"], how="anti")
    merged = pl.concat(
        [
            personal.with_columns(pl.lit(0).alias("g")),
            general.with_columns(pl.lit(1).alias("g")),
        ]
    ).sort("c", "g", "rank")
    return (
        merged.with_columns(pl.int_range(1, pl.len() + 1).over("c").cast(pl.UInt32).alias("rank"))
        .filter(pl.col("rank") <= top)
        .select("c", "p", "rank")
    )


def last_quantity(lines: pl.DataFrame) -> pl.DataFrame:
    """``c, p, quantity``: the quantity of each pair's most recent order."""
    return lines.sort("d").group_by("c", "p").agg(pl.col("q").last().alias("quantity"))


@dataclass
class TifuKnn:
    """TIFU-KNN as a fitted ranker: ``fit`` builds the customer vectors and neighbours."""

    params: TifuParams = field(default_factory=TifuParams)

    def fit(
        self,
        lines: pl.DataFrame,
        n_customers: int,
        n_products: int,
        *,
        rows: np.ndarray | None = None,
        placed: pl.DataFrame | None = None,
    ) -> TifuKnn:
        """Vectors of every customer of ``lines``; neighbours (among all of them) of the
        customers ``rows`` only (default: all), the only ones ``rank`` can then rank.
        ``placed``: ``neighbours.placed_lines`` of ``lines`` when already computed."""
        if placed is None:
            placed = placed_lines(lines, order_table(lines))
        vectors = vectors_of(placed, self.params)
        self.matrix_ = to_csr(vectors, "u", (n_customers, n_products))
        self.rows_ = (
            np.arange(n_customers, dtype=np.int64)
            if rows is None
            else np.unique(rows.astype(np.int64))
        )
        self.neighbours_ = nearest_neighbours(
            self.matrix_, self.params.k, metric=self.params.metric, rows=self.rows_
        )
        return self

    def rank(
        self, targets: pl.DataFrame, top: int, *, k: int | None = None, alpha: float | None = None
    ) -> pl.DataFrame:
        rows = targets["c"].unique().sort().to_numpy().astype(np.int64)
        at = np.searchsorted(self.rows_, rows)
        if len(rows) and (at.max() >= len(self.rows_) or np.any(self.rows_[at] != rows)):
            raise ValueError("TifuKnn.rank: targets outside the rows it was fitted for")
        return tifu_top_k(
            self.matrix_,
            self.neighbours_[at],
            rows,
            alpha=self.params.alpha if alpha is None else alpha,
            top=top,
            k=k,
        ).select("c", "p", "rank")


@dataclass(frozen=True)
class TifuGrid:
    """The small grid TIFU-KNN is tuned on (as in the paper's sensitivity study)."""

    group_size: tuple[int, ...] = (3, 7, 20)
    within_decay: tuple[float, ...] = (0.9, 1.0)
    group_decay: tuple[float, ...] = (0.6, 0.8, 1.0)
    k: tuple[int, ...] = (50, 100, 300)
    alpha: tuple[float, ...] = (0.5, 0.7, 0.9)
    metric: tuple[str, ...] = ("cosine", "euclidean")


Validation = Callable[[pl.DataFrame], tuple[pl.DataFrame, pl.DataFrame]]
"""Splits history lines ``c, o, d, p, q`` into a tuning history and its truth (``split_at``)."""


def calendar_validation(days: int) -> Validation:
    """Tune on the last ``days`` of the history: each customer's first order after them."""

    def split(lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        end = lines["d"].max()
        assert isinstance(end, dt.date)
        return split_at(lines, end - dt.timedelta(days=days))

    return split


def last_order_validation(lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Tune on each customer's last order (the history's own last-order split)."""
    return split_last_orders(lines)


def tune_tifu(
    lines: pl.DataFrame,
    n_customers: int,
    n_products: int,
    *,
    validation: Validation,
    grid: TifuGrid | None = None,
    top: int = 10,
    customers: int | None = None,
    vector_lines: int | None = None,
    seed: int = 0,
) -> tuple[TifuParams, float]:
    """TIFU-KNN parameters with the best Recall@``top`` on the ``validation`` split of
    ``lines``: ``(params, recall)``.

    The search is staged: the vector parameters (group size, within- and group-decay) at the
    paper's neighbourhood, then the similarity, ``k`` and ``alpha`` for the best vectors
    (neighbours of the largest ``k`` are reused for the smaller ones). Budgets (None: none):
    ``customers`` — at most this many validation customers are ranked, every customer of the
    history staying a possible neighbour; ``vector_lines`` — the vector parameters (how a
    customer's own orders are weighed) are chosen among a sample of customers whose history
    holds at most this many lines, each other's neighbours; the neighbourhood (``k``,
    ``alpha``, the similarity), which depends on how many customers there are to choose
    from, is always chosen on the whole history. Samples are drawn by a hash of the customer
    code and ``seed``.
    """
    grid = grid or TifuGrid()
    history, truth = validation(lines)
    targets = truth.select("c").unique().sort("c")  # a fixed order: reproducible sums
    if targets.height == 0:
        return TifuParams(), float("nan")
    order = (pl.col("c").hash(seed), "c")
    if customers is not None and targets.height > customers:
        targets = targets.sort(*order).head(customers)
        truth = truth.join(targets, on="c", how="semi")
    sample = history, truth, targets
    if vector_lines is not None and history.height > vector_lines:
        drawn = (
            history.group_by("c")
            .len()
            .sort(*order)
            .filter(pl.col("len").cum_sum() <= vector_lines)
            .select("c")
        )
        sample = (
            history.join(drawn, on="c", how="semi"),
            truth.join(drawn, on="c", how="semi"),
            targets.join(drawn, on="c", how="semi"),
        )
        if sample[2].height == 0:  # not even one customer fits: the whole history
            sample = history, truth, targets
    placed: dict[int, pl.DataFrame] = {}

    def recall(
        params: TifuParams,
        ks: tuple[int, ...],
        alphas: tuple[float, ...],
        split: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame],
    ) -> tuple[TifuParams, float]:
        lines_, truth_, targets_ = split
        if id(lines_) not in placed:
            placed[id(lines_)] = placed_lines(lines_, order_table(lines_))
        model = TifuKnn(replace(params, k=max(ks))).fit(
            lines_,
            n_customers,
            n_products,
            rows=targets_["c"].to_numpy(),
            placed=placed[id(lines_)],
        )
        best = (params, -1.0)
        for k, alpha in itertools.product(ks, alphas):
            ranked = model.rank(targets_, top, k=k, alpha=alpha)
            value = ranking_metrics(ranked, truth_, (top,))[f"recall@{top}"]
            if value > best[1]:
                best = (replace(params, k=k, alpha=alpha), value)
        return best

    default = TifuParams()
    best = (default, -1.0)
    for m, rb, rg in itertools.product(grid.group_size, grid.within_decay, grid.group_decay):
        candidate = recall(
            replace(default, group_size=m, within_decay=rb, group_decay=rg),
            (default.k,),
            (default.alpha,),
            sample,
        )
        if candidate[1] > best[1]:
            best = candidate
    vectors = best[0]
    if sample[0] is not history:  # the sample's recall is not comparable with the whole's
        best = (vectors, -1.0)
    for metric in grid.metric:
        candidate = recall(
            replace(vectors, metric=metric),  # type: ignore[arg-type]
            grid.k,
            grid.alpha,
            (history, truth, targets),
        )
        if candidate[1] > best[1]:
            best = candidate
    return best
