"""Customer vectors in the manner of TIFU-KNN, nearest neighbours and neighbour scores.

TIFU-KNN (Hu, He, Li, Tang, Zhang, Yang; SIGIR 2020): a customer's vector is a time-decayed
average of its orders' product indicators. The orders are cut into groups of ``group_size``
from the most recent backwards; within a group the order ``i`` places before the group's most
recent one weighs ``within_decay**i`` (the group vector is their mean), and group ``j`` groups
before the most recent weighs ``group_decay**j`` (the customer vector is their mean). The
prediction for a customer is ``alpha`` × its own vector + (1 − ``alpha``) × the mean vector of
its ``k`` nearest neighbours.

Everything is vectorised: the vectors are a Polars group-by, neighbours and scores are sparse
products taken by chunks of customers, so memory stays bounded for large customer bases.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp

Metric = Literal["cosine", "euclidean"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class TifuParams:
    group_size: int = 7
    within_decay: float = 0.9
    group_decay: float = 0.7
    k: int = 100
    alpha: float = 0.7
    metric: Metric = "cosine"


def tifu_weights(orders: pl.DataFrame, params: TifuParams) -> pl.DataFrame:
    """Weight of each order in its customer's vector: ``c, o, w`` (orders from ``order_table``)."""
    m = params.group_size
    e = pl.col("e").cast(pl.Int64)
    n = pl.col("n_orders").cast(pl.Int64)
    groups = (n + m - 1) // m
    group = e // m  # 0 = the most recent group
    size = pl.when(group == groups - 1).then(n - (groups - 1) * m).otherwise(m)
    weight = (
        pl.lit(params.within_decay).pow(e % m)
        / size
        * pl.lit(params.group_decay).pow(group)
        / groups
    )
    return orders.select("c", "o", weight.alias("w"))


def tifu_vectors(lines: pl.DataFrame, orders: pl.DataFrame, params: TifuParams) -> pl.DataFrame:
    """Customer vectors as ``c, p, u`` (lines ``c, o, p``; orders from ``order_table``)."""
    return vectors_of(placed_lines(lines, orders), params)


def placed_lines(lines: pl.DataFrame, orders: pl.DataFrame) -> pl.DataFrame:
    """Lines ``c, o, p`` with their order's place ``e`` and the customer's ``n_orders``, in the
    fixed order ``c, p, o`` the vectors sum in: computed once, they serve every set of
    ``TifuParams`` (``vectors_of``) — the tuning builds nine sets of vectors from one."""
    return (
        lines.select("c", "o", "p")
        .join(orders.select("c", "o", "e", "n_orders"), on=["c", "o"])
        # joins scramble rows: a fixed order of the terms keeps the float sums reproducible
        .sort("c", "p", "o")
    )


def vectors_of(placed: pl.DataFrame, params: TifuParams) -> pl.DataFrame:
    """Customer vectors ``c, p, u`` of ``placed_lines`` with ``params``."""
    weight = tifu_weights(placed, params)["w"]
    return (
        placed.select("c", "p")
        .with_columns(weight)
        .group_by("c", "p", maintain_order=True)
        .agg(pl.col("w").sum().alias("u"))
    )


def to_csr(frame: pl.DataFrame, value: str, shape: tuple[int, int]) -> sp.csr_matrix:
    """A sparse matrix from ``c, p, value`` columns."""
    rows = frame["c"].to_numpy().astype(np.int64)
    cols = frame["p"].to_numpy().astype(np.int64)
    data = frame[value].to_numpy().astype(np.float64)
    return sp.csr_matrix((data, (rows, cols)), shape=shape)


def bought_columns(vectors: sp.csr_matrix) -> IntArray:
    """The products (columns of ``vectors``) someone bought, in column order: the only ones
    collaborative evidence can point to. A catalogue of 70,000 products of which a few
    thousand sell is computed on those few thousand."""
    return np.flatnonzero(vectors.getnnz(axis=0) > 0).astype(np.int64)


def _chunks(n: int, size: int) -> Iterator[IntArray]:
    for start in range(0, n, size):
        yield np.arange(start, min(n, start + size), dtype=np.int64)


def nearest_neighbours(
    vectors: sp.csr_matrix,
    k: int,
    *,
    metric: Metric = "cosine",
    rows: IntArray | None = None,
    queries: sp.csr_matrix | None = None,
    cells: int = 20_000_000,
    dense_cells: int = 40_000_000,
) -> IntArray:
    """The ``k`` nearest other customers of each row (``-1`` where fewer exist), best first.

    Customers without any product are never anyone's neighbour and have none. Similarities
    are computed by chunks of at most ``cells`` customer pairs; when the customers' vectors
    over the products someone bought fit in ``dense_cells`` cells, they are multiplied as
    dense arrays (BLAS: a long history's vectors hold thousands of products each, where a
    sparse product costs several times more).

    ``queries`` (one row per entry of ``rows``, the columns of ``vectors``): the vectors of
    customers scored from orders read after the fit, whose neighbours are searched among the
    rows of ``vectors`` only; ``rows`` then names the row of ``vectors`` each one is (not its
    own neighbour), or ``-1`` for a customer ``vectors`` does not hold.
    """
    n = vectors.shape[0]
    chunk = max(16, min(4096, cells // max(1, n)))
    rows = np.arange(n, dtype=np.int64) if rows is None else rows
    k_eff = max(0, min(k, n - 1 if queries is None else n))
    result = np.full((len(rows), k), -1, dtype=np.int64)
    if k_eff == 0:
        return result
    norms, basis = _normed(vectors, metric)
    empty = norms == 0
    if queries is None:
        q_norms, q_basis = norms, basis
    else:
        q_norms, q_basis = _normed(queries, metric)
    columns_of = bought_columns(basis)
    dense = n * len(columns_of) <= dense_cells
    if dense:
        full = basis[:, columns_of].toarray()
        full_t = full.T  # a transposed view: BLAS reads it in place
    else:
        basis_t = basis.T.tocsc()
    for block in _chunks(len(rows), chunk):
        ids = rows[block]
        at = ids if queries is None else block  # the rows of the query side
        if not dense:
            dots = (q_basis[at] @ basis_t).toarray()
        elif queries is None:
            dots = full[at] @ full_t
        else:  # the queries' block made dense, as the fitted rows are
            dots = q_basis[at][:, columns_of].toarray() @ full_t
        if metric == "cosine":
            score = dots
        else:  # smaller distance = larger score
            score = 2.0 * dots - (norms**2)[None, :] - (q_norms[at] ** 2)[:, None]
        # equal similarities stay equal whichever way the products were summed
        score = np.round(score, 10)
        score[:, empty] = -np.inf
        itself = (ids >= 0) & (ids < n)
        score[np.flatnonzero(itself), ids[itself]] = -np.inf
        top = np.argpartition(-score, k_eff - 1, axis=1)[:, :k_eff]
        top_scores = np.take_along_axis(score, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        top_scores = np.take_along_axis(top_scores, order, axis=1)
        top[~np.isfinite(top_scores)] = -1
        top[q_norms[at] == 0] = -1  # a customer without products has no neighbours
        result[block, :k_eff] = top
    return result


def _normed(vectors: sp.csr_matrix, metric: Metric) -> tuple[FloatArray, sp.csr_matrix]:
    """The rows' norms, and the rows scaled to unit norm for the cosine (as they are else)."""
    norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel())
    if metric != "cosine":
        return norms, vectors
    scale = sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms != 0))
    return norms, (scale @ vectors).tocsr()


def neighbour_matrix(neighbours: IntArray, n_customers: int, k: int | None = None) -> sp.csr_matrix:
    """Row-stochastic matrix averaging each row's first ``k`` neighbours (rows of
    ``neighbours`` in order of the customers they belong to)."""
    nn = neighbours if k is None else neighbours[:, :k]
    valid = nn >= 0
    counts = valid.sum(axis=1)
    rows = np.repeat(np.arange(nn.shape[0]), nn.shape[1])[valid.ravel()]
    cols = nn.ravel()[valid.ravel()]
    weights = (1.0 / np.maximum(counts, 1))[rows]
    return sp.csr_matrix((weights, (rows, cols)), shape=(nn.shape[0], n_customers))


def row_top_k(matrix: sp.csr_matrix, k: int) -> tuple[IntArray, IntArray, FloatArray]:
    """Per row, the ``k`` largest stored entries: (row, column, value), best first per row."""
    coo = matrix.tocoo()
    rows = coo.row.astype(np.int64)
    cols = coo.col.astype(np.int64)
    vals = coo.data.astype(np.float64)
    keep = vals > 0
    rows, cols, vals = rows[keep], cols[keep], vals[keep]
    order = np.lexsort((cols, -vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    starts = np.searchsorted(rows, rows, side="left")
    rank = np.arange(len(rows)) - starts
    take = rank < k
    return rows[take], cols[take], vals[take]


def dense_top_k(dense: FloatArray, k: int) -> tuple[IntArray, IntArray]:
    """Per row of a dense block, the positions of its ``k`` largest positive entries, ties
    going to the lower column (the same choice as ``row_top_k``), in column order:
    (row, column)."""
    k = min(k, dense.shape[1])
    if k <= 0 or dense.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    threshold = -np.partition(-dense, k - 1, axis=1)[:, k - 1 : k]
    above = dense > threshold
    tied = dense == threshold
    room = k - above.sum(axis=1, keepdims=True)
    chosen = (above | (tied & (np.cumsum(tied, axis=1) <= room))) & (dense > 0)
    rows, cols = np.nonzero(chosen)
    return rows.astype(np.int64), cols.astype(np.int64)


def item_similarity(
    vectors: sp.csr_matrix, top: int = 50, cells: int = 20_000_000
) -> sp.csr_matrix:
    """Product × product cosine similarity of who buys them (columns of ``vectors`` made
    binary), keeping each product's ``top`` most similar others: item-kNN collaborative
    filtering. Dense by blocks of at most ``cells`` product pairs."""
    binary = vectors.copy()
    binary.data = np.ones_like(binary.data)
    items = binary.T.tocsr()
    norms = np.sqrt(np.asarray(items.multiply(items).sum(axis=1)).ravel())
    scale = sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0))
    normed = (scale @ items).tocsr()
    n = normed.shape[0]
    bought = np.flatnonzero(norms > 0)  # products nobody bought are nobody's neighbour
    normed_t = normed[bought].T.tocsc()
    parts_r: list[IntArray] = []
    parts_c: list[IntArray] = []
    parts_v: list[FloatArray] = []
    for block in _chunks(len(bought), max(16, cells // max(1, len(bought)))):
        ids = bought[block]
        dense = (normed[ids] @ normed_t).toarray()
        dense[np.arange(len(ids)), block] = 0.0  # not its own neighbour
        r, c = dense_top_k(dense, top)
        parts_r.append(ids[r])
        parts_c.append(bought[c])
        parts_v.append(dense[r, c])
    if not parts_r:
        return sp.csr_matrix((n, n))
    return sp.csr_matrix(
        (np.concatenate(parts_v), (np.concatenate(parts_r), np.concatenate(parts_c))), shape=(n, n)
    )


def candidate_scores(
    vectors: sp.csr_matrix,
    neighbours: IntArray,
    *,
    explore: int,
    rows: IntArray | None = None,
    items: sp.csr_matrix | None = None,
    columns: IntArray | None = None,
    cells: int = 20_000_000,
) -> pl.DataFrame:
    """Collaborative evidence for each customer of ``rows`` (``neighbours`` in the same
    order), at its own products and at the products it lacks that score best:

    * ``nb`` — mean vector of its nearest neighbours (TIFU-KNN's neighbour part);
    * ``nb_share`` — share of its neighbours buying the product;
    * ``ii`` — item-kNN: its own vector times the product similarities ``items``.

    Products it lacks are kept when among its ``explore`` best by ``nb`` or by ``ii``;
    ``seen`` marks its own products. Computed densely by chunks of at most ``cells`` customer ×
    product cells, so memory stays bounded. ``columns``: the products explored (default:
    those someone bought); a customer's own products outside them have zero evidence — so
    that customers added to ``vectors`` after the fit do not change each other's."""
    n = vectors.shape[0]
    rows = np.arange(n, dtype=np.int64) if rows is None else rows
    outside = None
    if columns is not None:
        mine = vectors[rows].tocoo()
        off = ~np.isin(mine.col, columns)
        outside = (rows[mine.row[off]], mine.col[off].astype(np.int64))
    columns_of = bought_columns(vectors) if columns is None else columns
    vectors = vectors[:, columns_of].tocsr()
    if items is not None:
        items = items[columns_of][:, columns_of].tocsr()
    binary = vectors.copy()
    binary.data = np.ones_like(binary.data)
    chunk = max(16, min(4096, cells // max(1, len(columns_of))))
    explore = min(explore, len(columns_of))
    parts: list[pl.DataFrame] = []
    for block in _chunks(len(rows), chunk):
        ids = rows[block]
        weights = neighbour_matrix(neighbours[block], n)
        scores = {
            "nb": np.asarray((weights @ vectors).todense()),
            "nb_share": np.asarray((weights @ binary).todense()),
        }
        if items is not None:
            scores["ii"] = np.asarray((vectors[ids] @ items).todense())
        own = binary[ids].tocoo()
        own_rows = own.row.astype(np.int64)
        own_cols = own.col.astype(np.int64)
        picked = [(own_rows, own_cols, True)]
        if explore > 0:
            for key in ("nb", "ii") if items is not None else ("nb",):
                masked = scores[key].copy()
                masked[own_rows, own_cols] = -1.0
                top = np.argpartition(-masked, explore - 1, axis=1)[:, :explore]
                local = np.repeat(np.arange(len(ids)), explore)
                cols = top.ravel()
                keep = masked[local, cols] > 0
                picked.append((local[keep], cols[keep].astype(np.int64), False))
        for local_rows, cols, seen in picked:
            frame = {"c": ids[local_rows], "p": columns_of[cols]}
            frame.update({k: v[local_rows, cols] for k, v in scores.items()})
            parts.append(pl.DataFrame(frame).with_columns(pl.lit(seen).alias("seen")))
    schema = {"c": pl.UInt32, "p": pl.UInt32, "nb": pl.Float64, "nb_share": pl.Float64}
    if items is not None:
        schema["ii"] = pl.Float64
    if outside is not None and len(outside[0]):
        zeros = {name: np.zeros(len(outside[0])) for name in schema if name not in ("c", "p")}
        parts.append(
            pl.DataFrame({"c": outside[0], "p": outside[1], **zeros}).with_columns(
                pl.lit(True).alias("seen")
            )
        )
    if not parts:
        return pl.DataFrame(schema={**schema, "seen": pl.Boolean})
    return (
        pl.concat(parts)
        .unique(["c", "p"], keep="first", maintain_order=True)
        .with_columns(pl.col("c").cast(pl.UInt32), pl.col("p").cast(pl.UInt32))
    )


def pair_scores(
    vectors: sp.csr_matrix,
    neighbours: IntArray,
    rows: IntArray,
    pairs: pl.DataFrame,
    *,
    items: sp.csr_matrix | None = None,
    cells: int = 20_000_000,
) -> pl.DataFrame:
    """``candidate_scores``' evidence (``nb``, ``nb_share``, ``ii``) at given ``c, p`` pairs;
    ``neighbours`` holds the neighbour rows of the customers ``rows`` in the same order
    (pairs of other customers get zeros). ``seen`` is false: these are products the customer
    lacks. Dense by chunks of at most ``cells`` customer x product cells."""
    n, n_products = vectors.shape
    position = np.full(n, -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    c = pairs["c"].to_numpy().astype(np.int64)
    out = {name: np.zeros(len(c)) for name in ("nb", "nb_share", "ii")}
    # products nobody bought have no evidence (zeros): the dense blocks skip their columns
    columns_of = bought_columns(vectors)
    compact = np.full(n_products, -1, dtype=np.int64)
    compact[columns_of] = np.arange(len(columns_of))
    p = compact[pairs["p"].to_numpy().astype(np.int64)]
    vectors = vectors[:, columns_of].tocsr()
    if items is not None:
        items = items[columns_of][:, columns_of].tocsr()
    binary = vectors.copy()
    binary.data = np.ones_like(binary.data)
    wanted = np.unique(c[(position[c] >= 0) & (p >= 0)])
    chunk = max(16, min(4096, cells // max(1, len(columns_of))))
    for block in _chunks(len(wanted), chunk):
        ids = wanted[block]
        local = np.full(n, -1, dtype=np.int64)
        local[ids] = np.arange(len(ids))
        hit = np.flatnonzero((local[c] >= 0) & (p >= 0))
        r, col = local[c[hit]], p[hit]
        weights = neighbour_matrix(neighbours[position[ids]], n)
        out["nb"][hit] = np.asarray((weights @ vectors).todense())[r, col]
        out["nb_share"][hit] = np.asarray((weights @ binary).todense())[r, col]
        if items is not None:
            out["ii"][hit] = np.asarray((vectors[ids] @ items).todense())[r, col]
    return pairs.select(pl.col("c").cast(pl.UInt32), pl.col("p").cast(pl.UInt32)).with_columns(
        *(pl.Series(name, values, dtype=pl.Float64) for name, values in out.items()),
        pl.lit(0.0).alias("u"),
        pl.lit(False).alias("seen"),
    )


def tifu_top_k(
    vectors: sp.csr_matrix,
    neighbours: IntArray,
    rows: IntArray,
    *,
    alpha: float,
    top: int,
    k: int | None = None,
    cells: int = 20_000_000,
) -> pl.DataFrame:
    """TIFU-KNN's ranking: the ``top`` products by alpha × own + (1 − alpha) × neighbours, for
    the customers ``rows`` (``neighbours`` holds their neighbour rows in the same order):
    ``c, p, score, rank`` (rank 1 = best; ties to the lower product code). Scores are dense by
    chunks of at most ``cells`` customer × product cells, over the products someone bought."""
    n = vectors.shape[0]
    columns_of = bought_columns(vectors)
    compact = vectors[:, columns_of].tocsr()
    chunk = max(16, min(4096, cells // max(1, len(columns_of))))
    parts: list[pl.DataFrame] = []
    for block in _chunks(len(rows), chunk):
        ids = rows[block]
        mean = neighbour_matrix(neighbours[block], n, k) @ compact
        score = (alpha * compact[ids] + (1.0 - alpha) * mean).toarray()
        r, col = dense_top_k(score, top)
        val = score[r, col]
        order = np.lexsort((col, -val, r))  # per customer: best first, ties to the lower code
        r, col, val = r[order], col[order], val[order]
        parts.append(pl.DataFrame({"c": ids[r], "p": columns_of[col], "score": val}))
    frame = (
        pl.concat(parts)
        if parts
        else pl.DataFrame(schema={"c": pl.Int64, "p": pl.Int64, "score": pl.Float64})
    )
    return frame.with_columns(
        pl.col("c").cast(pl.UInt32),
        pl.col("p").cast(pl.UInt32),
        pl.int_range(1, pl.len() + 1).over("c").cast(pl.UInt32).alias("rank"),
    )
