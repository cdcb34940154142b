"""Two runs of the next-order engine gave the same lines (backends, buckets, split engines)."""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from salescope.orders.scoring import sort_lines

EXACT = ["customer_id", "order_date", "rank", "product_id", "kind", "promotion_id", "lapsed"]
CLOSE = ["probability", "model_probability", "quantity"]


def assert_same_lines(got: pl.DataFrame, expected: pl.DataFrame) -> None:
    """Same lines, in the same order; probabilities and quantities within 1e-9."""
    got, expected = sort_lines(got), sort_lines(expected)
    assert got.height == expected.height > 0
    assert_frame_equal(got.select(EXACT), expected.select(EXACT))
    assert_frame_equal(got.select(CLOSE), expected.select(CLOSE), rel_tol=1e-9, abs_tol=1e-12)
