"""The kept candidate rows of a request (``orders.served``): main and extra rows dated
together (``Standing.both``, kept by the request's ``Request``) equal each dated alone, on a
fitted engine's rows as they are and altered — nulls, NaN, columns of another type — and a
request prepared with them gives the candidates and novelties it gives without."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import polars as pl
import pytest

import salescope.orders.model as model_module
from salescope.data.demo import DemoCompany
from salescope.orders.model import NextOrderModel
from salescope.orders.served import Request, Standing

Alter = Callable[[pl.DataFrame], pl.DataFrame]
EVERY_THIRD = pl.int_range(pl.len()) % 3 == 0


def _nulls(frame: pl.DataFrame) -> pl.DataFrame:
    names = ("gap_days_cp", "c_gap", "last_cp", "c_last", "n_cp", "nb_share", "u", "_dates")
    return frame.with_columns(
        pl.when(EVERY_THIRD).then(None).otherwise(pl.col(n)).alias(n) for n in names
    )


def _nan(frame: pl.DataFrame) -> pl.DataFrame:
    names = ("gap_days_cp", "gap_sd_cp", "c_gap_recent", "nb")
    return frame.with_columns(
        pl.when(EVERY_THIRD).then(float("nan")).otherwise(pl.col(n)).alias(n) for n in names
    )


def _float32(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col("c_gap").cast(pl.Float32))


ALTERATIONS: dict[str, tuple[Alter, Alter]] = {
    "as is": (lambda f: f, lambda f: f),
    "nulls in main": (_nulls, lambda f: f),
    "nan in extra": (lambda f: f, _nan),
    "both": (_nan, _nulls),
    "another type in extra": (lambda f: f, _float32),  # not plain: dated one by one
    "no extra": (lambda f: f, lambda f: f.clear()),
}


def _with_extra(model: NextOrderModel) -> Standing:
    """The engine's kept rows; the small demo engine keeps no extra rows, so a third of its
    main rows stand in for them."""
    kept = model.warm()
    extra = pl.concat([kept.extra, kept.main.gather_every(3)]).sort("c", "p")
    return Standing(kept.snapshot, kept.main, extra)


@pytest.mark.parametrize("name", list(ALTERATIONS))
def test_rows_dated_together_equal_each_alone(demo_model: NextOrderModel, name: str) -> None:
    model = demo_model
    kept = _with_extra(model)
    alter_main, alter_extra = ALTERATIONS[name]
    standing = Standing(kept.snapshot, alter_main(kept.main), alter_extra(kept.extra))
    codes = model.codes_.customers["c"]
    together = 0
    for step in range(0, codes.len(), max(1, codes.len() // 15)):
        for days, n in [(0, 1), (9, 1), (400, 3)]:
            targets = pl.DataFrame(
                {
                    "c": codes.slice(step, n),
                    "t": [model.cutoff_ + dt.timedelta(days=days)] * min(n, codes.len() - step),
                }
            )
            main, extra = standing.both(targets)
            alone = standing.rows(targets), standing.rows(targets, extra=True)
            for got, expected in zip((main, extra), alone, strict=True):
                assert got.schema == expected.schema
                assert got.equals(expected, null_equal=True), (name, step, days)
            together += main.schema == extra.schema and main.height > 0 < extra.height
            request = Request()
            assert request.dated(standing, targets) is request.dated(standing, targets.clone())
            later = targets.with_columns(pl.col("t") + dt.timedelta(days=1))
            assert request.dated(standing, later)[0].equals(standing.rows(later))
    assert name in ("another type in extra", "no extra") or together > 20


def test_a_request_prepares_what_it_prepares_without_keeping_rows(
    demo_model: NextOrderModel, demo_company: DemoCompany, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``prepare`` keeps the dated rows for its second scoring: the candidates and novelties
    are those of scorings that date the rows each for itself."""
    model = demo_model
    monkeypatch.setitem(model.__dict__, "_kept", _with_extra(model))
    ids = model.codes_.customers["customer_id"]
    objectives = demo_company.tables["objectives"]
    cases = [
        pl.DataFrame({"customer_id": [c], "order_date": [model.cutoff_ + dt.timedelta(days=d)]})
        for c, d in zip(ids.gather_every(25).to_list(), [0, 3, 30] * 10, strict=False)
    ]
    cases.append(pl.DataFrame({"customer_id": ids.head(40), "order_date": [model.cutoff_] * 40}))
    prepared = [model.prepare(t, objectives) for t in cases]
    monkeypatch.setattr(model_module, "Request", lambda: None)
    for targets, ready in zip(cases, prepared, strict=True):
        alone = model.prepare(targets, objectives)
        assert ready.scored.equals(alone.scored, null_equal=True)
        assert ready.novelties is not None and alone.novelties is not None
        assert ready.novelties.equals(alone.novelties, null_equal=True)
