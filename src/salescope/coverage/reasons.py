"""The reason of each recommendation: a sentence for a regional manager, with the numbers and
the assumptions behind them.

Every reason says what to do, how the shop is served today (and where that comes from), the
expected sales and the margin after serving costs under today's plan and the recommended
one, and the assumptions in force (margin rate, cost of rep time, travel speed). A reason
never compares a plan with itself.
"""

from __future__ import annotations

import polars as pl

from salescope.coverage.params import (
    AUTOMATIC,
    DIGITAL,
    FIELD,
    MERCHANDISER,
    VIDEO,
    WHOLESALER,
    CoverageParams,
)
from salescope.coverage.today import SOURCES
from salescope.domain.statuses import Recommendation


def money(expr: pl.Expr) -> pl.Expr:
    """A readable amount: 950, 12.3k, 1.25M (negative amounts keep their sign)."""
    value = expr.fill_null(0.0)
    return (
        pl.when(value.abs() >= 1e6)
        .then(pl.format("{}M", (value / 1e6).round(2)))
        .when(value.abs() >= 1e4)
        .then(pl.format("{}k", (value / 1e3).round(0).cast(pl.Int64)))
        .when(value.abs() >= 1e3)
        .then(pl.format("{}k", (value / 1e3).round(1)))
        .otherwise(value.round(0).cast(pl.Int64).cast(pl.String))
    )


def pct(expr: pl.Expr) -> pl.Expr:
    return pl.format("{} %", (expr.fill_null(0.0) * 100).round(0).cast(pl.Int64))


def num(expr: pl.Expr, digits: int = 1) -> pl.Expr:
    value = expr.fill_null(0.0).round(digits)
    return (
        pl.when(value == value.round(0))
        .then(value.cast(pl.Int64).cast(pl.String))
        .otherwise(value.cast(pl.String))
    )


def _often(visits: pl.Expr) -> pl.Expr:
    """'2/month', 'every 2 months'."""
    return (
        pl.when(visits >= 1)
        .then(pl.format("{}/month", num(visits)))
        .otherwise(pl.format("every {} months", num(1.0 / visits.clip(1e-6), 0)))
    )


def plan_text(mode: pl.Expr, visits: pl.Expr) -> pl.Expr:
    """'field visits 2/month', 'video calls 1/month', 'the digital ordering platform with a
    field check every 6 months', 'no regular contact'."""
    checks = (
        pl.when(visits > 0)
        .then(pl.format(" with a field check {}", _often(visits)))
        .otherwise(pl.lit(" without rep visits"))
    )
    return (
        pl.when(mode == FIELD)
        .then(pl.format("field visits {}", _often(visits)))
        .when(mode == VIDEO)
        .then(pl.format("video calls {}", _often(visits)))
        .when(mode == MERCHANDISER)
        .then(pl.format("merchandiser visits {}", _often(visits)))
        .when(mode == DIGITAL)
        .then(pl.format("the digital ordering platform{}", checks))
        .when(mode == AUTOMATIC)
        .then(pl.format("automatic replenishment{}", checks))
        .when(mode == WHOLESALER)
        .then(pl.format("the wholesaler's staff{}", checks))
        .when(visits > 0)
        .then(pl.format("visits {}", _often(visits)))
        .otherwise(pl.lit("no regular contact"))
    )


def reason(params: CoverageParams, rate: float) -> pl.Expr:
    """The reason of every row of ``recommend``'s result."""
    rec = pl.col("recommendation")
    new_plan = plan_text(pl.col("interaction_mode"), pl.col("visits_per_month"))
    old_plan = plan_text(pl.col("current_mode"), pl.col("current_visits_per_month"))
    best_plan = plan_text(pl.col("best_mode"), pl.col("best_visits_per_month"))
    rep = pl.col("planning_rep_id").fill_null("the nearest rep")
    observed = pl.col("potential_low") == pl.col("potential_high")
    potential = (
        pl.when(observed)
        .then(pl.format("observed potential of {}/yr", money(pl.col("potential"))))
        .otherwise(
            pl.format(
                "estimated potential of {}/yr (range {}–{})",
                money(pl.col("potential")),
                money(pl.col("potential_low")),
                money(pl.col("potential_high")),
            )
        )
    )
    sales_now = money(pl.col("revenue_annualised"))
    worth = pl.format(
        "worth {}/yr against {}/yr today after serving costs",
        money(pl.col("expected_margin_recommended")),
        money(pl.col("expected_margin_current")),
    )
    freed = pl.col("minutes_freed")
    today_rep = pl.col("current_rep_id").fill_null(rep)
    time_change = (
        pl.when(freed > 0.5)
        .then(pl.format("; frees {} min/month of {}'s time", num(freed, 0), today_rep))
        .when(freed < -0.5)
        .then(pl.format("; takes {} more min/month of {}'s time", num(-freed, 0), rep))
        .otherwise(pl.lit(""))
    )
    source = pl.col("service_source").replace_strict(
        SOURCES, default=pl.col("service_source"), return_dtype=pl.String
    )
    economics = (
        f"a {round(rate * 100):d} % margin on our sales, rep time at "
        f"{params.cost_per_minute:g}/min, travel at {params.travel_speed_kmh:g} km/h"
    )
    served_assumptions = pl.format("Assumes {}; today's service {}.", pl.lit(economics), source)
    prospect_assumptions = pl.lit(
        f"Assumes {economics}, first-year sales {round(params.new_customer_ramp * 100):d} % of "
        f"a settled customer's, {params.acquisition_minutes:g} min to open the account."
    )
    change_sales = pl.format(
        "expected sales {}/yr → {}/yr", sales_now, money(pl.col("expected_sales"))
    )
    keep_why = (
        pl.when(pl.col("rep_price") > 0)
        .then(pl.format("{}'s time is fully used and no change is worth the minutes", rep))
        .otherwise(pl.lit("no other way of serving it is worth more to us"))
    )
    return (
        pl.when(rec == Recommendation.ADD.value)
        .then(
            pl.format(
                "Add: prospect with an {}; {} of shops like it buy from us. {} from {} ({} km "
                "away): expected first-year sales {}/yr, worth {}/yr after serving costs. {}",
                potential,
                pct(pl.col("chance")),
                new_plan,
                rep,
                num(pl.col("distance_km")),
                money(pl.col("expected_sales")),
                money(pl.col("expected_margin_recommended")),
                prospect_assumptions,
            )
        )
        .when((rec == Recommendation.NOT_NOW.value) & (pl.col("chance") < params.min_add_chance))
        .then(
            pl.format(
                "Not now: prospect with an {}, but only {} of shops like it buy from us (we add "
                "from {}). {}",
                potential,
                pct(pl.col("chance")),
                pct(pl.lit(params.min_add_chance)),
                prospect_assumptions,
            )
        )
        .when((rec == Recommendation.NOT_NOW.value) & (pl.col("best_net_value") > 0))
        .then(
            pl.format(
                "Not now: prospect with an {}; {} of shops like it buy from us. {} would be "
                "worth {}/yr after serving costs, but {}'s time goes to shops worth more; "
                "reconsider when a rep has free time. {}",
                potential,
                pct(pl.col("chance")),
                best_plan.str.slice(0, 1).str.to_uppercase() + best_plan.str.slice(1),
                money(pl.col("best_net_value")),
                rep,
                prospect_assumptions,
            )
        )
        .when(rec == Recommendation.NOT_NOW.value)
        .then(
            pl.format(
                "Not now: prospect with an {}; {} of shops like it buy from us, but no way of "
                "serving it pays for itself (best: {}, {}/yr after serving costs). {}",
                potential,
                pct(pl.col("chance")),
                best_plan,
                money(pl.col("best_net_value")),
                prospect_assumptions,
            )
        )
        .when(rec == Recommendation.DROP.value)
        .then(
            pl.format(
                "Drop from the visit list: {} and sales of {}/yr, both in the bottom {} of our "
                "customers. Today {} costs {}/yr for a margin of {}/yr; {} {}{}. {}",
                potential,
                sales_now,
                pct(pl.lit(params.low_quantile)),
                old_plan,
                money(pl.col("cost_today")),
                money(pl.col("margin_today")),
                pl.when(pl.col("interaction_mode").is_null())
                .then(pl.lit("with no regular service it is"))
                .otherwise(pl.format("served through {} it is", new_plan)),
                worth,
                time_change,
                served_assumptions,
            )
        )
        .when(rec == Recommendation.GROW.value)
        .then(
            pl.format(
                "Grow: competitors hold {} of its {} (gap {}/yr). {} instead of today's {}: "
                "{}, {}{}. {}",
                pct(pl.col("competitor_share")),
                potential,
                money(pl.col("potential") - pl.col("revenue_annualised")),
                new_plan.str.slice(0, 1).str.to_uppercase() + new_plan.str.slice(1),
                old_plan,
                change_sales,
                worth,
                time_change,
                served_assumptions,
            )
        )
        .when(rec == Recommendation.REDUCE.value)
        .then(
            pl.format(
                "Reduce: {} and sales of {}/yr, both in the lower {} of our customers. {} "
                "instead of today's {}: {}, {}{}. {}",
                potential,
                sales_now,
                pct(pl.lit(params.reduce_quantile)),
                new_plan.str.slice(0, 1).str.to_uppercase() + new_plan.str.slice(1),
                old_plan,
                change_sales,
                worth,
                time_change,
                served_assumptions,
            )
        )
        .when(rec == Recommendation.CHANGE_MODE.value)
        .then(
            pl.format(
                "Change mode: {} instead of today's {}. It is {} km from {} and we hold {} of "
                "its {}: {}, {}{}. {}",
                new_plan,
                old_plan,
                num(pl.col("distance_km")),
                rep,
                pct(pl.col("share_of_wallet")),
                potential,
                change_sales,
                worth,
                time_change,
                served_assumptions,
            )
        )
        .otherwise(
            pl.format(
                "Keep {}: sales of {}/yr, {} of its {}; worth {}/yr after serving costs of "
                "{}/yr; {}. {}",
                old_plan,
                sales_now,
                pct(pl.col("share_of_wallet")),
                potential,
                money(pl.col("expected_margin_current")),
                money(pl.col("cost_today")),
                keep_why,
                served_assumptions,
            )
        )
    )
