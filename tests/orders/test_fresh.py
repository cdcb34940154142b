"""A fitted engine scoring customers from the orders read at scoring time (``orders.fresh``).

A customer scored from the very orders the model was fitted on gets the fitted engine's
lines (its recomputed tables are the fitted ones); a customer outside a sampled fit gets the
usual lines of its own history, whatever other customers are scored with it (its neighbours
are the fitted customers), and the fitted customers' lines do not move when others are
added.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from tests.recording import recording_backend
from tests.same_lines import assert_same_lines

from salescope.compute import LocalBackend
from salescope.compute.backend import sample_customers
from salescope.data.demo import DemoCompany
from salescope.orders.fresh import scoring_cutoff, with_orders
from salescope.orders.model import EngineParams, NextOrderModel
from salescope.services import scaled
from salescope.services.orders import check_next_orders, fit_next_orders


def _at(ids: pl.Series | list[str], day: dt.date) -> pl.DataFrame:
    return pl.DataFrame({"customer_id": ids}).with_columns(pl.lit(day).alias("order_date"))


def test_the_orders_fitted_on_give_the_fitted_lines(
    demo_model: NextOrderModel, demo_company: DemoCompany
) -> None:
    """Every customer rebuilt from the orders the model learned from: the tables equal the
    fitted ones, and so do the lines in proposal mode (objectives scored from the neighbours'
    vectors, development lines) and rank mode."""
    t = demo_company.tables
    fresh = with_orders(demo_model, t["orders"], t["customers"])
    assert fresh.cutoff == demo_model.cutoff_
    assert fresh.customers == demo_model.codes_.n_customers
    assert (fresh.new_customers, fresh.unknown_products, fresh.unknown_lines) == (0, 0, 0)
    engine = fresh.engine
    # every customer has a code after the model's: its tables were computed, not copied
    assert engine.codes_.customers["c"].min() == demo_model.codes_.n_customers
    assert engine.development_.height == demo_model.development_.height > 0
    targets = _at(demo_model.codes_.customers["customer_id"], demo_model.cutoff_)
    objectives = t["objectives"]
    expected = demo_model.recommend(targets, objectives=objectives)
    assert {"usual", "development", "objective"} <= set(expected["kind"].to_list())
    assert_same_lines(engine.recommend(targets, objectives=objectives), expected)
    assert_same_lines(
        engine.recommend(targets, mode="rank", top=12),
        demo_model.recommend(targets, mode="rank", top=12),
    )


@pytest.fixture(scope="module")
def sampled(demo_company: DemoCompany) -> NextOrderModel:
    """The engine fitted on half of the demo customers (``train --sample 0.5``)."""
    t = demo_company.tables
    return NextOrderModel(EngineParams(seed=1)).fit(
        sample_customers(t["orders"], 0.5), t["products"], customers=t["customers"]
    )


def test_a_customer_outside_the_sample_is_scored_from_its_own_orders(
    sampled: NextOrderModel, demo_company: DemoCompany
) -> None:
    """Outside the sample, the model alone answers a customer it has never seen (no usual
    line); with the orders, the customer gets usual lines of products it bought, the same
    whether it is scored alone or with every other customer outside the sample — and the
    sampled customers' lines do not move either."""
    t = demo_company.tables
    orders = t["orders"]
    known = sampled.codes_.customers["customer_id"]
    outside = orders.filter(~pl.col("customer_id").is_in(known.implode()))
    others = outside["customer_id"].unique().sort()
    assert others.len() > 20
    one = others[0]
    day = scoring_cutoff(sampled.cutoff_, orders)
    assert day == sampled.cutoff_  # the sample's last order is the history's last day

    never_seen = sampled.recommend(_at([one], day))
    assert "usual" not in never_seen["kind"].to_list()

    alone = with_orders(sampled, orders, t["customers"], only=pl.Series([one]))
    assert (alone.customers, alone.new_customers) == (1, 1)
    lines = alone.engine.recommend(_at([one], day), objectives=t["objectives"])
    usual = lines.filter(pl.col("kind") == "usual")
    assert usual.height > 0
    bought = outside.filter(pl.col("customer_id") == one)["product_id"]
    assert usual["product_id"].is_in(bought.implode()).all()
    # the neighbours are fitted customers: codes below the model's; so are its nearby shops,
    # placed by the customers table's coordinates
    engine = alone.engine
    n_model = sampled.codes_.n_customers
    assert (engine.snapshot_.neighbours < n_model).all()
    assert engine.snapshot_.neighbours.max() >= 0
    geo = engine.context_.geo
    assert geo is not None and geo.shape == (n_model + 1, n_model)
    assert geo[n_model].nnz == sampled.params_.novelties.geo_neighbours

    everyone = with_orders(sampled, orders, t["customers"])
    assert everyone.new_customers == others.len()
    targets = _at(pl.concat([known, others]), day)
    together = everyone.engine.recommend(targets, objectives=t["objectives"])
    mine = together.filter(pl.col("customer_id") == one)
    assert_same_lines(mine, lines)
    for mode in ("rank", "proposal"):
        # the sampled customers: as the model alone scores them, with or without the others
        inside = _at(known, day)
        got = everyone.engine.recommend(inside, mode=mode, objectives=t["objectives"])
        assert_same_lines(got, sampled.recommend(inside, mode=mode, objectives=t["objectives"]))
    assert together.filter(pl.col("kind") == "usual")["customer_id"].n_unique() > others.len()


def test_a_customer_that_ordered_since_the_fit_is_scored_from_its_new_orders(
    demo_model: NextOrderModel, demo_company: DemoCompany
) -> None:
    """Orders placed after the model's cut-off move the scoring date and count: a customer
    whose new order holds a product it never bought gets that product as a usual line; a
    product the model does not know is left out and counted; the other customers keep the
    fitted lines."""
    t = demo_company.tables
    orders = t["orders"]
    one = demo_model.codes_.customers["customer_id"][0]
    bought = orders.filter(pl.col("customer_id") == one)["product_id"].unique()
    fresh_product = demo_model.codes_.products.filter(
        ~pl.col("product_id").is_in(bought.implode())
    ).sort("product_id")["product_id"][0]
    day = demo_model.cutoff_
    template = orders.filter(pl.col("customer_id") == one).head(1)
    later = pl.concat(
        [
            template.with_columns(
                pl.lit(fresh_product).alias("product_id"),
                pl.lit(day + dt.timedelta(days=d)).alias("order_date"),
                pl.lit(f"NEW-{d}").alias("order_id"),
            )
            for d in (0, 3, 6)
        ]
        + [
            template.with_columns(
                pl.lit("NOT-IN-THE-MODEL").alias("product_id"),
                pl.lit(day).alias("order_date"),
                pl.lit("NEW-0").alias("order_id"),
            )
        ]
    )
    fresh = with_orders(demo_model, pl.concat([orders, later]), t["customers"])
    assert fresh.cutoff == day + dt.timedelta(days=7)
    assert (fresh.unknown_products, fresh.unknown_lines) == (1, 1)
    targets = _at(demo_model.codes_.customers["customer_id"], fresh.cutoff)
    lines = fresh.engine.recommend(targets, mode="rank", top=12)
    mine = lines.filter(pl.col("customer_id") == one)
    assert fresh_product in mine.filter(pl.col("kind") == "usual")["product_id"].to_list()
    before = demo_model.recommend(_at([one], fresh.cutoff), mode="rank", top=12)
    assert fresh_product not in before["product_id"].to_list()
    assert_frame_equal(
        lines.filter(pl.col("customer_id") != one)
        .select("customer_id")
        .unique()
        .sort("customer_id"),
        targets.filter(pl.col("customer_id") != one).select("customer_id").sort("customer_id"),
    )


def test_buckets_compute_their_customers_tables_and_give_the_lines_of_one_engine(
    sampled: NextOrderModel,
    demo_company: DemoCompany,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``next-orders --model --orders`` on a backend: the planned engine broadcasts the
    model's shared part and the plan (no customer's rows, no vector of the orders'
    customers); each bucket gets its customers' coded lines (and the fitted tables of the
    fitted customers the orders do not name), computes their tables and gives the lines the
    engine built in one piece gives."""
    t = demo_company.tables
    request = check_next_orders(
        orders=t["orders"], model=sampled, customers=t["customers"], objectives=t["objectives"]
    )
    assert request.targets["customer_id"].n_unique() > sampled.codes_.n_customers
    whole = fit_next_orders(request)
    expected = whole.recommend(request.targets, objectives=t["objectives"])
    planned = fit_next_orders(request, planned=True)
    assert planned.summary()["from_orders"] == whole.summary()["from_orders"]
    backend, seen = recording_backend(monkeypatch)
    lines = scaled.do_next_orders_on(
        backend, request, str(tmp_path / "lines.csv"), model=planned, per_bucket=40
    )
    assert_same_lines(lines, expected)
    (artefact,) = seen
    shared = artefact.shared.model
    assert shared.lines_.height == shared.codes_.customers.height == 0
    assert shared.snapshot_.matrix.shape[0] == sampled.codes_.n_customers
    assert "_fresh_rows" not in shared.__dict__
    # every target is a customer of the orders: only what the buckets compute from travels
    shipped = set(artefact.rows.column("part").to_pylist())
    assert shipped == {"lines", "first_order", "customers", "context_customers", "origin"}
    # the full engine split the usual way gives them too
    again = scaled.do_next_orders_on(
        LocalBackend(), request, str(tmp_path / "again.csv"), model=whole, per_bucket=40
    )
    assert_same_lines(again, expected)


def test_customers_the_orders_do_not_name_keep_their_fitted_lines(
    sampled: NextOrderModel, demo_company: DemoCompany
) -> None:
    """Orders of the customers outside the sample only: the sampled customers keep their
    fitted tables (the model's lines), the others get the lines every order gives them."""
    t = demo_company.tables
    known = sampled.codes_.customers["customer_id"]
    outside = t["orders"].filter(~pl.col("customer_id").is_in(known.implode()))
    others = outside["customer_id"].unique().sort()
    fresh = with_orders(sampled, outside, t["customers"])
    assert fresh.new_customers == fresh.customers == others.len()
    objectives = t["objectives"]
    day = fresh.cutoff
    got = fresh.engine.recommend(_at(pl.concat([known, others]), day), objectives=objectives)
    mine = pl.col("customer_id").is_in(known.implode())
    assert_same_lines(got.filter(mine), sampled.recommend(_at(known, day), objectives=objectives))
    everyone = with_orders(sampled, t["orders"], t["customers"])
    assert everyone.cutoff == day
    expected = everyone.engine.recommend(_at(others, day), objectives=objectives)
    assert_same_lines(got.filter(~mine), expected)


def test_the_never_bought_candidates_are_rebuilt_from_the_orders(shared_data: Path) -> None:
    """On 150 UCI customers (whose engine has never-bought candidate pairs, the demo's has
    none; no customers table), the rebuilt tables give the fitted engine's rank and proposal
    lines."""
    from salescope.data.adapters.online_retail import from_online_retail

    source = shared_data / "uci-online-retail" / "online_retail.csv.gz"
    tables = from_online_retail([source]).tables
    orders = tables["orders"]
    first = orders.select(pl.col("customer_id").unique().sort()).head(150)
    orders = orders.join(first, on="customer_id")
    model = NextOrderModel(EngineParams(seed=1, tune_tifu=False)).fit(orders, tables["products"])
    assert model.snapshot_.extra.height > 0
    fresh = with_orders(model, orders)
    assert fresh.engine.snapshot_.extra.height == model.snapshot_.extra.height
    targets = _at(model.codes_.customers["customer_id"], model.cutoff_)
    for mode in ("rank", "proposal"):
        assert_same_lines(
            fresh.engine.recommend(targets, mode=mode, top=20),  # type: ignore[arg-type]
            model.recommend(targets, mode=mode, top=20),  # type: ignore[arg-type]
        )


def test_targets_before_the_end_of_the_orders_are_refused(
    sampled: NextOrderModel, demo_company: DemoCompany
) -> None:
    """With a model and orders, the targets follow the orders: an earlier ``as_of`` or target
    date is refused naming the field, the row and the first date allowed."""
    from salescope.domain.errors import FieldError

    orders = demo_company.tables["orders"]
    start = scoring_cutoff(sampled.cutoff_, orders)
    request = check_next_orders(orders=orders, model=sampled)
    assert request.as_of == start
    early = start - dt.timedelta(days=1)
    with pytest.raises(FieldError, match=f"is before {start}") as caught:
        check_next_orders(orders=orders, model=sampled, as_of=early)
    assert caught.value.field == "as_of"
    targets = _at(["A", "B"], start).with_columns(
        pl.Series("order_date", [start, early], dtype=pl.Date)
    )
    with pytest.raises(FieldError, match="row 2, column 'order_date'") as caught:
        check_next_orders(orders=orders, model=sampled, targets=targets)
    assert caught.value.field == "targets"
