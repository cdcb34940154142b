"""A small request's shortcuts give what the general steps give."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from salescope.orders.boosting import matrix
from salescope.orders.novelties import Context
from salescope.orders.requests import (
    attach_objectives,
    attach_segment,
    coded_targets,
    known_targets,
    same_targets,
)

DAY = dt.date(2024, 7, 1)


def _frame(customers: list[int]) -> pl.DataFrame:
    return pl.DataFrame(
        {"c": customers, "t": [DAY] * len(customers), "p": list(range(len(customers)))},
        schema={"c": pl.UInt32, "t": pl.Date, "p": pl.UInt32},
    )


def test_objectives_and_segments_are_those_a_join_attaches() -> None:
    """Without objective pairs their columns come as nulls of their types; with some, the
    join; a segment looked up by code is the joined one, and a frame whose codes are not
    the context's row numbers is joined."""
    frame = _frame([2, 0, 2, 1])
    wanted = pl.DataFrame(
        {"c": [2], "t": [DAY], "p": [2], "weight": [1.5], "objective_scope": ["bars"]},
        schema_overrides={"c": pl.UInt32, "p": pl.UInt32},
    )
    for pairs in (wanted, wanted.clear()):
        joined = frame.join(pairs, on=["c", "t", "p"], how="left")
        assert attach_objectives(frame, pairs).equals(joined)
    customers = pl.DataFrame(
        {"c": [0, 1, 2], "segment": ["bar", "shop", "bar"]}, schema_overrides={"c": pl.UInt32}
    )
    ctx = Context(customers, pl.DataFrame(), None)
    joined = frame.join(customers, on="c", how="left")
    assert attach_segment(frame, ctx).equals(joined)
    shuffled = Context(customers.reverse(), pl.DataFrame(), None)
    assert attach_segment(frame, shuffled).equals(joined)
    unknown = _frame([5, 1])
    assert attach_segment(unknown, ctx).equals(unknown.join(customers, on="c", how="left"))


def test_same_targets_only_for_the_rows_of_one_target() -> None:
    """A group of one target keeps every scored row of it; rows of another customer or date,
    or a group of several targets, are left to the semi-join."""
    group = _frame([3]).select("c", "t")
    assert same_targets(_frame([3, 3, 3]), group)
    assert not same_targets(_frame([3, 4]), group)
    assert not same_targets(_frame([3]).with_columns(pl.lit(DAY.replace(day=2)).alias("t")), group)
    assert not same_targets(_frame([3]), _frame([3, 4]).select("c", "t"))
    assert not same_targets(_frame([]), group)


def test_one_target_is_coded_as_the_join_codes_it_by_the_kept_dictionary() -> None:
    """One target's code comes from a dictionary kept while the codes frame is the same: the
    join's row, null for an unknown customer; other codes make a new dictionary."""
    customers = pl.DataFrame(
        {"customer_id": ["a", "b"], "c": [0, 1]}, schema_overrides={"c": pl.UInt32}
    )
    kept: dict[str, object] = {}
    for who in ("b", "z", "a"):
        targets = pl.DataFrame({"customer_id": [who], "order_date": [DAY]})
        joined = targets.select(
            pl.col("customer_id").alias("_target_id"), pl.col("order_date").alias("t")
        ).join(customers.rename({"customer_id": "_target_id"}), on="_target_id", how="left")
        coded = coded_targets(targets, customers, kept)
        assert coded.equals(joined)
        assert known_targets(coded).equals(
            joined.filter(pl.col("c").is_not_null()).select("c", "t")
        )
    first = kept["_customer_codes"]
    renamed = customers.with_columns(pl.Series("customer_id", ["z", "b"]))
    targets = pl.DataFrame({"customer_id": ["z"], "order_date": [DAY]})
    assert coded_targets(targets, renamed, kept).item(0, "c") == 0
    assert kept["_customer_codes"] is not first


def test_feature_matrix_is_the_cast_selection() -> None:
    """``boosting.matrix`` copies the named columns as float64, nulls as NaN, in the order
    named: the array the casting selection gives."""
    frame = pl.DataFrame(
        {
            "a": [1, None, 3],
            "b": [0.5, 1.5, None],
            "c": [True, False, None],
            "d": pl.Series([1, 2, 3], dtype=pl.UInt32),
        }
    )
    names = ["d", "b", "a", "c"]
    got = matrix(frame, names)
    want = frame.select(pl.col(n).cast(pl.Float64) for n in names).to_numpy()
    assert got.shape == (3, 4) and got.dtype == np.float64
    assert np.array_equal(got, want, equal_nan=True)
    assert matrix(frame.clear(), names).shape == (0, 4)


@pytest.mark.parametrize("seed", range(8))
def test_scored_columns_with_numpy_equal_the_expressions(seed: int) -> None:
    """The rounded quantities and the lapsed flags computed with NumPy equal the expressions'
    (``quantities.rounded``; ``NextOrderModel._scored``'s lapse): nulls, packs of 0 and 1,
    halves (rounded to even), NaN (left to the expressions)."""
    from salescope.orders.quantities import rounded
    from salescope.orders.requests import lapsed_values, rounded_values

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))

    def values(choices: list[float | None]) -> pl.Series:
        picked = [choices[i] for i in rng.integers(0, len(choices), n)]
        return pl.Series([None if v is None else float(v) for v in picked], dtype=pl.Float64)

    frame = pl.DataFrame(
        {
            "pack": values([None, 0.0, 1.0, 6.0, 12.0, 2.5]),
            "pack_share_cp": values([None, 0.0, 0.8, 0.79, 1.0]),
            "int_share_cp": values([None, 0.5, 0.8, 1.0]),
            "days_since_c": values([None, 0.0, 30.0, 200.0, 400.0]),
            "c_gap": values([None, 5.0, 40.0, 100.0]),
        }
    )
    if seed == 7:
        frame = frame.with_columns(pl.lit(float("nan")).alias("c_gap"))
    q = rng.choice([0.0, 0.4, 0.5, 1.5, 2.5, 3.0, 6.0, 7.5, 17.9, 100.2], n)
    with_q = frame.with_columns(pl.Series("_q", q))
    expected = with_q.select(rounded(pl.col("_q")))["_q"].to_numpy()
    np.testing.assert_array_equal(rounded_values(frame, q), expected)
    threshold = pl.max_horizontal(pl.coalesce(pl.col("c_gap"), pl.lit(90.0)) * 2.0, pl.lit(60.0))
    lapsed = frame.select((pl.col("days_since_c") > threshold).fill_null(False))
    got = lapsed_values(frame, 2.0, 60)
    if seed == 7:
        assert got is None
    else:
        assert got is not None
        assert got.tolist() == lapsed.to_series().to_list()
