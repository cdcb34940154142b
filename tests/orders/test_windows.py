"""Windows without the grouping when a frame holds one group give the windows' values."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from salescope.orders.windows import one_group, per


def test_one_group_tells_a_single_key_from_several() -> None:
    """Nulls are one group, as for ``over``; an empty frame is one group; a lazy frame is
    never known to be one."""
    frame = pl.DataFrame({"c": [3, 3, 3], "t": [None, None, None], "x": [1.0, 2.0, 4.0]})
    assert one_group(frame, ["c", "t"])
    assert one_group(frame.clear(), ["c"])
    assert not one_group(frame.with_columns(pl.Series("c", [3, 4, 3])), ["c"])
    assert not one_group(frame.with_columns(pl.Series("t", [None, 1, None])), ["t"])
    assert not one_group(frame.lazy(), ["c"])


def test_per_gives_the_window_values_over_one_group() -> None:
    """Over a frame of one group, ``per`` without the grouping equals the window; over
    several groups it is the window."""
    frame = pl.DataFrame({"c": [1, 1, 1, 1], "x": [0.5, 0.25, 0.125, 1.0]})
    exprs = {
        "rank": pl.int_range(1, pl.len() + 1),
        "cum": pl.col("x").cum_sum(),
        "top": pl.col("x").max(),
        "kbest": pl.col("x").filter(pl.col("x") < 0.6).min(),
    }
    for single in (True, False):
        got = frame.with_columns(**{k: per(e, ["c"], single) for k, e in exprs.items()})
        want = frame.with_columns(**{k: e.over("c") for k, e in exprs.items()})
        assert got.equals(want)
    several = frame.with_columns(pl.Series("c", [1, 2, 1, 2]))
    got = several.with_columns(per(pl.int_range(pl.len()), ["c"], False).alias("j"))
    assert got["j"].to_list() == [0, 0, 1, 1]


def test_by_target_is_the_sort() -> None:
    """One target's rows of distinct products in product order, as the sort gives them;
    repeated products, several targets and an empty frame are sorted."""
    from salescope.orders.windows import by_target

    rng = np.random.default_rng(0)
    one = pl.DataFrame(
        {
            "c": pl.Series([7] * 9, dtype=pl.UInt32),
            "t": [dt.date(2024, 3, 1)] * 9,
            "p": pl.Series(rng.permutation(9), dtype=pl.UInt32),
            "x": rng.random(9),
        }
    )
    frames = [
        one,
        one.sort("p"),
        one.with_columns(pl.lit(None, pl.Date).alias("t")),
        one.with_columns(pl.Series("c", [7] * 8 + [8], dtype=pl.UInt32)),
        one.with_columns(pl.Series("t", [dt.date(2024, 3, 1)] * 8 + [dt.date(2024, 3, 2)])),
        one.clear(),
    ]
    for frame in frames:
        assert by_target(frame).equals(frame.sort("c", "t", "p"))
    sorted_once = by_target(one)
    assert sorted_once["p"].to_list() == list(range(9))
    repeated = one.with_columns(pl.Series("p", [1, 1, 2, 0, 5, 4, 3, 6, 8], dtype=pl.UInt32))
    assert by_target(repeated)["p"].to_list() == sorted(repeated["p"].to_list())
