"""Recommendations: vocabulary, capacity, the rules behind each label, and the allocation."""

from __future__ import annotations

import datetime as dt
import itertools
from functools import cache

import numpy as np
import polars as pl
import pytest
from tests.coverage.rules import broken_rules

from salescope.coverage.kpis import compute_kpis, line_values
from salescope.coverage.plans import allocate
from salescope.coverage.prospects import conversion_chance
from salescope.coverage.recommend import (
    CoverageParams,
    Recommendations,
    ResponseCurve,
    assign_added,
    margin_rate,
    recommend,
)
from salescope.coverage.wallet import WalletEstimator
from salescope.data.demo import DemoCompany, DemoConfig, generate_demo
from salescope.domain.statuses import InteractionMode, Recommendation


@cache
def company() -> DemoCompany:
    return generate_demo(DemoConfig.small(11))


@cache
def inputs() -> tuple[pl.DataFrame, pl.DataFrame, float]:
    c = company()
    t = c.tables
    as_of = c.config.end + dt.timedelta(days=1)
    wallet = WalletEstimator().fit(
        t["customers"], t["orders"], t["market"], as_of=as_of, products=t["products"]
    )
    kpis = compute_kpis(
        t["orders"],
        t["customers"],
        as_of=as_of,
        products=t["products"],
        visits=t["visits"],
        reps=t["reps"],
        wallet=wallet.result_,
    )
    chance = conversion_chance(
        t["customers"],
        t["customers"]["status"] == "served",
        own_revenue=kpis["revenue_annualised"],
    )
    rate = margin_rate(line_values(t["orders"], t["products"]), t["products"], CoverageParams())
    return kpis, chance, rate


def run(reps: pl.DataFrame | None = None, params: CoverageParams | None = None) -> Recommendations:
    kpis, chance, rate = inputs()
    t = company().tables
    return recommend(
        t["customers"],
        kpis,
        t["reps"] if reps is None else reps,
        chance=chance,
        margin=rate,
        params=params,
    )


def test_recommendations_and_modes_are_in_the_vocabulary() -> None:
    """Every shop gets one recommendation of the vocabulary, a known mode or none, visits >= 0
    and a reason quoting numbers."""
    result = run().customers
    assert result.height == company().tables["customers"].height
    assert set(result["recommendation"].unique()) <= {r.value for r in Recommendation}
    modes = set(result["interaction_mode"].drop_nulls().unique())
    assert modes <= {m.value for m in InteractionMode}
    assert (result["visits_per_month"] >= 0).all()
    assert result["reason"].null_count() == 0
    assert result["reason"].str.contains(r"\d").all()


def test_prospects_are_added_or_not_now_and_customers_never_added() -> None:
    """A prospect is `add` (with a mode and enough chance) or `not_now` (no mode), never
    `keep`; a served shop is never `add` nor `not_now`."""
    result = run().customers
    prospects = result.filter(pl.col("status") == "prospect")
    assert set(prospects["recommendation"].unique()) == {"add", "not_now"}
    adds = prospects.filter(pl.col("recommendation") == "add")
    assert adds.height > 0
    assert adds["interaction_mode"].null_count() == 0
    assert (adds["chance"] >= CoverageParams().min_add_chance).all()
    later = prospects.filter(pl.col("recommendation") == "not_now")
    assert later["interaction_mode"].null_count() == later.height
    assert later["reason"].str.starts_with("Not now").all()
    served = result.filter(pl.col("status") == "served")
    assert not set(served["recommendation"]) & {"add", "not_now"}


def test_added_prospects_have_more_potential_than_the_others() -> None:
    """The shops recommended `add` have a higher true potential than the prospects left out."""
    result = run().customers.join(
        company().truth["potential"].select("customer_id", pl.col("potential").alias("true")),
        on="customer_id",
    )
    prospects = result.filter(pl.col("status") == "prospect")
    added = prospects.filter(pl.col("recommendation") == "add")["true"].median()
    left = prospects.filter(pl.col("recommendation") == "not_now")["true"].median()
    assert added > left  # type: ignore[operator]


@pytest.mark.parametrize("share", [1.0, 0.4])
def test_no_rep_is_planned_over_capacity(share: float) -> None:
    """The recommended minutes per rep stay within capacity, even when capacity is cut to 40 %."""
    reps = company().tables["reps"].with_columns(pl.col("capacity_minutes") * share)
    result = run(reps)
    loads = result.loads
    assert (loads["load_recommended"] <= loads["capacity"] + 1e-6).all()
    planned = result.customers.group_by("planning_rep_id").agg(pl.col("minutes_per_month").sum())
    joined = planned.join(loads, left_on="planning_rep_id", right_on="rep_id")
    assert (joined["minutes_per_month"] <= joined["capacity"] + 1e-6).all()


def test_less_capacity_means_fewer_adds_and_less_rep_time() -> None:
    """Cutting the reps' capacity never adds more shops nor plans more minutes."""
    full = run().customers
    reps = company().tables["reps"].with_columns(pl.col("capacity_minutes") * 0.4)
    tight = run(reps).customers
    adds = (full["recommendation"] == "add").sum(), (tight["recommendation"] == "add").sum()
    assert adds[1] <= adds[0]
    assert tight["minutes_per_month"].sum() <= full["minutes_per_month"].sum() + 1e-6


def test_drop_only_low_potential_low_value_customers_visited_today() -> None:
    """`drop` goes only to served shops in the bottom quarter of both potential and value, which
    reps visit today; they leave the visit list (no rep, no regular visit)."""
    params = CoverageParams(cost_per_minute=4.0)  # expensive visits: some shops are dropped
    result = run(params=params).customers
    dropped = result.filter(pl.col("recommendation") == "drop")
    assert dropped.height > 0
    assert (dropped["status"] == "served").all()
    assert dropped["low_potential"].all() and dropped["low_value"].all()
    assert dropped["rep_id"].null_count() == dropped.height
    modes = set(dropped["interaction_mode"].drop_nulls().unique())
    assert modes <= {"digital", "automatic", "wholesaler"}


def test_grow_goes_to_shops_where_competitors_hold_most_of_the_wallet() -> None:
    """`grow` shops get more rep time and competitors hold at least half their wallet."""
    result = run().customers.filter(pl.col("recommendation") == "grow")
    assert result.height > 0
    assert (result["competitor_share"] >= CoverageParams().grow_competitor_share).all()
    assert (result["minutes_per_month"] > result["minutes_today"]).all()


def test_response_curve_rises_with_diminishing_returns() -> None:
    """Sales response grows with contacts, from its floor towards 1, by smaller steps."""
    curve = ResponseCurve()
    values = curve(np.array([0.0, 1.0, 2.0, 4.0, 8.0]))
    assert values[0] == pytest.approx(curve.floor)
    assert np.all(np.diff(values) > 0) and values[-1] < 1.0
    steps = np.diff(curve(np.array([1.0, 2.0, 3.0, 4.0])))
    assert np.all(np.diff(steps) < 0)


def test_allocation_matches_brute_force_on_a_small_instance() -> None:
    """On 5 shops × 3 plans and one rep, the allocation is feasible and within 10 % of the best
    feasible choice found by enumeration; with ample capacity it is the unconstrained best."""
    rng = np.random.default_rng(3)
    net = np.column_stack([np.zeros(5), rng.uniform(50, 200, 5), rng.uniform(150, 400, 5)])
    minutes = np.column_stack([np.zeros(5), rng.uniform(20, 40, 5), rng.uniform(60, 100, 5)])
    owner = np.where(minutes > 0, 0, -1)
    allowed = np.ones_like(net, dtype=bool)
    capacity = np.array([200.0])
    pick, _ = allocate(net, minutes, owner, capacity, allowed)
    rows = np.arange(5)
    assert minutes[rows, pick].sum() <= capacity[0] + 1e-9
    best = max(
        net[rows, list(c)].sum()
        for c in itertools.product(range(3), repeat=5)
        if minutes[rows, list(c)].sum() <= capacity[0]
    )
    assert net[rows, pick].sum() >= 0.9 * best
    free, _ = allocate(net, minutes, owner, np.array([1e9]), allowed)
    assert (free == net.argmax(axis=1)).all()


def test_added_shops_are_assigned_to_reps() -> None:
    """Every shop recommended `add` appears once in the assignments, with a known rep or none."""
    result = run()
    t = company().tables
    assignments, how = assign_added(result, t["customers"], t["reps"])
    adds = result.customers.filter(pl.col("recommendation") == "add")
    assert sorted(assignments["customer_id"].to_list()) == sorted(adds["customer_id"].to_list())
    assert set(assignments["rep_id"].drop_nulls()) <= set(t["reps"]["rep_id"])
    assert assignments.columns == ["customer_id", "rep_id", "previous_rep_id", "distance_km"]
    assert how


# -- the rules a manager relies on -------------------------------------------------------------
@pytest.mark.parametrize(
    "setting",
    ["as given", "capacity 40 %", "expensive rep time", "cheap rep time", "no service given"],
)
def test_every_recommendation_is_coherent(setting: str) -> None:
    """Every row obeys the rules: change_mode only with another mode, keep/grow/change_mode
    never worth less than today unless the reason names the rep time freed, reduce and drop
    only for low potential and value, prospects add or not_now, reasons with numbers and never
    comparing a plan with itself."""
    reps, params = company().tables["reps"], CoverageParams()
    customers = company().tables["customers"]
    if setting == "capacity 40 %":
        reps = reps.with_columns(pl.col("capacity_minutes") * 0.4)
    elif setting == "expensive rep time":
        params = CoverageParams(cost_per_minute=4.0)
    elif setting == "cheap rep time":
        params = CoverageParams(cost_per_minute=0.1)
    elif setting == "no service given":
        customers = customers.drop("interaction_mode", "visits_per_month")
    kpis, chance, rate = inputs()
    result = recommend(customers, kpis, reps, chance=chance, margin=rate, params=params)
    broken = {k: v for k, v in broken_rules(result.customers).items() if v}
    assert broken == {}
    served = result.customers.filter(pl.col("status") == "served")
    assert served["expected_margin_current"].null_count() == 0
    assert served["current_mode"].null_count() == 0


def test_labels_follow_the_plans() -> None:
    """keep = today's plan; grow/reduce = the same mode with more/fewer rep minutes;
    change_mode = another mode; several labels occur on the demo company."""
    result = run().customers.filter(pl.col("status") == "served")
    same = pl.col("interaction_mode") == pl.col("current_mode")
    more = pl.col("minutes_per_month") > pl.col("minutes_today")
    assert result.filter(pl.col("recommendation") == "grow").select((same & more).all()).item()
    reduce = result.filter(pl.col("recommendation") == "reduce")
    assert reduce.select((same & ~more).all()).item()
    assert result.filter(pl.col("recommendation") == "change_mode").select((~same).all()).item()
    assert len(set(result["recommendation"])) >= 3


def test_keeping_a_shop_is_worth_exactly_today() -> None:
    """A kept shop's recommended margin equals today's: today's plan is valued the same way
    whichever column says it."""
    result = run().customers.filter(pl.col("recommendation") == "keep")
    assert result.height > 0
    gap = (result["expected_margin_recommended"] - result["expected_margin_current"]).abs()
    assert gap.max() < 1e-6  # type: ignore[operator]
