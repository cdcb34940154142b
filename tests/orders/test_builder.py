"""Building the lines: the expected-F1 cut of a proposal and the candidates' filler."""

from __future__ import annotations

import datetime as dt
import itertools

import polars as pl
import pytest

from salescope.orders.builder import _expected_f1_cut, fill_candidates
from salescope.orders.model import NextOrderModel

DAY = dt.date(2024, 6, 1)


def _expected_f1(probabilities: list[float], chosen: set[int]) -> float:
    """Expected F1 of proposing ``chosen`` when each product is ordered independently with
    its probability (the approximation the cut uses: E[2|S∩O|] / (|S| + E[|O|]))."""
    hits = sum(probabilities[i] for i in chosen)
    return 2.0 * hits / (len(chosen) + sum(probabilities))


@pytest.mark.parametrize(
    "probabilities",
    [[0.9, 0.8, 0.1, 0.05], [0.5, 0.5, 0.5, 0.5], [0.95, 0.2, 0.2, 0.2, 0.2, 0.2], [0.3]],
)
def test_expected_f1_cut_keeps_the_best_subset(probabilities: list[float]) -> None:
    """The cut keeps the most likely products, as many as maximise the expected F1: no other
    subset of the candidates does better."""
    frame = pl.DataFrame({"c": [0] * len(probabilities), "p": range(len(probabilities))})
    frame = frame.with_columns(pl.Series("probability", probabilities))
    kept = set(_expected_f1_cut(frame, ["c"])["p"].to_list())
    best = max(
        _expected_f1(probabilities, set(s))
        for n in range(1, len(probabilities) + 1)
        for s in itertools.combinations(range(len(probabilities)), n)
    )
    assert _expected_f1(probabilities, kept) == pytest.approx(best)


def test_the_cut_is_per_proposal() -> None:
    """Each customer's proposal is cut on its own probabilities."""
    frame = pl.DataFrame(
        {
            "c": [0, 0, 0, 1, 1, 1],
            "p": [0, 1, 2, 0, 1, 2],
            "probability": [0.9, 0.1, 0.1, 0.6, 0.6, 0.6],
        }
    )
    kept = _expected_f1_cut(frame, ["c"])
    assert kept.filter(pl.col("c") == 0)["p"].to_list() == [0]
    assert sorted(kept.filter(pl.col("c") == 1)["p"].to_list()) == [0, 1, 2]


def test_equal_probabilities_are_ordered_by_score_then_product_whatever_the_row_order() -> None:
    """Calibrated probabilities tie (an isotonic step, a cap down the list), and a lapsed
    customer keeps only the first lines of its cut: the lines kept and their order follow the
    model's score, then the product, not the order the rows came in (which differs between a
    bucket of customers on Spark and all of them in one call: a 25 M-line run kept another
    third line for one store)."""
    frame = pl.DataFrame(
        {
            "c": [0, 0, 0, 0],
            "p": [9, 4, 7, 1],
            "probability": [0.6, 0.6, 0.6, 0.9],
            "_src": [0, 0, 0, 0],
            "score": [0.2, 0.5, 0.5, 0.9],
        }
    )
    ties = (("_src", False), ("score", True), ("p", False))
    for order in itertools.permutations(range(4)):
        kept = _expected_f1_cut(frame[list(order)], ["c"], ties=ties)
        assert kept["p"].to_list() == [1, 4, 7, 9]


def test_filler_completes_each_target_with_popular_products_it_lacks() -> None:
    """Targets get the popular products they have no candidate for, never twice, and an
    unknown customer (no code) gets the popular products alone, each saying why."""
    scored = pl.DataFrame(
        {
            "c": [0],
            "t": [DAY],
            "p": [7],
            "probability": [0.5],
            "seen": pl.Series([1], dtype=pl.Int8),
        }
    )
    targets = pl.DataFrame({"c": [0, None], "t": [DAY, DAY]}, schema={"c": pl.Int64, "t": pl.Date})
    popular = pl.DataFrame({"p": [7, 8, 9], "probability": [0.3, 0.2, 0.1], "quantity": [1.0] * 3})
    filled = fill_candidates(scored, targets, popular, 3)
    known = filled.filter(pl.col("_key") == 0)
    unknown = filled.filter(pl.col("_key") == 1)
    assert sorted(known["p"].to_list()) == [7, 8, 9]
    assert sorted(unknown["p"].to_list()) == [7, 8, 9]
    fillers = filled.filter(pl.col("_src") == 1)
    assert fillers["reason"].str.starts_with("among the most ordered products").all()


def test_one_target_filled_equals_the_query(demo_model: NextOrderModel) -> None:
    """One known target's candidates and fillers put together without a query are the
    query's rows and columns (in another row order): with candidates, without any, with
    fillers among the candidates, at several lengths."""
    from salescope.orders.builder import _one_target_filled, fill_candidates_query
    from salescope.orders.served import offered

    model = demo_model
    popular = offered(model)[1]
    ids = model.codes_.customers["customer_id"].to_list()
    taken = 0
    for customer in ids[:: max(1, len(ids) // 10)]:
        targets = pl.DataFrame({"customer_id": [customer], "order_date": [model.cutoff_]})
        ready = model.prepare(targets)
        for scored in (ready.scored, ready.scored.clear(), ready.scored.head(3)):
            for top in (1, 10, 30):
                fast = _one_target_filled(scored, ready.coded, popular, top)
                query = fill_candidates_query(scored, ready.coded, popular, top)
                assert fast is not None
                taken += 1
                assert fast.schema == query.schema
                assert fast.sort("_src", "p").equals(query.sort("_src", "p"))
    assert taken
