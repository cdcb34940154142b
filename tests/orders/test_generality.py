"""The next-order engine on histories shaped like other businesses' exports (small versions of
``benchmarks/next_orders_generality.py``): each customer's last order held out, the engine
never writes NaN, never answers a customer with history by extension lines only, and is never
below the customer's own most frequent products (P-TopFreq)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable

import polars as pl
import pytest

from salescope.data.demo import DemoCompany, DemoConfig, generate_demo
from salescope.orders import baselines, shapes
from salescope.orders.history import encode
from salescope.orders.metrics import ranking_metrics
from salescope.orders.model import NextOrderModel


@pytest.fixture(scope="module")
def company() -> DemoCompany:
    return generate_demo(DemoConfig.small(seed=5))


def _last_two_months(lines: pl.DataFrame) -> pl.DataFrame:
    end = lines["order_date"].max()
    assert isinstance(end, dt.date)
    return lines.filter(pl.col("order_date") >= end - dt.timedelta(days=60))


SHAPES: dict[str, Callable[[pl.DataFrame], pl.DataFrame]] = {
    "as exported": lambda o: o,
    "placeholder dates, no quantities": lambda o: shapes.unit_quantities(
        shapes.placeholder_dates(o)
    ),
    "thinning out": lambda o: shapes.thin_out(o, seed=2),
    "half the customers with 1-2 orders": lambda o: shapes.few_orders(o, share=0.5, seed=2),
    "two months": _last_two_months,
}


def test_a_catalogue_of_70000_products_mostly_unsold_is_served(company: DemoCompany) -> None:
    """A distributor's catalogue of 70,000 products of which about 1,700 sell: the engine
    fits and proposes every held-out customer's next order with finite probabilities, only
    products of the catalogue, and the evidence computed on the products that sell (the
    unsold are never usual lines)."""
    orders, products = shapes.wide_catalogue(
        company.tables["orders"], company.tables["products"], size=70_000
    )
    assert products.height == 70_000
    history, held = shapes.hold_out_last_orders(orders)
    model = NextOrderModel().fit(history, products)
    targets = held.group_by("customer_id").agg(pl.col("order_date").first())
    lines = model.recommend(targets, mode="proposal")
    assert lines["probability"].is_finite().all()
    assert set(lines["customer_id"]) == set(targets["customer_id"])
    assert lines.join(products, on="product_id", how="anti").height == 0
    usual = lines.filter(pl.col("kind") == "usual")
    assert usual.join(history, on="product_id", how="anti").height == 0


@pytest.mark.parametrize("shape", list(SHAPES))
def test_engine_on_a_shape_is_sound_and_never_below_p_topfreq(
    company: DemoCompany, shape: str
) -> None:
    """On each shape: finite probabilities in [0, 1] and positive quantities; every customer
    with history gets a usual line; Recall@10 at least that of P-TopFreq."""
    orders = SHAPES[shape](company.tables["orders"])
    history, held = shapes.hold_out_last_orders(orders)
    model = NextOrderModel().fit(history, company.tables["products"])
    targets = held.group_by("customer_id").agg(pl.col("order_date").first())
    lines = model.recommend(targets, mode="rank", top=10)
    assert lines["probability"].is_finite().all()
    assert lines["probability"].is_between(0.0, 1.0).all()
    assert (lines["quantity"].is_finite() & (lines["quantity"] > 0)).all()
    assert lines["reason"].null_count() == 0
    with_usual = lines.filter(pl.col("kind") == "usual")["customer_id"].unique()
    assert set(with_usual) == set(targets["customer_id"])

    both = pl.concat(
        [history.with_columns(pl.lit(False).alias("h")), held.with_columns(pl.lit(True).alias("h"))]
    )
    coded, codes = encode(both, carry=("h",))
    past = coded.filter(~pl.col("h"))
    seen = past.select("c", "p").unique().with_columns(pl.lit(1).alias("seen"))
    truth = (
        coded.filter(pl.col("h"))
        .join(seen, on=["c", "p"], how="left")
        .with_columns(pl.col("seen").fill_null(0))
    )
    ranked = lines.join(codes.customers, on="customer_id").join(codes.products, on="product_id")
    engine = ranking_metrics(ranked, truth, (10,))["recall@10"]
    reference = ranking_metrics(
        baselines.p_topfreq(past, truth.select("c").unique(), 10), truth, (10,)
    )["recall@10"]
    assert engine >= reference, f"{shape}: engine {engine:.4f} < P-TopFreq {reference:.4f}"


@pytest.mark.parametrize("n_lines", [1, 2, 3])
def test_tiny_histories_are_answered(n_lines: int) -> None:
    """A history of one to three lines is learned from and answered: the customer's own
    products first, with finite probabilities, and the fit says a baseline ranks."""
    rows = [("a", "o1", "x"), ("a", "o2", "y"), ("b", "o3", "x")][:n_lines]
    orders = pl.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "order_id": [r[1] for r in rows],
            "order_date": [dt.date(2024, 1, 1) + dt.timedelta(days=7 * i) for i in range(n_lines)],
            "product_id": [r[2] for r in rows],
            "quantity": [2.0] * n_lines,
        }
    )
    model = NextOrderModel().fit(orders)
    assert model.summary()["degraded"]
    targets = pl.DataFrame({"customer_id": ["a", "new"], "order_date": [dt.date(2024, 3, 1)] * 2})
    for mode in ("rank", "proposal"):
        lines = model.recommend(targets, mode=mode)
        assert lines["probability"].is_finite().all()
        assert set(lines["customer_id"]) == {"a", "new"}
        own = lines.filter(pl.col("customer_id") == "a").sort("rank")
        assert own["kind"][0] == "usual"
        assert not any(math.isnan(q) for q in lines["quantity"])
