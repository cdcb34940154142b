"""Order history preparation, TIFU vectors, neighbours and next-basket metrics."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from salescope.orders.features import (
    build_candidates,
    own_history,
    pair_history,
    product_stats,
)
from salescope.orders.history import encode, next_orders_after, order_table
from salescope.orders.metrics import proposal_metrics, quantity_metrics, ranking_metrics
from salescope.orders.neighbours import (
    TifuParams,
    candidate_scores,
    item_similarity,
    nearest_neighbours,
    pair_scores,
    tifu_top_k,
    tifu_vectors,
    to_csr,
)

D = dt.date


def orders_frame(rows: list[tuple[str, str, dt.date, str, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema=["customer_id", "order_id", "order_date", "product_id", "quantity"],
        orient="row",
    )


def test_encode_sums_repeated_lines_and_codes_ids() -> None:
    """Two lines of one product in one order become one line with the summed quantity."""
    orders = orders_frame(
        [
            ("b", "o1", D(2024, 1, 1), "x", 1.0),
            ("b", "o1", D(2024, 1, 1), "x", 2.0),
            ("a", "o2", D(2024, 1, 2), "y", 5.0),
        ]
    )
    products = pl.DataFrame({"product_id": ["z"]})
    lines, codes = encode(orders, products)
    assert lines.height == 2
    assert codes.customers["customer_id"].to_list() == ["a", "b"]
    assert codes.products["product_id"].to_list() == ["x", "y", "z"]  # never-ordered z last
    b = lines.filter(pl.col("c") == 1)
    assert b["q"].to_list() == [3.0]


def test_encode_makes_one_basket_of_a_customers_orders_of_one_day() -> None:
    """Invoices a customer placed on one date are one order (quantities of a product summed
    across them); another date, or another customer the same date, is another order."""
    orders = orders_frame(
        [
            ("a", "i1", D(2024, 1, 1), "x", 1.0),
            ("a", "i2", D(2024, 1, 1), "x", 2.0),
            ("a", "i2", D(2024, 1, 1), "y", 1.0),
            ("a", "i3", D(2024, 1, 8), "x", 1.0),
            ("b", "i4", D(2024, 1, 1), "x", 4.0),
        ]
    )
    lines, _ = encode(orders)
    a = lines.filter(pl.col("c") == 0)
    assert a["o"].n_unique() == 2
    first_day = a.filter(pl.col("d") == D(2024, 1, 1))
    assert first_day["o"].n_unique() == 1
    assert dict(zip(first_day["p"], first_day["q"], strict=True)) == {0: 3.0, 1: 1.0}
    assert lines["o"].n_unique() == 3
    assert order_table(lines)["n"].to_list() == [2, 1, 1]


def test_order_table_numbers_orders_both_ways() -> None:
    """k counts a customer's orders from the first, e from the last."""
    lines = pl.DataFrame(
        {
            "c": [0, 0, 0, 1],
            "o": [0, 1, 2, 3],
            "d": [D(2024, 1, 1), D(2024, 1, 8), D(2024, 1, 15), D(2024, 1, 3)],
            "p": [0, 0, 1, 0],
            "q": [1.0] * 4,
        },
        schema_overrides={"c": pl.UInt32, "o": pl.UInt32, "p": pl.UInt32},
    )
    table = order_table(lines).sort("o")
    assert table["k"].to_list() == [0, 1, 2, 0]
    assert table["e"].to_list() == [2, 1, 0, 0]
    nxt = next_orders_after(lines, D(2024, 1, 5))
    assert sorted(nxt["o"].to_list()) == [1]


def test_tifu_vector_follows_the_paper() -> None:
    """Three orders, groups of two from the most recent: weights match the hand computation."""
    lines = pl.DataFrame(
        {"c": [0, 0, 0], "o": [0, 1, 2], "d": [D(2024, 1, i) for i in (1, 2, 3)], "p": [0, 0, 1]},
        schema_overrides={"c": pl.UInt32, "o": pl.UInt32, "p": pl.UInt32},
    ).with_columns(pl.lit(1.0).alias("q"))
    params = TifuParams(group_size=2, within_decay=0.5, group_decay=0.25)
    vectors = tifu_vectors(lines, order_table(lines), params).sort("p")
    # groups (from the end): {o2, o1} then {o0}; G = 2
    # o2: 0.5**0 / 2 * 0.25**0 / 2 = 0.25; o1: 0.5 / 2 / 2 = 0.125; o0: 1 / 1 * 0.25 / 2 = 0.125
    assert vectors["u"].to_list() == pytest.approx([0.125 + 0.125, 0.25])


def test_nearest_neighbours_match_brute_force() -> None:
    """Cosine neighbours are the most similar other customers, best first."""
    rng = np.random.default_rng(0)
    dense = (rng.random((30, 12)) < 0.3) * rng.random((30, 12))
    frame = pl.DataFrame(
        [(i, j, dense[i, j]) for i in range(30) for j in range(12) if dense[i, j] > 0],
        schema=["c", "p", "u"],
        orient="row",
    )
    matrix = to_csr(frame, "u", (30, 12))
    found = nearest_neighbours(matrix, 3, cells=7 * 30)
    norms = np.linalg.norm(dense, axis=1)
    sims = dense @ dense.T / np.outer(np.maximum(norms, 1e-12), np.maximum(norms, 1e-12))
    np.fill_diagonal(sims, -np.inf)
    sims[:, norms == 0] = -np.inf
    for i in range(30):
        if norms[i] == 0:
            continue
        expected = np.sort(sims[i])[::-1][:3]
        assert sims[i, found[i]] == pytest.approx(expected)


def test_item_similarity_keeps_each_products_top_k_with_ties_to_the_lower_code() -> None:
    """Item-kNN: cosine of who buys each product, the ``top`` best others per product (never
    itself, never a zero), ties at the cut going to the lower product code; blocks of any size
    give the same matrix."""
    rng = np.random.default_rng(1)
    bought = (rng.random((40, 15)) < 0.3).astype(float)
    bought[:, 7] = bought[:, 3]  # products 3 and 7 are bought by the same customers: ties
    bought[:, 11] = 0.0  # nobody buys product 11
    frame = pl.DataFrame(
        [(i, j, 0.5) for i in range(40) for j in range(15) if bought[i, j] > 0],
        schema=["c", "p", "u"],
        orient="row",
    )
    matrix = to_csr(frame, "u", (40, 15))
    norms = np.linalg.norm(bought, axis=0)
    sims = bought.T @ bought / np.outer(np.maximum(norms, 1e-12), np.maximum(norms, 1e-12))
    np.fill_diagonal(sims, 0.0)
    for cells in (15, 20_000_000):
        found = item_similarity(matrix, top=4, cells=cells).toarray()
        for j in range(15):
            order = sorted(range(15), key=lambda col: (-round(sims[j, col], 12), col))
            expected = [col for col in order[:4] if sims[j, col] > 0]
            assert sorted(np.flatnonzero(found[j])) == sorted(expected)
            assert found[j, expected] == pytest.approx(sims[j, expected])
    assert not found[11].any() and not found[:, 11].any()


def test_collaborative_evidence_by_hand_on_a_catalogue_mostly_never_bought() -> None:
    """``candidate_scores`` and ``pair_scores`` on a wide catalogue (most products never
    bought, as in a 70,000-product catalogue): the neighbours' mean vector, their share buying
    and item-kNN equal the dense computation by hand; products nobody bought are never
    candidates and score zero as pairs; chunk size changes nothing."""
    rng = np.random.default_rng(3)
    n, width = 30, 200
    sold = np.sort(rng.choice(width, 12, replace=False))
    dense = np.zeros((n, width))
    dense[:, sold] = (rng.random((n, 12)) < 0.35) * rng.random((n, 12))
    frame = pl.DataFrame(
        [(i, j, float(dense[i, j])) for i in range(n) for j in range(width) if dense[i, j] > 0],
        schema=["c", "p", "u"],
        orient="row",
    )
    vectors = to_csr(frame, "u", (n, width))
    items = item_similarity(vectors, top=5)
    neighbours = nearest_neighbours(vectors, 4)
    others = [neighbours[i][neighbours[i] >= 0] for i in range(n)]
    zero = np.zeros(width)
    nb = np.stack([dense[o].mean(axis=0) if len(o) else zero for o in others])
    share = np.stack([(dense[o] > 0).mean(axis=0) if len(o) else zero for o in others])
    ii = dense @ items.toarray()
    for cells in (50, 20_000_000):
        found = candidate_scores(vectors, neighbours, explore=3, items=items, cells=cells)
        assert set(found["p"].to_list()) <= set(sold.tolist())
        c, p = found["c"].to_numpy(), found["p"].to_numpy()
        assert found["nb"].to_numpy() == pytest.approx(nb[c, p])
        assert found["nb_share"].to_numpy() == pytest.approx(share[c, p])
        assert found["ii"].to_numpy() == pytest.approx(ii[c, p])
        assert (found["seen"].to_numpy() == (dense[c, p] > 0)).all()
        never = np.setdiff1d(np.arange(width), sold)[:5]
        pairs = pl.DataFrame(
            {"c": np.repeat(np.arange(n), 8), "p": np.tile(np.r_[sold[:3], never], n)}
        )
        scored = pair_scores(vectors, neighbours, np.arange(n), pairs, items=items, cells=cells)
        c, p = scored["c"].to_numpy().astype(int), scored["p"].to_numpy().astype(int)
        assert scored["nb"].to_numpy() == pytest.approx(nb[c, p])
        assert scored["nb_share"].to_numpy() == pytest.approx(share[c, p])
        assert scored["ii"].to_numpy() == pytest.approx(ii[c, p])
        assert (scored.filter(pl.col("p").is_in(never.tolist()))["nb_share"] == 0).all()


def test_pair_history_rhythm_and_quantities_by_hand() -> None:
    """One pair bought six times: gaps, recent gaps (last four), steps in orders, last and
    median quantities, trend and the share of whole and pack quantities."""
    dates = [D(2024, 1, 1), D(2024, 1, 11), D(2024, 1, 21), D(2024, 2, 10), D(2024, 3, 1)]
    dates.append(D(2024, 3, 31))
    quantities = [6.0, 12.0, 6.0, 18.0, 24.0, 28.0]
    rows = [
        ("A", f"o{i}", d, "X", q) for i, (d, q) in enumerate(zip(dates, quantities, strict=True))
    ]
    rows.append(("A", "o6", D(2024, 4, 2), "Y", 1.5))  # a later order without X
    lines, _ = encode(orders_frame(rows))
    packs = pl.DataFrame({"p": [0], "pack": [6.0]}).with_columns(pl.col("p").cast(pl.UInt32))
    pairs = pair_history(lines, order_table(lines), packs)
    x = pairs.filter(pl.col("p") == 0).row(0, named=True)
    gaps = [10.0, 10.0, 20.0, 20.0, 30.0]
    assert x["n_cp"] == 6 and x["last_cp"] == D(2024, 3, 31) and x["first_cp"] == D(2024, 1, 1)
    assert x["orders_since_cp"] == 1.0  # one order (o6) since
    assert x["gap_days_cp"] == pytest.approx(np.mean(gaps))
    assert x["gap_sd_cp"] == pytest.approx(np.std(gaps, ddof=1))
    assert x["gap_days_recent_cp"] == pytest.approx(np.mean(gaps[-4:]))
    assert x["gap_orders_cp"] == pytest.approx(1.0)
    assert (x["in_last_1"], x["in_last_3"], x["in_last_5"]) == (0, 2, 4)
    assert (x["q_last"], x["q_med3"], x["q_med5"]) == (28.0, 24.0, 18.0)
    assert x["q_mean"] == pytest.approx(np.mean(quantities))
    assert x["q_trend"] == pytest.approx(np.mean(quantities[-3:]) / np.mean(quantities))
    assert x["int_share_cp"] == 1.0 and x["pack_share_cp"] == pytest.approx(5 / 6)
    y = pairs.filter(pl.col("p") == 1).row(0, named=True)
    assert y["n_cp"] == 1 and y["gap_days_cp"] is None and y["q_med3"] == 1.5
    assert y["int_share_cp"] == 0.0 and y["pack_share_cp"] is None
    assert pairs.select("c", "p").equals(pairs.select("c", "p").sort("c", "p"))


def test_repeat_candidates_tied_on_frequency_go_by_popularity() -> None:
    """Products bought in the same orders tie on recency-weighted frequency; when only some
    fit under ``max_repeat``, the ones more shops bought lately are kept, whatever their codes."""
    rows = [("A", "a1", D(2024, 3, 1), product, 1.0) for product in ("X", "Y", "Z")]
    rows += [("B", "b1", D(2024, 3, 5), "Z", 1.0), ("B", "b1", D(2024, 3, 5), "Y", 1.0)]
    rows += [("C", "c1", D(2024, 3, 6), "Z", 1.0)]
    lines, codes = encode(orders_frame(rows))
    cutoff = D(2024, 4, 1)
    first_seen = lines.group_by("p").agg(pl.col("d").min().alias("first_d"))
    stats = product_stats(lines, cutoff, first_seen)
    neighbour = pl.DataFrame(
        schema={
            "c": pl.UInt32,
            "p": pl.UInt32,
            "nb": pl.Float64,
            "nb_share": pl.Float64,
            "u": pl.Float64,
            "seen": pl.Boolean,
        }
    )
    first_order = lines.group_by("c").agg(pl.col("d").min().alias("c_first"))
    shop_a = codes.customers.filter(pl.col("customer_id") == "A")["c"]
    targets = pl.DataFrame({"c": shop_a, "t": [cutoff]})
    name = dict(zip(codes.products["p"], codes.products["product_id"], strict=True))
    for keep, expected in ((1, {"Z"}), (2, {"Z", "Y"})):
        frame = build_candidates(lines, targets, stats, neighbour, first_order, max_repeat=keep)
        assert {name[p] for p in frame["p"]} == expected


def test_tifu_top_k_blends_own_and_neighbours() -> None:
    """A product only the neighbour bought ranks after the customer's own product."""
    frame = pl.DataFrame({"c": [0, 1, 1], "p": [0, 0, 1], "u": [1.0, 1.0, 1.0]})
    matrix = to_csr(frame, "u", (2, 3))
    neighbours = nearest_neighbours(matrix, 1)
    ranked = tifu_top_k(matrix, neighbours[[0]], np.array([0]), alpha=0.7, top=5)
    assert ranked.sort("rank")["p"].to_list() == [0, 1]


TRUTH = pl.DataFrame(
    {"c": [0, 0, 0, 1], "p": [1, 2, 3, 9], "q": [2.0, 4.0, 1.0, 5.0], "seen": [1, 1, 0, 0]}
)


def test_ranking_metrics_by_hand() -> None:
    """Recall, NDCG, PHR and repeat / explore recall on a two-customer example."""
    ranked = pl.DataFrame({"c": [0, 0, 0, 1], "p": [1, 7, 3, 8], "rank": [1, 2, 3, 1]})
    m = ranking_metrics(ranked, TRUTH, (2, 3))
    assert m["recall@2"] == pytest.approx((1 / 3 + 0) / 2)
    assert m["recall@3"] == pytest.approx((2 / 3 + 0) / 2)
    assert m["phr@3"] == pytest.approx(0.5)
    idcg = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    assert m["ndcg@3"] == pytest.approx(((1 + 1 / np.log2(4)) / idcg + 0) / 2)
    assert m["repeat_recall@3"] == pytest.approx(1 / 2)  # customer 0 only: 1 of its 2 repeats
    assert m["explore_recall@3"] == pytest.approx((1 + 0) / 2)


def test_proposal_and_quantity_metrics() -> None:
    """Precision, recall, F1 and WAPE / bias on hit lines."""
    lines = pl.DataFrame({"c": [0, 0], "p": [1, 5], "quantity": [3.0, 1.0]})
    p = proposal_metrics(lines, TRUTH)
    assert p["precision"] == pytest.approx((0.5 + 0.0) / 2)
    assert p["recall"] == pytest.approx((1 / 3) / 2)
    q = quantity_metrics(lines, TRUTH)
    assert q["wape"] == pytest.approx(1 / 2)
    assert q["bias"] == pytest.approx(1 / 2)


def test_candidates_from_a_shared_own_history_are_the_same() -> None:
    """The repeat and the extension candidates of the same targets built from one
    ``own_history`` (computed once in training) equal those built from the lines each time."""
    rows = [("A", f"a{i}", D(2024, 1, 1 + 7 * i), p, 1.0 + i) for i in range(4) for p in "XY"]
    rows += [("B", f"b{i}", D(2024, 1, 3 + 7 * i), p, 2.0) for i in range(3) for p in "YZ"]
    lines, codes = encode(orders_frame(rows))
    cutoff = D(2024, 3, 1)
    first_seen = lines.group_by("p").agg(pl.col("d").min().alias("first_d"))
    stats = product_stats(lines, cutoff, first_seen)
    vectors = tifu_vectors(lines, order_table(lines), TifuParams())
    matrix = to_csr(vectors, "u", (codes.n_customers, codes.n_products))
    neighbour = candidate_scores(matrix, nearest_neighbours(matrix, 1), explore=2).join(
        vectors, on=["c", "p"], how="left"
    )
    first_order = lines.group_by("c").agg(pl.col("d").min().alias("c_first"))
    targets = codes.customers.select("c").with_columns(pl.lit(cutoff).alias("t"))
    shared = own_history(lines, stats, first_order, TifuParams())
    for repeat in (True, False):
        args = (lines, targets, stats, neighbour, first_order)
        alone = build_candidates(*args, max_repeat=10, repeat=repeat, tifu=TifuParams())
        reused = build_candidates(
            *args, max_repeat=10, repeat=repeat, tifu=TifuParams(), own=shared
        )
        assert alone.height and reused.sort("c", "p").equals(alone.sort("c", "p"))


def test_metrics_do_not_depend_on_the_order_of_the_rows() -> None:
    """The same ranked lines and truth in any row order give the same figures to the last
    bit (a backtest scored bucket by bucket gathers them in another order)."""
    rng = np.random.default_rng(7)
    n = 400
    ranked = pl.DataFrame(
        {
            "c": np.repeat(np.arange(n // 10), 10).astype(np.int64),
            "p": rng.integers(0, 60, n),
            "rank": np.tile(np.arange(1, 11), n // 10),
            "quantity": rng.random(n) * 7,
        }
    ).unique(["c", "p"], keep="first", maintain_order=True)
    truth = pl.DataFrame(
        {
            "c": rng.integers(0, n // 10, 300),
            "p": rng.integers(0, 60, 300),
            "q": rng.random(300) * 5 + 0.1,
            "seen": rng.integers(0, 2, 300),
        }
    ).unique(["c", "p"], keep="first", maintain_order=True)
    figures = (ranking_metrics, proposal_metrics, quantity_metrics)
    expected = [f(ranked, truth) for f in figures]
    for seed in range(3):
        shuffled = ranked.sample(fraction=1.0, shuffle=True, seed=seed)
        other = truth.sample(fraction=1.0, shuffle=True, seed=seed + 10)
        assert [f(shuffled, other) for f in figures] == expected


def test_decode_looks_codes_up_as_the_join_does() -> None:
    """``Codes.decode`` gives the left join's identifiers, in the frame's order: known codes,
    unknown and null codes, codes of another type, a frame that already names identifiers,
    an empty frame."""
    from salescope.orders.history import Codes

    codes = Codes(
        pl.DataFrame({"customer_id": ["a", "b", "c"], "c": pl.Series([0, 1, 2], dtype=pl.UInt32)}),
        pl.DataFrame({"product_id": ["x", "y"], "p": pl.Series([0, 1], dtype=pl.UInt32)}),
    )
    frame = pl.DataFrame(
        {
            "c": pl.Series([2, 0, 2, 1], dtype=pl.UInt32),
            "t": [1, 2, 3, 4],
            "p": pl.Series([1, 1, 0, 0], dtype=pl.UInt32),
        }
    )

    def joined(f: pl.DataFrame) -> pl.DataFrame:
        for code, table in (("c", codes.customers), ("p", codes.products)):
            if code in f.columns:
                f = f.join(table, on=code, how="left", maintain_order="left").drop(code)
        return f

    cases = [
        frame,
        frame.with_columns(pl.Series("c", [2, 7, 0, 1], dtype=pl.UInt32)),
        frame.with_columns(pl.Series("p", [1, None, 0, 0], dtype=pl.UInt32)),
        frame.with_columns(pl.col("c").cast(pl.Int64)).drop("p"),
        frame.with_columns(pl.lit("q").alias("product_id")),
        frame.clear(),
    ]
    for case in cases:
        got = codes.decode(case)
        assert got.schema == joined(case).schema
        assert got.equals(joined(case), null_equal=True)
    assert codes.decode(frame)["customer_id"].to_list() == ["c", "a", "c", "b"]
