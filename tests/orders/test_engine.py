"""The next-order engine on the demo company, where the next orders are known."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from salescope.data.demo import DemoCompany
from salescope.orders import baselines
from salescope.orders.builder import OUTPUT_COLUMNS
from salescope.orders.history import encode, split_at
from salescope.orders.metrics import ranking_metrics
from salescope.orders.model import EngineParams, NextOrderModel


@pytest.fixture(scope="module")
def company(demo_company: DemoCompany) -> DemoCompany:
    return demo_company


@pytest.fixture(scope="module")
def model(company: DemoCompany) -> NextOrderModel:
    return NextOrderModel(EngineParams(seed=1)).fit(
        company.tables["orders"], company.tables["products"]
    )


@pytest.fixture(scope="module")
def targets(company: DemoCompany) -> pl.DataFrame:
    """Each customer's first order after the history, dated as placed."""
    future = company.truth["future_orders"]
    return future.group_by("customer_id").agg(pl.col("order_date").min()).sort("customer_id")


def test_rank_mode_gives_exactly_k_lines(model: NextOrderModel, targets: pl.DataFrame) -> None:
    """Rank mode: exactly K lines per target, ranks 1..K, each product once, contract columns."""
    unknown = pl.DataFrame({"customer_id": ["NEW-SHOP"], "order_date": [dt.date(2025, 1, 3)]})
    lines = model.recommend(pl.concat([targets, unknown]), mode="rank", top=15)
    assert tuple(lines.columns) == OUTPUT_COLUMNS
    per = lines.group_by("customer_id").agg(
        pl.len().alias("n"),
        pl.col("rank").max().alias("r"),
        pl.col("product_id").n_unique().alias("u"),
    )
    assert per.height == targets.height + 1
    assert (per["n"] == 15).all() and (per["r"] == 15).all() and (per["u"] == 15).all()
    assert lines["probability"].is_between(0.0, 1.0).all()
    assert (lines["quantity"] > 0).all()
    assert set(lines["kind"].unique()) <= {"usual", "extension"}
    assert (lines.filter(pl.col("customer_id") == "NEW-SHOP")["kind"] == "extension").all()


def test_rank_mode_caps_at_the_products_known() -> None:
    """With fewer products than K, every known product is listed once."""
    orders = pl.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "order_id": ["1", "1", "2"],
            "order_date": [dt.date(2024, 1, 1)] * 2 + [dt.date(2024, 1, 5)],
            "product_id": ["x", "y", "z"],
            "quantity": [1.0, 2.0, 3.0],
        }
    )
    model = NextOrderModel().fit(orders)
    targets = pl.DataFrame({"customer_id": ["a", "zz"], "order_date": [dt.date(2024, 2, 1)] * 2})
    lines = model.recommend(targets, mode="rank", top=10)
    assert lines.group_by("customer_id").len()["len"].to_list() == [3, 3]
    assert lines.filter(pl.col("customer_id") == "a").sort("rank")["product_id"].head(
        2
    ).sort().to_list() == ["x", "y"]


def test_proposal_lists_usual_products_with_reasons(
    model: NextOrderModel, targets: pl.DataFrame, company: DemoCompany
) -> None:
    """Proposal mode: usual lines the customer bought before, some per customer, each with a
    reason that states its rhythm; novelties (gated) come after them, at most 3."""
    lines = model.recommend(targets, mode="proposal")
    bought = company.tables["orders"].select("customer_id", "product_id").unique()
    usual = lines.filter(pl.col("kind") == "usual")
    assert set(lines["kind"].unique()) <= {"usual", "development", "extension", "objective"}
    assert usual.join(bought, on=["customer_id", "product_id"], how="anti").height == 0
    novelties = lines.filter(pl.col("kind") != "usual").group_by("customer_id").len()
    assert novelties.height == 0 or novelties["len"].max() <= 3
    sizes = usual.group_by("customer_id").len()["len"]
    assert sizes.min() >= 1
    assert sizes.n_unique() > 3  # the number of lines is chosen per customer
    assert usual["reason"].str.contains("orders it every|ordered it once").all()
    capped = model.recommend(targets, mode="proposal", top=3)
    assert capped.group_by("customer_id").len()["len"].max() <= 3


def test_engine_beats_the_baselines_on_the_demo(
    model: NextOrderModel, targets: pl.DataFrame, company: DemoCompany
) -> None:
    """On the demo's true next orders, Recall@10 beats P-TopFreq and TIFU-KNN."""
    orders = pl.concat([company.tables["orders"], company.truth["future_orders"]])
    lines, codes = encode(orders)
    cutoff = company.config.end + dt.timedelta(days=1)
    history, truth = split_at(lines, cutoff)
    coded = truth.select("c").unique()
    ranked = (
        model.recommend(targets, mode="rank", top=10)
        .join(codes.customers, on="customer_id")
        .join(codes.products, on="product_id")
    )
    engine = ranking_metrics(ranked, truth, (10,))["recall@10"]
    ptop = ranking_metrics(baselines.p_topfreq(history, coded, 10), truth, (10,))["recall@10"]
    tifu = baselines.TifuKnn().fit(history, codes.n_customers, codes.n_products)
    knn = ranking_metrics(tifu.rank(coded, 10), truth, (10,))["recall@10"]
    assert engine > ptop
    assert engine > knn


def _rhythm_history(customers: int = 80, weeks: int = 40) -> pl.DataFrame:
    """Weekly orders: product A in every order, B in every fourth (each customer in its own
    phase), a customer-group product and three random fillers."""
    rng = np.random.default_rng(0)
    rows = []
    start = dt.date(2024, 1, 1)
    for c in range(customers):
        phase = int(rng.integers(4))
        for w in range(weeks):
            products = ["A", f"C{c % 5}"]
            if (w + phase) % 4 == 0:
                products.append("B")
            products += [f"X{k}" for k in rng.choice(30, 3, replace=False)]
            day = start + dt.timedelta(days=7 * w)
            rows += [(f"O{c}-{w}", f"K{c:03d}", day, p, 1.0, 10.0) for p in products]
    return pl.DataFrame(
        rows,
        schema=["order_id", "customer_id", "order_date", "product_id", "quantity", "amount"],
        orient="row",
    )


def test_target_date_moves_a_rhythmic_product_the_right_way() -> None:
    """A product bought every fourth week is less likely the week after it was bought than
    four weeks after, when it is due again."""
    orders = _rhythm_history()
    model = NextOrderModel(EngineParams(seed=1)).fit(orders)
    end = orders["order_date"].max()
    assert isinstance(end, dt.date)
    just = orders.filter((pl.col("order_date") == end) & (pl.col("product_id") == "B"))
    customers = just["customer_id"].unique().sort()
    assert customers.len() >= 10

    def probability_of_b(days: int) -> float:
        targets = pl.DataFrame(
            {
                "customer_id": customers,
                "order_date": [end + dt.timedelta(days=days)] * len(customers),
            }
        )
        lines = model.recommend(targets, mode="rank", top=40)
        b = lines.filter(pl.col("product_id") == "B")["probability"]
        return float(b.sum()) / len(customers)  # absent from the top 40: probability 0

    assert probability_of_b(7) < probability_of_b(28)


def test_quantities_follow_packs(
    model: NextOrderModel, targets: pl.DataFrame, company: DemoCompany
) -> None:
    """Lines of products a customer buys by the case are whole cases."""
    lines = model.recommend(targets, mode="rank", top=10)
    orders = company.tables["orders"].join(
        company.tables["products"].select("product_id", "pack_size"), on="product_id"
    )
    by_pack = (
        orders.group_by("customer_id", "product_id")
        .agg(
            ((pl.col("quantity") % pl.col("pack_size")) == 0).all().alias("cases"),
            pl.col("pack_size").first(),
        )
        .filter(pl.col("cases") & (pl.col("pack_size") > 1))
    )
    checked = lines.join(by_pack, on=["customer_id", "product_id"])
    assert checked.height > 20
    assert ((checked["quantity"] % checked["pack_size"]) == 0).all()


def test_fit_is_deterministic(company: DemoCompany, targets: pl.DataFrame) -> None:
    """The same data and seed give the same lines."""
    orders = company.tables["orders"].filter(pl.col("order_date") >= dt.date(2024, 4, 1))
    first = NextOrderModel(EngineParams(seed=3)).fit(orders).recommend(targets, mode="rank", top=5)
    second = NextOrderModel(EngineParams(seed=3)).fit(orders).recommend(targets, mode="rank", top=5)
    assert first.equals(second)
