"""The promotions engine: eligibility, lifts (prior and learned), attachment and budgets."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
import pytest

from salescope.data.demo import DemoConfig, generate_demo
from salescope.domain.schemas import PROMOTIONS
from salescope.orders.eligibility import ATTACHED_COLUMNS, eligible_promotions
from salescope.orders.promotions import PromotionModel, PromotionParams, budget_use

JUNE_1, JUNE_30 = dt.date(2024, 6, 1), dt.date(2024, 6, 30)
DAY = dt.date(2024, 6, 10)

PRODUCTS = pl.DataFrame(
    {
        "product_id": ["P1", "P2", "P3"],
        "category": ["A", "A", "B"],
        "unit_price": [10.0, 10.0, 10.0],
        "unit_cost": [6.0, 6.0, 9.5],
    }
)
CUSTOMERS = pl.DataFrame(
    {
        "customer_id": ["C1", "C2", "C3"],
        "segment": ["grocery", "bar", None],
        "region": ["North", "South", None],
    }
)


def promotions(*rows: dict[str, Any]) -> pl.DataFrame:
    """A promotions table: every row all-eligible in June 2024 unless it says otherwise."""
    defaults: dict[str, Any] = {
        "start_date": JUNE_1,
        "end_date": JUNE_30,
        "product_id": None,
        "category": None,
        "segment": None,
        "region": None,
        "mechanic": "discount_pct",
        "value": 10.0,
        "cost_per_use": 0.0,
        "budget_uses": None,
    }
    return pl.DataFrame(
        [{**defaults, **row} for row in rows], schema=PROMOTIONS.polars_schema(), orient="row"
    )


def lines(*rows: tuple[str, str], day: dt.date = DAY, kind: str = "extension") -> pl.DataFrame:
    """Proposal lines (customer, product) with probability 0.2 and quantity 10."""
    return pl.DataFrame(
        {
            "customer_id": [c for c, _ in rows],
            "order_date": [day] * len(rows),
            "product_id": [p for _, p in rows],
            "kind": [kind] * len(rows),
            "probability": [0.2] * len(rows),
            "quantity": [10.0] * len(rows),
        }
    )


def eligible_pairs(
    frame: pl.DataFrame,
    promos: pl.DataFrame,
    customers: pl.DataFrame | None = CUSTOMERS,
    products: pl.DataFrame | None = PRODUCTS,
) -> set[tuple[str, str, str]]:
    out = eligible_promotions(frame, promos, customers, products)
    return set(out.select("customer_id", "product_id", "promotion_id").iter_rows())


ALL_LINES = lines(*[(c, p) for c in ("C1", "C2", "C3") for p in ("P1", "P2", "P3")])


# -- eligibility --------------------------------------------------------------------------------


def test_dates_are_inclusive_of_start_and_end() -> None:
    """A promotion applies on its start and end dates and between them, not the day before or
    after."""
    days = [dt.date(2024, 5, 31), JUNE_1, JUNE_30, dt.date(2024, 7, 1)]
    frame = pl.concat([lines(("C1", "P1"), day=d) for d in days]).with_columns(
        pl.lit(None, dtype=pl.String).alias("promotion_id")  # a proposal's empty column
    )
    out = eligible_promotions(frame, promotions({"promotion_id": "X"}), CUSTOMERS, PRODUCTS)
    assert sorted(out["order_date"].to_list()) == [JUNE_1, JUNE_30]
    assert out["promotion_id"].to_list() == ["X", "X"]


@pytest.mark.parametrize(
    ("restriction", "expected_products"),
    [
        ({}, {"P1", "P2", "P3"}),
        ({"product_id": "P1"}, {"P1"}),
        ({"category": "A"}, {"P1", "P2"}),
        ({"product_id": "P1", "category": "A"}, {"P1"}),
        ({"product_id": "P1", "category": "B"}, set()),  # both must match
    ],
)
def test_product_and_category(restriction: dict[str, str], expected_products: set[str]) -> None:
    """A promotion of a product applies to that product only; one of a category to its products;
    one of neither to every product."""
    pairs = eligible_pairs(
        lines(("C1", "P1"), ("C1", "P2"), ("C1", "P3")),
        promotions({"promotion_id": "X", **restriction}),
    )
    assert {p for _, p, _ in pairs} == expected_products


@pytest.mark.parametrize(
    ("restriction", "expected_customers"),
    [
        ({}, {"C1", "C2", "C3"}),
        ({"segment": "grocery"}, {"C1"}),
        ({"region": "South"}, {"C2"}),
        ({"segment": "grocery", "region": "South"}, set()),
        ({"segment": "kiosk"}, set()),
    ],
)
def test_segment_and_region(restriction: dict[str, str], expected_customers: set[str]) -> None:
    """A promotion restricted to a segment or a region applies only to the customers of that
    segment or region."""
    pairs = eligible_pairs(ALL_LINES, promotions({"promotion_id": "X", **restriction}))
    assert {c for c, _, _ in pairs} == expected_customers


def test_channel_stands_for_a_missing_segment_column() -> None:
    """When customers carry no segment column, their channel stands for it."""
    by_channel = CUSTOMERS.rename({"segment": "channel"})
    pairs = eligible_pairs(
        ALL_LINES, promotions({"promotion_id": "X", "segment": "bar"}), by_channel
    )
    assert {c for c, _, _ in pairs} == {"C2"}


def test_missing_tables_or_columns_mean_no_restriction() -> None:
    """Without the customers or products table (or the column), a restriction on it does not
    exclude anyone."""
    promos = promotions(
        {"promotion_id": "SEG", "segment": "grocery"},
        {"promotion_id": "REG", "region": "North"},
        {"promotion_id": "CAT", "category": "B"},
    )
    no_tables = eligible_pairs(ALL_LINES, promos, customers=None, products=None)
    assert no_tables == {
        (c, p, x)
        for c, p in ALL_LINES.select("customer_id", "product_id").iter_rows()
        for x in ("SEG", "REG", "CAT")
    }
    only_ids = eligible_pairs(
        ALL_LINES, promos, CUSTOMERS.select("customer_id", "region"), PRODUCTS.drop("category")
    )
    assert {(c, x) for c, _, x in only_ids if x == "REG"} == {("C1", "REG")}
    assert {x for _, _, x in only_ids} == {"SEG", "REG", "CAT"}
    # an unknown customer has no region: a region promotion does not apply to it
    unknown = eligible_pairs(lines(("C9", "P3")), promos)
    assert {x for _, _, x in unknown} == {"CAT"}


# -- lifts --------------------------------------------------------------------------------------


def test_prior_without_history() -> None:
    """Without promoted history each promotion's lift is its mechanic's conservative prior,
    growing with the discount or free units; no mechanic, no lift."""
    promos = promotions(
        {"promotion_id": "D20", "value": 20.0},
        {"promotion_id": "D80", "value": 80.0},
        {"promotion_id": "B10", "mechanic": "bundle", "value": 10.0},
        {"promotion_id": "F2", "mechanic": "free_units", "value": 2.0},
        {"promotion_id": "NONE", "mechanic": None, "value": None},
    )
    orders = pl.DataFrame(
        {
            "customer_id": ["C1"],
            "order_id": ["O1"],
            "order_date": [DAY],
            "product_id": ["P1"],
            "quantity": [3.0],
        }
    )
    lifts = PromotionModel().fit(orders, promos, PRODUCTS, CUSTOMERS).lifts_
    assert set(lifts["source"]) == {"prior"}
    assert lifts["evidence"].to_list() == [0.0] * 5
    assert lifts["quantity_lift"].to_list() == [1.0] * 5
    assert lifts["lift"].to_list() == pytest.approx([1.2, 1.5, 1.05, 1.15, 1.0])
    # lines carrying promotion_id, but none of these promotions: still the prior
    carrying = orders.with_columns(pl.lit("OTHER").alias("promotion_id"))
    again = PromotionModel().fit(carrying, promos, PRODUCTS, CUSTOMERS).lifts_
    assert again["lift"].to_list() == lifts["lift"].to_list()


def _synthetic_history(
    seed: int = 3,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Weekly orders of 300 shops (half groceries, half bars) over 26 weeks of 2024; products
    A1..A4 (category A) and B1..B4 (category B) with inclusion 0.05-0.6 per shop. ``PA`` (all
    shops, category A, June) multiplies inclusion by 1.6 and quantities by 1.3; ``PB`` (bars
    only, category B, June) multiplies inclusion by 2.0 and not quantities."""
    rng = np.random.default_rng(seed)
    n_shops, weeks = 300, 26
    products = pl.DataFrame(
        {
            "product_id": [f"A{i}" for i in range(4)] + [f"B{i}" for i in range(4)],
            "category": ["A"] * 4 + ["B"] * 4,
        }
    )
    customers = pl.DataFrame(
        {
            "customer_id": [f"C{i:03d}" for i in range(n_shops)],
            "segment": ["grocery" if i % 2 else "bar" for i in range(n_shops)],
        }
    )
    inclusion = rng.uniform(0.05, 0.6, (n_shops, 8))
    base_q = rng.uniform(2, 20, (n_shops, 8))
    days = np.array([dt.date(2024, 1, 1) + dt.timedelta(days=7 * w) for w in range(weeks)])
    is_bar = np.arange(n_shops) % 2 == 0
    lift = np.ones((weeks, n_shops, 8))
    in_june = np.array([JUNE_1 <= d <= JUNE_30 for d in days])
    lift[np.ix_(in_june, np.arange(n_shops), np.arange(4))] = 1.6
    lift[np.ix_(in_june, np.flatnonzero(is_bar), np.arange(4, 8))] = 2.0
    include = rng.random((weeks, n_shops, 8)) < np.minimum(inclusion[None] * lift, 1.0)
    w, s, j = np.nonzero(include)
    q_lift = np.where((lift[w, s, j] > 1) & (j < 4), 1.3, 1.0)
    quantity = np.round(base_q[s, j] * q_lift * rng.lognormal(-0.02, 0.2, len(w)), 2)
    promo = [
        None if lift[a, b, c] == 1 else ("PA" if c < 4 else "PB")
        for a, b, c in zip(w, s, j, strict=True)
    ]
    orders = pl.DataFrame(
        {
            "customer_id": [f"C{i:03d}" for i in s],
            "order_id": [f"O{i:03d}-{k}" for i, k in zip(s, w, strict=True)],
            "order_date": pl.Series([days[k] for k in w], dtype=pl.Date),
            "product_id": products["product_id"].gather(j),
            "quantity": quantity,
            "promotion_id": pl.Series(promo, dtype=pl.String),
        }
    )
    promos = promotions(
        {"promotion_id": "PA", "category": "A", "value": 10.0},
        {"promotion_id": "PB", "category": "B", "segment": "bar", "value": 10.0},
        {
            "promotion_id": "FUTURE",
            "start_date": dt.date(2024, 9, 1),
            "end_date": dt.date(2024, 9, 30),
            "value": 20.0,
        },
    )
    return orders, promos, products, customers


def test_learned_lift_recovers_a_known_effect() -> None:
    """On a synthetic history with a known lift the learned lift and quantity lift recover it,
    counting only the customers the promotion applied to."""
    orders, promos, products, customers = _synthetic_history()
    model = PromotionModel(PromotionParams(shrinkage=1.0)).fit(orders, promos, products, customers)
    lifts = {r["promotion_id"]: r for r in model.lifts_.iter_rows(named=True)}
    assert lifts["PA"]["source"] == "learned"
    assert lifts["PA"]["lift"] == pytest.approx(1.6, abs=0.1)
    assert lifts["PA"]["quantity_lift"] == pytest.approx(1.3, abs=0.06)
    # PB applied to bars only: counting groceries too would halve the measured effect
    assert lifts["PB"]["lift"] == pytest.approx(2.0, abs=0.15)
    assert lifts["PB"]["quantity_lift"] == pytest.approx(1.0, abs=0.06)
    assert lifts["FUTURE"]["source"] == "prior"
    assert lifts["FUTURE"]["lift"] == pytest.approx(1.2)
    assert lifts["PA"]["uses"] == orders.filter(pl.col("promotion_id") == "PA").height
    # without promotion_id on the lines, nothing is learned
    blind = PromotionModel().fit(orders.drop("promotion_id"), promos, products, customers)
    assert set(blind.lifts_["source"]) == {"prior"}


def test_shrinkage_pulls_thin_evidence_toward_the_prior() -> None:
    """Strong shrinkage keeps the prior; weak shrinkage lets plentiful evidence move the lift away
    from it."""
    orders, promos, products, customers = _synthetic_history()
    strong = PromotionModel(PromotionParams(shrinkage=1e6)).fit(orders, promos, products, customers)
    weak = PromotionModel(PromotionParams(shrinkage=1.0)).fit(orders, promos, products, customers)
    pa_strong = strong.lifts_.filter(pl.col("promotion_id") == "PA").row(0, named=True)
    pa_weak = weak.lifts_.filter(pl.col("promotion_id") == "PA").row(0, named=True)
    assert pa_strong["lift"] == pytest.approx(pa_strong["prior_lift"], abs=0.01)
    assert pa_weak["evidence"] > 100
    assert abs(pa_weak["lift"] - pa_weak["raw_lift"]) < abs(
        pa_strong["lift"] - pa_strong["raw_lift"]
    )


def test_learned_lift_recovers_the_truth_on_the_demo_company() -> None:
    """Pooled over eight small demo companies: the promotions with at least 100 uses."""
    rows = []
    for seed in range(1, 9):
        company = generate_demo(DemoConfig.small(seed=seed))
        t = company.tables
        model = PromotionModel().fit(t["orders"], t["promotions"], t["products"], t["customers"])
        truth = company.truth["promotion_lift"].select("promotion_id", pl.col("lift").alias("true"))
        rows.append(model.lifts_.join(truth, on="promotion_id"))
        # promotions that never ran in the history keep their prior
        never = company.truth["promotion_lift"].filter(pl.col("uses") == 0)["promotion_id"]
        assert set(
            model.lifts_.filter(pl.col("promotion_id").is_in(never.to_list()))["source"]
        ) <= {"prior"}
    lifts = pl.concat(rows).filter((pl.col("source") == "learned") & (pl.col("uses") >= 100))
    assert lifts.height >= 30
    spearman = lifts.select(pl.corr("lift", "true", method="spearman")).item()
    error = lifts.select((pl.col("lift") - pl.col("true")).abs().mean()).item()
    prior_error = lifts.select((pl.col("prior_lift") - pl.col("true")).abs().mean()).item()
    assert spearman > 0.7, spearman
    assert error < 0.6 * prior_error, (error, prior_error)
    q_spearman = lifts.select(pl.corr("quantity_lift", "true", method="spearman")).item()
    assert q_spearman > 0.5, q_spearman


# -- attaching ----------------------------------------------------------------------------------


def _model(promos: pl.DataFrame, **params: Any) -> PromotionModel:
    """A model fitted on no promoted history (every promotion at its prior)."""
    empty = pl.DataFrame(
        schema={
            "customer_id": pl.String,
            "order_id": pl.String,
            "order_date": pl.Date,
            "product_id": pl.String,
            "quantity": pl.Float64,
        }
    )
    return PromotionModel(PromotionParams(**params)).fit(empty, promos, PRODUCTS, CUSTOMERS)


GENEROUS = {"discount_slope": 6.0, "free_units_lift": 1.4, "max_prior_lift": 2.0}


def test_best_promotion_by_incremental_margin() -> None:
    """Among eligible promotions a line gets the one with the best expected incremental margin,
    not the largest lift."""
    promos = promotions(
        {"promotion_id": "FREE", "mechanic": "free_units", "value": 1.0},  # lift 1.4
        {"promotion_id": "DISC", "value": 5.0},  # lift 1.3
        {
            "promotion_id": "FREE_COSTLY",
            "mechanic": "free_units",
            "value": 1.0,
            "cost_per_use": 5.0,
        },
    )
    model = _model(promos, **GENEROUS)
    # P1: margin 4 a unit; none: 0.2 * 10 * 4 = 8
    # FREE: 0.28 * (10 * 4 - 1 * 6) = 9.52; DISC: 0.26 * 10 * 3.5 = 9.1; FREE_COSTLY: 8.12
    out = model.attach(lines(("C1", "P1"), ("C2", "P3")))
    first = out.row(0, named=True)
    assert first["promotion_id"] == "FREE"
    assert first["incremental_margin"] == pytest.approx(9.52 - 8)
    assert first["promoted_probability"] == pytest.approx(0.28)
    assert first["promoted_quantity"] == pytest.approx(10.0)
    assert first["promotion_text"] == "1 free unit until 30 June"
    # P3 earns 0.5 a unit: no promotion pays for itself
    second = out.row(1, named=True)
    assert second["promotion_id"] is None
    assert second["incremental_margin"] == 0.0
    assert second["promoted_probability"] == pytest.approx(0.2)
    # with FREE out of budget, the next best
    out = model.attach(
        lines(("C1", "P1")),
        promotions=promos.with_columns(
            pl.when(pl.col("promotion_id") == "FREE").then(0.0).otherwise(None).alias("budget_uses")
        ),
    )
    assert out["promotion_id"].to_list() == ["DISC"]
    assert out["incremental_margin"].to_list() == pytest.approx([9.1 - 8])


def test_only_novelties_get_promotions_and_lines_keep_their_order() -> None:
    """Only novelty lines get a promotion; usual lines never do, and the lines keep their order."""
    promos = promotions({"promotion_id": "FREE", "mechanic": "free_units", "value": 1.0})
    model = _model(promos, **GENEROUS)
    frame = pl.concat(
        [
            lines(("C1", "P1"), kind="usual"),
            lines(("C2", "P1"), kind="development"),
            lines(("C3", "P2"), kind="objective"),
            lines(("C1", "P2"), kind="extension"),
        ]
    ).with_columns(pl.lit(None, dtype=pl.String).alias("promotion_id"), pl.lit("r").alias("reason"))
    out = model.attach(frame)
    assert out.columns == [c for c in frame.columns if c != "promotion_id"] + list(ATTACHED_COLUMNS)
    assert out["customer_id"].to_list() == ["C1", "C2", "C3", "C1"]
    assert out["promotion_id"].to_list() == [None, "FREE", "FREE", "FREE"]
    only_extension = _model(promos, kinds=("extension",), **GENEROUS).attach(frame)
    assert only_extension["promotion_id"].to_list() == [None, None, None, "FREE"]


def test_margin_without_products_and_mechanic_inside_cost() -> None:
    """Without unit prices and costs a unit is worth 1 and margin 1, and the mechanic's cost comes
    off the incremental margin."""
    promos = promotions({"promotion_id": "DISC", "value": 10.0})  # lift 1.6
    frame = lines(("C1", "P1")).with_columns(
        pl.lit(0.5).alias("probability"), pl.lit(2.0).alias("quantity")
    )
    # no products table: 1 per unit of price and margin; none = 0.5 * 2 = 1
    out = _model(promos, **GENEROUS).attach(frame, products=pl.DataFrame({"product_id": ["P1"]}))
    assert out["incremental_margin"].item() == pytest.approx(0.8 * 2 * 0.9 - 1.0)
    not_charged = _model(promos, charge_mechanic=False, **GENEROUS)
    out = not_charged.attach(frame, products=pl.DataFrame({"product_id": ["P1"]}))
    assert out["incremental_margin"].item() == pytest.approx(0.8 * 2 - 1.0)


def test_promotion_texts() -> None:
    """Each mechanic's text says what the customer gets and until when, in a rep's words."""
    promos = promotions(
        {"promotion_id": "A", "value": 15.0, "product_id": "P1"},
        {
            "promotion_id": "B",
            "mechanic": "free_units",
            "value": 2.0,
            "product_id": "P2",
            "segment": "grocery",
        },
        {
            "promotion_id": "C",
            "mechanic": "bundle",
            "value": 10.0,
            "product_id": "P2",
            "segment": "bar",
        },
        {
            "promotion_id": "D",
            "value": 7.5,
            "product_id": "P1",
            "start_date": dt.date(2024, 12, 1),
            "end_date": dt.date(2025, 1, 5),
        },
    )
    model = _model(
        promos,
        discount_slope=30.0,
        bundle_slope=50.0,
        free_units_lift=3.0,
        max_prior_lift=3.0,
        max_lift=3.0,
    )
    frame = pl.concat(
        [
            lines(("C1", "P1"), ("C1", "P2"), ("C2", "P2")),
            lines(("C1", "P1"), day=dt.date(2024, 12, 20)),
        ]
    ).with_columns(pl.lit(0.1).alias("probability"))
    out = model.attach(frame)
    assert out["promotion_text"].to_list() == [
        "15 % off until 30 June",
        "2 free units until 30 June",
        "bundle −10 % until 30 June",
        "7.5 % off until 5 January 2025",
    ]


# -- budgets ------------------------------------------------------------------------------------


def _competing(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "customer_id": rng.choice(["C1", "C2", "C3"], n).tolist(),
            "order_date": [DAY] * n,
            "product_id": rng.choice(["P1", "P2"], n).tolist(),
            "kind": ["extension"] * n,
            "probability": rng.uniform(0.01, 0.9, n),
            "quantity": rng.uniform(1, 40, n),
        }
    )


def _greedy(model: PromotionModel, frame: pl.DataFrame, promos: pl.DataFrame) -> list[str | None]:
    """Reference: every (line, promotion) increment, then one line at a time, best first."""
    increments = []
    for row in promos.iter_rows(named=True):
        alone = model.attach(
            frame,
            promotions=promos.filter(pl.col("promotion_id") == row["promotion_id"]).with_columns(
                pl.lit(None, dtype=pl.Float64).alias("budget_uses")
            ),
        )
        for i, value in enumerate(alone["incremental_margin"]):
            if alone["promotion_id"][i] is not None:
                increments.append((value, i, row["promotion_id"]))
    left = {r["promotion_id"]: r["budget_uses"] for r in promos.iter_rows(named=True)}
    chosen: list[str | None] = [None] * frame.height
    for _, i, promotion in sorted(increments, key=lambda x: (-x[0], x[1])):
        budget = left[promotion]
        if chosen[i] is None and (budget is None or budget >= 1):
            chosen[i] = promotion
            if budget is not None:
                left[promotion] = budget - 1
    return chosen


def test_budgets_are_never_exceeded_and_go_to_the_best_lines() -> None:
    """No promotion is attached to more lines than its budget, and a scarce budget goes to the
    lines worth the most."""
    promos = promotions(
        {"promotion_id": "FREE", "mechanic": "free_units", "value": 1.0, "budget_uses": 15.0},
        {"promotion_id": "DISC", "value": 5.0, "budget_uses": 40.0},
        {
            "promotion_id": "BUNDLE",
            "mechanic": "bundle",
            "value": 4.0,
            "budget_uses": None,
            "category": "A",
            "segment": "bar",
        },
        {
            "promotion_id": "SMALL",
            "mechanic": "free_units",
            "value": 1.0,
            "budget_uses": 3.0,
            "product_id": "P2",
        },
    )
    model = _model(promos, bundle_slope=10.0, **GENEROUS)
    frame = _competing(600, seed=1)
    out = model.attach(frame)
    use = budget_use(out, promos)
    counts = dict(use.select("promotion_id", "used").iter_rows())
    assert counts["FREE"] == 15
    assert counts["DISC"] == 40
    assert counts["SMALL"] == 3
    assert counts["BUNDLE"] > 0  # unlimited: every bar line it pays on
    assert (use.filter(pl.col("budget_uses").is_not_null())["left"] >= 0).all()
    assert out["promotion_id"].to_list() == _greedy(model, frame, promos)
    # the lines FREE went to are the ones where it is worth the most among those it served
    assert out.filter(pl.col("promotion_id") == "FREE")["incremental_margin"].min() > 0


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_deferred_acceptance_equals_the_greedy_assignment(seed: int) -> None:
    """On random instances the budgets' deferred-acceptance assignment equals the greedy one
    (lines by value, each to its best promotion with budget left)."""
    rng = np.random.default_rng(seed)
    promos = promotions(
        *[
            {
                "promotion_id": f"X{i}",
                "mechanic": str(rng.choice(["free_units", "discount_pct", "bundle"])),
                "value": float(rng.choice([1.0, 2.0, 5.0])),
                "budget_uses": float(rng.integers(0, 30)),
                "category": str(rng.choice(["A", "B"])) if rng.random() < 0.5 else None,
            }
            for i in range(6)
        ]
    )
    model = _model(promos, bundle_slope=10.0, **GENEROUS)
    frame = _competing(250, seed=seed)
    out = model.attach(frame)
    assert out["promotion_id"].to_list() == _greedy(model, frame, promos)
    used = budget_use(out, promos)
    assert (used["used"] <= used["budget_uses"]).all()


def test_uses_in_the_history_come_off_the_budget() -> None:
    """Uses of a promotion already in the history come off its budget before any proposal
    gets it."""
    promos = promotions(
        {"promotion_id": "FREE", "mechanic": "free_units", "value": 1.0, "budget_uses": 6.0}
    )
    history = pl.DataFrame(
        {
            "customer_id": ["C1"] * 4,
            "order_id": ["O1", "O2", "O3", "O4"],
            "order_date": [dt.date(2024, 6, d) for d in (3, 5, 7, 9)],
            "product_id": ["P1"] * 4,
            "quantity": [5.0] * 4,
            "promotion_id": ["FREE"] * 4,
        }
    )
    model = PromotionModel(PromotionParams(**GENEROUS)).fit(history, promos, PRODUCTS, CUSTOMERS)
    assert model.lifts_["uses"].to_list() == [4]
    out = model.attach(lines(*[("C1", "P1")] * 10))
    assert out["promotion_id"].drop_nulls().len() == 2
    report = budget_use(out, promos, model.lifts_)
    assert report.row(0, named=True) == {
        "promotion_id": "FREE",
        "budget_uses": 6.0,
        "spent": 4,
        "used": 2,
        "left": 0.0,
    }


def test_parameters_are_checked() -> None:
    """Out-of-range promotion parameters are refused, naming the parameter."""
    with pytest.raises(ValueError, match="shrinkage"):
        PromotionParams(shrinkage=0.0)
    with pytest.raises(ValueError, match="min_lift"):
        PromotionParams(min_lift=0.5)
