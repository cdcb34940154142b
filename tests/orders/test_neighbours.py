"""TIFU-KNN customer vectors, nearest customers, similar products and top-k helpers."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from salescope.orders.history import order_table
from salescope.orders.neighbours import (
    Metric,
    TifuParams,
    dense_top_k,
    item_similarity,
    nearest_neighbours,
    neighbour_matrix,
    placed_lines,
    row_top_k,
    tifu_top_k,
    tifu_vectors,
    tifu_weights,
    to_csr,
    vectors_of,
)

DAY = dt.date(2024, 1, 1)


def _lines(*orders: tuple[int, int, list[int]]) -> pl.DataFrame:
    """Lines ``c, o, d, p, q`` of orders given as (customer, order number, products); order
    number n is placed n weeks after DAY."""
    rows = [
        (c, o, DAY + dt.timedelta(days=7 * o), p, 1.0)
        for c, o, products in orders
        for p in products
    ]
    return pl.DataFrame(
        rows,
        schema={"c": pl.UInt32, "o": pl.UInt32, "d": pl.Date, "p": pl.UInt32, "q": pl.Float64},
        orient="row",
    )


def test_tifu_weights_decay_within_and_across_groups() -> None:
    """With groups of 2, within-decay 0.5 and group-decay 0.25 over 4 orders, the most recent
    order weighs 1/2 × 1/2, the one before 0.5/2 × 1/2, the older group a quarter of that."""
    lines = _lines((0, 0, [0]), (0, 1, [0]), (0, 2, [0]), (0, 3, [0]))
    params = TifuParams(group_size=2, within_decay=0.5, group_decay=0.25)
    weights = tifu_weights(order_table(lines), params).sort("o")["w"].to_list()
    expected = [0.5 / 2 * 0.25 / 2, 1 / 2 * 0.25 / 2, 0.5 / 2 / 2, 1 / 2 / 2]
    assert weights == pytest.approx(expected)


def test_a_product_in_every_order_weighs_more_than_one_in_the_oldest_only() -> None:
    """A customer's vector puts more weight on a product bought in every order than on one
    bought only long ago."""
    lines = _lines((0, 0, [0, 1]), (0, 1, [0]), (0, 2, [0]), (0, 3, [0]))
    vectors = tifu_vectors(lines, order_table(lines), TifuParams(group_size=2))
    u = dict(zip(vectors["p"].to_list(), vectors["u"].to_list(), strict=True))
    assert u[0] > u[1] > 0


def test_nearest_neighbours_find_the_customer_with_the_same_basket() -> None:
    """Customers with identical baskets are each other's nearest neighbour; a customer without
    products has none and is nobody's neighbour."""
    dense = np.array(
        [[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.9]]
    )
    vectors = sp.csr_matrix(np.vstack([dense, np.zeros((1, 4))]))
    for metric in ("cosine", "euclidean"):
        nn = nearest_neighbours(vectors, 2, metric=metric)  # type: ignore[arg-type]
        assert nn[:4, 0].tolist() == [1, 0, 3, 2]
        assert nn[4].tolist() == [-1, -1]
        assert 4 not in nn[:4]


def test_neighbour_matrix_averages_the_valid_neighbours() -> None:
    """Each row of the neighbour matrix spreads weight 1 evenly over its valid neighbours."""
    nn = np.array([[1, 2], [0, -1], [-1, -1]])
    matrix = neighbour_matrix(nn, 3).toarray()
    np.testing.assert_allclose(matrix, [[0, 0.5, 0.5], [1, 0, 0], [0, 0, 0]])


def test_item_similarity_links_products_bought_by_the_same_customers() -> None:
    """Two products always bought together are each other's most similar product; a product
    is never its own neighbour."""
    vectors = to_csr(
        pl.DataFrame({"c": [0, 0, 1, 1, 2], "p": [0, 1, 0, 1, 2], "u": [1.0] * 5}),
        "u",
        (3, 3),
    )
    similar = item_similarity(vectors, top=1).toarray()
    assert similar[0].argmax() == 1 and similar[1].argmax() == 0
    assert np.all(np.diag(similar) == 0)
    assert similar[2].sum() == 0


def test_top_k_helpers_agree_and_break_ties_to_the_lower_column() -> None:
    """``row_top_k`` (sparse) and ``dense_top_k`` choose the same entries: the k largest
    positive ones, ties to the lower column."""
    dense = np.array([[0.5, 0.9, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0], [0.3, 0.3, 0.3, 0.1]])
    r1, c1, _ = row_top_k(sp.csr_matrix(dense), 2)
    r2, c2 = dense_top_k(dense, 2)
    assert sorted(zip(r1.tolist(), c1.tolist(), strict=True)) == sorted(
        zip(r2.tolist(), c2.tolist(), strict=True)
    )
    assert sorted(zip(r2.tolist(), c2.tolist(), strict=True)) == [(0, 0), (0, 1), (2, 0), (2, 1)]


def _reference_top_k(
    vectors: sp.csr_matrix, neighbours: np.ndarray, rows: np.ndarray, alpha: float, top: int
) -> list[tuple[int, int]]:
    """TIFU-KNN's top products computed sparsely, row by row (``row_top_k``)."""
    mean = neighbour_matrix(neighbours, vectors.shape[0]) @ vectors
    score = (alpha * vectors[rows] + (1.0 - alpha) * mean).tocsr()
    r, c, _ = row_top_k(score, top)
    return [(int(rows[i]), int(j)) for i, j in zip(r, c, strict=True)]


def test_tifu_top_k_by_dense_chunks_ranks_as_the_sparse_reference() -> None:
    """Scores made dense by small chunks over the products someone bought rank the same
    products in the same order as the sparse computation, ties to the lower product, for
    any chunk size (here chunks of one customer up to all of them)."""
    rng = np.random.default_rng(3)
    dense = np.round(rng.random((40, 25)) * 3) / 3 * (rng.random((40, 25)) < 0.3)
    dense[:, 7] = 0.0  # a product nobody bought
    vectors = sp.csr_matrix(dense)
    neighbours = nearest_neighbours(vectors, 5)
    rows = np.arange(0, 40, 2, dtype=np.int64)
    expected = _reference_top_k(vectors, neighbours[rows], rows, 0.6, 6)
    for cells in (1, 100, 10_000):
        ranked = tifu_top_k(vectors, neighbours[rows], rows, alpha=0.6, top=6, cells=cells)
        got = list(zip(ranked["c"].to_list(), ranked["p"].to_list(), strict=True))
        assert got == expected
        assert (ranked.group_by("c").agg(pl.col("rank").min())["rank"] == 1).all()


def test_vectors_of_placed_lines_are_the_tifu_vectors() -> None:
    """Vectors built from lines placed once (``placed_lines``, shared by the tuning's grid)
    equal ``tifu_vectors`` for every parameter set, to the last bit."""
    lines = _lines((0, 0, [1, 2]), (0, 1, [1]), (0, 2, [2, 3]), (1, 0, [3]), (1, 3, [1, 3]))
    orders = order_table(lines)
    placed = placed_lines(lines, orders)
    for params in (TifuParams(), TifuParams(group_size=2, within_decay=0.5, group_decay=0.3)):
        assert vectors_of(placed, params).equals(tifu_vectors(lines, orders, params))


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_dense_and_sparse_neighbours_agree_even_on_ties(metric: str) -> None:
    """Neighbours from dense BLAS products and from sparse products (summed in another
    order), for all customers or for some, are the same, ties included (customers with equal
    baskets, rounded weights)."""
    rng = np.random.default_rng(4)
    dense = np.round(rng.random((200, 60)) * 3) * (rng.random((200, 60)) < 0.2)
    dense[5] = 0.0  # no products: no neighbours, nobody's neighbour
    dense[7] = dense[9]
    vectors = sp.csr_matrix(dense)
    rows = np.arange(0, 200, 7, dtype=np.int64)
    sparse = nearest_neighbours(vectors, 8, metric=metric, dense_cells=0)  # type: ignore[arg-type]
    assert np.array_equal(sparse, nearest_neighbours(vectors, 8, metric=metric))  # type: ignore[arg-type]
    some = nearest_neighbours(vectors, 8, metric=metric, rows=rows)  # type: ignore[arg-type]
    assert np.array_equal(sparse[rows], some)
    assert (sparse[5] == -1).all() and not (sparse == 5).any()


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("dense_cells", [0, 40_000_000])
def test_neighbours_of_queries_are_searched_among_the_fitted_rows(
    metric: Metric, dense_cells: int
) -> None:
    """A customer's vector given as a query, naming its own row, finds the neighbours its row
    finds (densely or not); a query naming no row (a customer added after the fit) may have
    any row as a neighbour, and only rows: the queries are nobody's neighbours."""
    rng = np.random.default_rng(3)
    dense = (rng.random((40, 30)) < 0.2) * rng.random((40, 30))
    dense[5] = 0.0  # a customer without products
    vectors = sp.csr_matrix(dense)
    rows = np.array([0, 5, 7, 39], dtype=np.int64)

    def search(at: np.ndarray, queries: sp.csr_matrix | None) -> np.ndarray:
        return nearest_neighbours(
            vectors, 6, metric=metric, rows=at, queries=queries, dense_cells=dense_cells
        )

    asked = search(rows, vectors[rows])
    np.testing.assert_array_equal(asked, search(rows, None))
    assert (asked[1] == -1).all()
    extra = sp.csr_matrix(np.vstack([dense[7], rng.random(30) * (rng.random(30) < 0.3)]))
    new = search(np.array([-1, -1], dtype=np.int64), extra)
    assert new[0][0] == 7  # its twin among the rows
    assert ((new >= 0) & (new < 40)).all()
