"""Windows over the groups of a frame, without the grouping when the frame holds one group.

A serving request holds one customer, one proposal: a Polars window (``expr.over(key)``)
then hashes the keys for a single group and costs several times the expression itself. Over
one group the window's values are those of the expression over the whole frame, so
``per(expr, key, single)`` drops the grouping when ``one_group`` says so; a batch keeps it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl


def one_group(frame: pl.DataFrame | pl.LazyFrame, key: Sequence[str]) -> bool:
    """Whether every row of ``frame`` has the same ``key`` (nulls are one group, as for
    ``over``); an empty frame counts as one group. A lazy frame is never known to be one."""
    if isinstance(frame, pl.LazyFrame):
        return False
    for name in key:
        column = frame.get_column(name)
        nulls = column.null_count()
        if nulls == frame.height:
            continue
        if nulls or column.min() != column.max():
            return False
    return True


def per(expr: pl.Expr, key: Sequence[str], single: bool) -> pl.Expr:
    """``expr`` over the groups ``key``, or over the whole frame when it holds ``single`` one."""
    return expr if single else expr.over(list(key))


def by_target(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame.sort("c", "t", "p")``: one target's rows of distinct products in the order of
    ``p`` without a query (the only order the sort can give them), else the sort."""
    if frame.height and one_group(frame, ("c", "t")):
        product = frame.get_column("p")
        if not product.null_count():
            values = product.to_numpy()
            order = np.argsort(values, kind="stable")
            ordered = values[order]
            if (ordered[1:] != ordered[:-1]).all():
                same = np.array_equal(order, np.arange(len(order)))
                return frame if same else frame[order]
    return frame.sort("c", "t", "p")
