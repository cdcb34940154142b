"""The engine split into its shared part and each customer's rows (``orders.split``).

A bucket's engine, rebuilt from the shared engine and the bucket's customers' rows (through
the Arrow IPC round trip the backends ship them with), gives exactly the lines the whole
engine gives for those customers: after the history and inside it (at the anchors of all the
targets), with objectives scored from neighbours that sit in other buckets, and with the
never-bought candidate pairs (on a slice of UCI). The shared part holds no customer's rows:
it is what the backends broadcast.
"""

from __future__ import annotations

import datetime as dt
import pickle
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal
from tests.recording import recording_backend
from tests.same_lines import assert_same_lines

from salescope.compute import BUCKET, Scattered, scatter_rows, with_buckets
from salescope.compute.backend import parts_of, rows_of_bucket
from salescope.data.demo import DemoCompany
from salescope.orders.held_out import held_out_scores, score_held_out, score_held_out_bucket
from salescope.orders.model import NextOrderModel
from salescope.services import scaled
from salescope.services.orders import NextOrdersRequest


def _bucket_engines(
    model: NextOrderModel, targets: pl.DataFrame, buckets: int, anchors: list[dt.date]
) -> list[tuple[NextOrderModel, pl.DataFrame]]:
    """(the engine of each bucket of ``targets``, its targets), rebuilt from the shared engine
    and the bucket's rows as the backends ship them (IPC bytes)."""
    placed = with_buckets(targets, "customer_id", buckets)
    shared, rows = model.split(anchors)
    owner = model.codes_.customers.join(placed.select("customer_id", BUCKET), on="customer_id")
    shipped = scatter_rows(rows, owner, "c")
    pickled = pickle.loads(pickle.dumps(shared, protocol=pickle.HIGHEST_PROTOCOL))
    out = []
    for (bucket,), mine in placed.partition_by(BUCKET, as_dict=True).items():
        parts = parts_of(rows_of_bucket(shipped, int(bucket)))  # type: ignore[call-overload]
        out.append((pickled.for_customers(parts), mine.drop(BUCKET)))
    return out


def _targets_after(model: NextOrderModel) -> pl.DataFrame:
    known = model.codes_.customers.select("customer_id").with_columns(
        pl.lit(model.cutoff_).alias("order_date")
    )
    unknown = pl.DataFrame({"customer_id": ["NEVER-SEEN"], "order_date": [model.cutoff_]})
    return pl.concat([known, unknown])


def test_bucket_engines_give_the_whole_engines_proposals(
    demo_model: NextOrderModel, demo_company: DemoCompany
) -> None:
    """Proposals with objectives (scored from the neighbours' vectors) of every demo customer,
    each bucket scored by its rebuilt engine, are the whole engine's; the buckets' customers
    have neighbours in other buckets."""
    objectives = demo_company.tables["objectives"]
    targets = _targets_after(demo_model)
    expected = demo_model.recommend(targets, objectives=objectives)
    assert expected.filter(pl.col("kind") == "objective").height > 0
    engines = _bucket_engines(demo_model, targets, 5, [])
    elsewhere = 0
    for engine, mine in engines:
        snap = engine.snapshot_
        assert engine.lines_["c"].n_unique() <= mine.height  # the bucket's customers only
        outside = ~np.isin(snap.neighbours[snap.neighbours >= 0], snap.active)
        elsewhere += int(outside.sum())
    assert elsewhere > 0  # neighbours in other buckets: their rows are not in this bucket
    got = pl.concat(
        [engine.recommend(mine, objectives=objectives) for engine, mine in engines],
        how="diagonal_relaxed",
    )
    assert_same_lines(got, expected)
    ranked = pl.concat([engine.recommend(mine, mode="rank", top=12) for engine, mine in engines])
    assert_same_lines(ranked, demo_model.recommend(targets, mode="rank", top=12))


def test_bucket_engines_give_the_whole_engines_held_out_lists(
    demo_model: NextOrderModel,
) -> None:
    """Targets dated inside the history (a customer's last order date) and after it (one per
    customer: the unseen list has no date), scored by bucket engines split with the anchors
    of all of them, give one call's three lists row for row."""
    lines = demo_model.lines_.group_by("c").agg(pl.col("d").max().alias("order_date"))
    inside = demo_model.codes_.customers.join(lines, on="c").select("customer_id", "order_date")
    inside = inside.sort("customer_id")
    later = inside.head(60).with_columns(pl.lit(demo_model.cutoff_).alias("order_date"))
    targets = pl.concat([later, inside.slice(60)])
    one = score_held_out(demo_model, targets)
    anchors = demo_model.anchors(targets)
    assert anchors
    parts = []
    for engine, mine in _bucket_engines(demo_model, targets, 4, anchors):
        job = scaled.HeldOutJob(engine, anchors)
        parts.append(score_held_out_bucket(job, mine.to_arrow()))
    got = held_out_scores(pa.concat_tables(parts))
    for name in ("ranked", "proposal", "unseen"):
        assert_frame_equal(getattr(got, name), getattr(one, name), rel_tol=1e-9, abs_tol=1e-12)


def test_a_split_engine_refuses_an_anchor_it_was_not_split_with(
    demo_model: NextOrderModel,
) -> None:
    """Inside the history a snapshot needs every customer's lines: a bucket engine has only
    its own, so it scores only at the anchors it was split with, and says so."""
    (engine, mine), *_ = _bucket_engines(demo_model, _targets_after(demo_model), 2, [])
    earlier = demo_model.cutoff_ - dt.timedelta(days=40)
    inside = mine.head(3).with_columns(pl.lit(earlier).alias("order_date"))
    with pytest.raises(ValueError, match="anchors it was split with"):
        engine.recommend(inside)


def test_the_broadcast_engine_holds_no_customer_rows(
    demo_model: NextOrderModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``next-orders`` on a backend broadcasts is the engine without per-customer rows
    (lines, candidates, neighbours, shares: all empty) and far smaller than the whole
    engine; the rows go with their buckets, only the targets'."""
    backend, seen = recording_backend(monkeypatch)
    targets = _targets_after(demo_model).head(120)
    request = NextOrdersRequest(
        orders=None,
        products=None,
        customers=None,
        promotions=None,
        objectives=None,
        targets=targets,
        as_of=demo_model.cutoff_,
        mode="proposal",
        top=None,
    )
    lines = scaled.do_next_orders_on(
        backend, request, str(tmp_path / "lines.csv"), model=demo_model, per_bucket=40
    )
    assert_same_lines(lines, demo_model.recommend(targets))
    (artefact,) = seen
    assert isinstance(artefact, Scattered)
    shared = artefact.shared.model
    snap = shared.snapshot_
    for frame in (
        shared.lines_,
        shared.bought_,
        shared.first_order_,
        shared.codes_.customers,
        shared.context_.customers,
        shared.development_,
        snap.window,
        snap.neighbour,
        snap.extra,
        snap.evidence.categories,
        snap.evidence.brands,
    ):
        assert frame.height == 0
    assert len(snap.active) == len(snap.neighbours) == 0
    size = len(pickle.dumps(artefact.shared, protocol=pickle.HIGHEST_PROTOCOL))
    whole = len(pickle.dumps(demo_model, protocol=pickle.HIGHEST_PROTOCOL))
    assert size < whole / 2
    shipped = set(pl.from_arrow(artefact.rows.select([BUCKET])).unique()[BUCKET].to_list())
    assert shipped == {0, 1, 2}
    parts = parts_of(artefact.rows.filter(pa.compute.equal(artefact.rows["part"], "customers")))
    assert parts["customers"]["customer_id"].is_in(targets["customer_id"].implode()).all()


def test_bucket_engines_ship_the_never_bought_candidates(shared_data: Path) -> None:
    """On 150 UCI customers (whose engine has never-bought candidate pairs, the demo's has
    none) the rank lists of three rebuilt bucket engines are the whole engine's."""
    from salescope.data.adapters.online_retail import from_online_retail
    from salescope.orders.model import EngineParams

    source = shared_data / "uci-online-retail" / "online_retail.csv.gz"
    tables = from_online_retail([source]).tables
    orders = tables["orders"]
    first = orders.select(pl.col("customer_id").unique().sort()).head(150)
    model = NextOrderModel(EngineParams(seed=1, tune_tifu=False)).fit(
        orders.join(first, on="customer_id"), tables["products"]
    )
    assert model.snapshot_.extra.height > 0
    targets = _targets_after(model)
    engines = _bucket_engines(model, targets, 3, [])
    got = pl.concat([engine.recommend(mine, mode="rank", top=20) for engine, mine in engines])
    assert_same_lines(got, model.recommend(targets, mode="rank", top=20))
