"""One target's lines without a query (``orders.one_proposal``) equal the query's
(``builder.lines_query``): on a fitted engine's candidates, as they are and altered — tied
probabilities and scores, null scores and evidence, NaN probabilities, lapsed customers,
customers without usual products or candidates, unknown customers, novelties in rank mode,
a baseline's ranking — in both modes and at several list lengths."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import polars as pl
import pytest

from salescope.data.demo import DemoCompany
from salescope.orders.builder import fill_candidates, lines_query, to_lines
from salescope.orders.model import NextOrderModel
from salescope.orders.offers import rank_extensions
from salescope.orders.one_proposal import one_target_lines
from salescope.orders.served import offered

Alter = Callable[[pl.DataFrame], pl.DataFrame]


def _ties(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col("probability").round(1), pl.col("score").round(0))


def _nulls(frame: pl.DataFrame) -> pl.DataFrame:
    every_third = pl.int_range(pl.len()) % 3 == 0
    return frame.with_columns(
        *(
            pl.when(every_third).then(None).otherwise(pl.col(name)).alias(name)
            for name in ("score", "gap_days_cp", "days_since_cp", "n_cp", "nb_share")
            if name in frame.columns
        )
    )


def _lapsed(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.lit(True).alias("lapsed"), pl.lit(None).cast(pl.Float64).alias("c_gap")
    )


def _lapsed_regular(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.lit(True).alias("lapsed"), pl.lit(75.0).alias("c_gap"))


def _nan(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 1)
        .then(float("nan"))
        .otherwise(pl.col("probability"))
        .alias("probability")
    )


ALTERATIONS: dict[str, Alter] = {
    "as is": lambda f: f,
    "ties": _ties,
    "nulls": _nulls,
    "lapsed once": _lapsed,
    "lapsed": _lapsed_regular,
    "nan": _nan,
}


def _same(model: NextOrderModel, frame: pl.DataFrame, bought: pl.DataFrame) -> int:
    """Assert both paths give the same lines for every mode and length; the number of
    settings the NumPy path took."""
    taken = 0
    for mode, top, ranked_by in [
        ("proposal", None, "model"),
        ("proposal", 2, "TIFU-KNN"),
        ("rank", None, "model"),
        ("rank", 5, "P-TopFreq"),
    ]:

        def lines(build: Callable[..., pl.DataFrame | None]) -> pl.DataFrame | None:
            return build(
                frame,
                mode=mode,  # noqa: B023 (called within the iteration)
                top=top,  # noqa: B023
                customer_ids=model.codes_.customers,
                product_ids=model.codes_.products,
                bought=bought,
                max_novelties=3,
                lapsed_lines=2,
                ranked_by=ranked_by,  # noqa: B023
            )

        fast, slow, got = lines(one_target_lines), lines(lines_query), lines(to_lines)
        assert slow is not None and got is not None
        taken += fast is not None
        assert got.schema == slow.schema
        assert got.equals(slow), (mode, top, ranked_by)
    return taken


@pytest.mark.parametrize("days", [0, -30])
def test_one_target_lines_equal_the_query(
    demo_model: NextOrderModel, demo_company: DemoCompany, days: int
) -> None:
    model = demo_model
    ids = model.codes_.customers["customer_id"].to_list()
    date = model.cutoff_ + dt.timedelta(days=days)
    taken = 0
    for customer in [*ids[:: max(1, len(ids) // 12)], "NOBODY"]:
        targets = pl.DataFrame({"customer_id": [customer], "order_date": [date]})
        ready = model.prepare(targets, demo_company.tables["objectives"])
        bought = model.rows_of("bought_", ready.coded["c"].drop_nulls())
        popular = offered(model)[1]
        frames = [fill_candidates(ready.scored, ready.coded, popular, 30)]
        if ready.novelties is not None:
            ranked = rank_extensions(ready.scored, ready.novelties)
            frames.append(fill_candidates(ranked, ready.coded, popular, 10))
        frames.append(fill_candidates(ready.scored.clear(), ready.coded, popular, 10))
        for frame in frames:
            for alter in ALTERATIONS.values():
                changed = alter(frame)
                taken += _same(model, changed, bought)
                taken += _same(model, changed, bought.clear())  # no usual product
    assert taken > 100  # the NumPy path is the one tested


def test_reason_words_match_the_query_at_the_edges() -> None:
    """Intervals and ages at the rounding edges (halves round to even) read the same."""
    from salescope.orders.builder import reasons

    days = [0.0, 0.4, 0.5, 1.4, 1.5, 2.5, 13.4, 13.5, 10.5, 59.9, 60.0, 45.5, 91.2, 3.5, 700.0]
    n = len(days)
    frame = pl.DataFrame(
        {
            "seen": pl.Series([1, 1, 0] * (n // 3), dtype=pl.Int8),
            "n_cp": pl.Series([2, 1, None] * (n // 3), dtype=pl.UInt32),
            "c_orders": pl.Series([7] * n, dtype=pl.UInt32),
            "gap_days_cp": days,
            "days_since_cp": days[::-1],
            "nb_share": np.linspace(0.0, 1.0, n) + 0.005,
        }
    )
    from salescope.orders.one_proposal import _reason

    expected = frame.select(reasons()).to_series().to_list()
    assert [_reason(row, None) for row in frame.to_dicts()] == expected
