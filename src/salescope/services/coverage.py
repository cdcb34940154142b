"""Use cases of coverage: the recommendations per customer of the market universe."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from salescope.coverage.params import CoverageConfig, CoverageParams, load_config
from salescope.data.outputs import atomic_dir, write_csv_file
from salescope.domain.errors import FieldError
from salescope.services.inputs import (
    check_known_reps,
    order_reference_notes,
)

if TYPE_CHECKING:
    from salescope.coverage.kpis import KPIParams
    from salescope.coverage.segmentation import Segmentation
    from salescope.coverage.wallet import WalletEstimator


@dataclass(frozen=True, slots=True)
class CoverageRequest:
    customers: pl.DataFrame
    orders: pl.DataFrame
    reps: pl.DataFrame
    products: pl.DataFrame | None
    market: pl.DataFrame | None
    as_of: dt.date
    visits: pl.DataFrame | None = None
    config: CoverageConfig | None = None


def check_coverage(
    *,
    customers: pl.DataFrame,
    orders: pl.DataFrame,
    reps: pl.DataFrame,
    products: pl.DataFrame | None = None,
    market: pl.DataFrame | None = None,
    visits: pl.DataFrame | None = None,
    config: CoverageConfig | None = None,
    as_of: dt.date | None = None,
    sources: Mapping[str, str | Path | None] | None = None,
    max_issues: int = 20,
) -> CoverageRequest:
    """Check the market universe, our orders and reps (and optionally products, market data,
    the visit log and the parameters): every customer's rep is a rep given; order lines of
    customers or products outside the tables are counted in a note; there are shops and
    reps. ``as_of`` defaults to the day after the last order."""
    named = {k: v for k, v in (sources or {}).items() if v is not None}
    customers_path = Path(named["customers"]) if "customers" in named else None
    check_known_reps(
        customers,
        reps,
        customers_path=customers_path,
        reps_path=Path(named["reps"]) if "reps" in named else None,
        max_issues=max_issues,
    )
    order_reference_notes(
        orders,
        orders_file=str(named.get("orders", "orders")),
        orders_path=Path(named["orders"]) if "orders" in named else None,
        customers=customers["customer_id"],
        customers_what=str(named.get("customers", "customers")),
        products=None if products is None else products["product_id"],
        products_what=str(named.get("products", "products")),
        customers_effect="they are outside the market universe and get no recommendation",
        products_effect="they count as our products",
    )
    if customers.height == 0:
        raise FieldError("holds no shops: nothing to recommend", "customers")
    if reps.height == 0:
        raise FieldError("holds no reps: nobody to serve the shops", "reps")
    if as_of is None:
        last = orders.select(pl.col("order_date").max()).item()
        as_of = (last or dt.date.today()) + dt.timedelta(days=1)
    return CoverageRequest(
        customers=customers,
        orders=orders,
        reps=reps,
        products=products,
        market=market,
        as_of=as_of,
        visits=visits,
        config=config,
    )


#: The columns of ``DIR/customers.csv`` that CONTRACTS.md promises, in this order.
CONTRACT_COLUMNS = (
    "customer_id",
    "status",
    "segment",
    "revenue_12m",
    "potential",
    "potential_low",
    "potential_high",
    "share_of_wallet",
    "recommendation",
    "interaction_mode",
    "visits_per_month",
    "rep_id",
    "reason",
    "current_mode",
    "current_visits_per_month",
    "expected_margin_current",
    "expected_margin_recommended",
)


@dataclass(frozen=True, slots=True)
class CoverageResult:
    """What ``do_coverage`` wrote and the figures to show."""

    out_dir: Path
    files: dict[str, Path]
    counts: dict[str, int]
    summary: dict[str, object]
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The short summary printed by the command line."""
        s = self.summary
        out = [f"Coverage at {s['as_of']} of {s['shops']:,} shops ({s['served']:,} served):"]
        out.append(
            "  recommendations: prospects "
            + ", ".join(f"{name} {self.counts.get(name, 0):,}" for name in _PROSPECTS)
            + "; served shops "
            + ", ".join(f"{name} {self.counts.get(name, 0):,}" for name in _SERVED)
        )
        out.append(f"  today's service of the served shops: {s['today_service']}")
        out.append(
            f"  potential covered: {s['potential_covered']:,.0f} of {s['potential_total']:,.0f} "
            f"({s['potential_covered_share']:.0%}) today, {s['potential_covered_after']:,.0f} "
            f"({s['potential_covered_after_share']:.0%}) with the shops to add and without "
            "those to drop"
        )
        out.append(
            f"  our sales {s['revenue_12m']:,.0f} in the last 12 months = "
            f"{s['share_of_wallet']:.0%} of the covered potential"
        )
        out.append(
            f"  expected yearly margin net of serving costs: {s['net_value_today']:,.0f} today, "
            f"{s['net_value_recommended']:,.0f} recommended"
        )
        out.append(f"  potential: {s['potential_method']}")
        out.append(f"  economics: {s['economics']}")
        if s.get("potential_cv"):
            out.append(f"  {s['potential_cv']}")
        out.append(f"  shops added assigned by {s['assignment']}")
        if s.get("followed"):
            out.append(
                f"  follow-up of {s['followed']} {s['followup_who']}: {s['followup_status']}"
            )
        out.extend(f"  note: {note}" for note in self.notes)
        out.append(f"Files in {self.out_dir}: " + ", ".join(p.name for p in self.files.values()))
        return out


_PROSPECTS = ("add", "not_now")
_SERVED = ("keep", "grow", "reduce", "drop", "change_mode")


def do_coverage(
    request: CoverageRequest,
    out_dir: Path,
    *,
    previous: pl.DataFrame | None = None,
    visits: pl.DataFrame | None = None,
) -> CoverageResult:
    """Compute the coverage recommendations and write them to ``out_dir``.

    Writes ``customers.csv`` (the CONTRACTS.md columns, then the evidence: segment name,
    yearly sales, chance, expected sales, margins, distance…), ``assignments.csv`` (the
    shops to add, as ``salescope assign`` writes), ``segments.csv`` (segment profiles per
    quarter), ``transitions.csv`` (customers' moves between segments), ``reps.csv`` (load and
    capacity per rep), ``followup.csv`` (new customers: sales against the expected),
    ``coverage_map.png`` and ``summary.json`` (with the parameters in force). Everything is
    computed first and written to a temporary directory, then moved into place: a failure
    leaves no file half written. ``previous`` (a former run's customers.csv) names the added
    customers to follow up; ``visits`` (the visits table; default: the request's) gives today's
    service and its cost from the visit log.
    """
    from salescope.coverage.followup import added_customers, follow_up
    from salescope.coverage.kpis import (
        KPIParams,
        compute_kpis,
        line_values,
    )
    from salescope.coverage.prospects import conversion_chance
    from salescope.coverage.recommend import assign_added, margin_rate, recommend
    from salescope.coverage.today import describe_sources, todays_service
    from salescope.coverage.wallet import WalletEstimator
    from salescope.reports.maps import coverage_map

    began = time.perf_counter()
    customers, orders, reps = request.customers, request.orders, request.reps
    as_of = request.as_of
    visits = visits if visits is not None else request.visits
    config = request.config or load_config(None)
    params = config.coverage
    lines = line_values(orders, request.products).filter(pl.col("order_date") < as_of)
    notes: list[str] = []

    wallet = WalletEstimator(config.wallet).fit(
        customers, orders, request.market, as_of=as_of, products=request.products
    )
    notes.extend(wallet.notes_)
    customers, served = _status(customers, lines, as_of, notes)
    universe = customers  # the shops' own attributes, before today's service is added
    service = todays_service(
        customers, served, lines, reps, as_of=as_of, visits=visits, params=params
    )
    customers = customers.drop(
        "interaction_mode", "visits_per_month", "current_mode", strict=False
    ).with_columns(
        service["current_mode"].alias("interaction_mode"),
        service["current_visits_per_month"].alias("visits_per_month"),
        service["current_mode"],
        service["current_visits_per_month"],
        service["service_source"],
    )
    kpi_params = KPIParams.from_coverage(params)
    kpis = compute_kpis(
        orders,
        customers,
        as_of=as_of,
        products=request.products,
        visits=visits,
        reps=reps,
        wallet=wallet.result_,
        params=kpi_params,
        lines=lines,
    )
    segmentation, segment = _segments(
        request, customers, lines, visits=visits, params=kpi_params, as_of=as_of
    )

    yearly = customers.select("customer_id").join(
        kpis.select("customer_id", "revenue_annualised"),
        on="customer_id",
        how="left",
        maintain_order="left",
    )["revenue_annualised"]
    chance = conversion_chance(universe, served, own_revenue=yearly)
    rate = margin_rate(lines, request.products, params)
    recs = recommend(customers, kpis, reps, chance=chance, margin=rate, params=params)
    assignments, how = assign_added(recs, customers, reps, params, config.assign)

    added = added_customers(lines, customers, as_of=as_of, previous=previous)
    followup = follow_up(lines, added, as_of=as_of, wallet=wallet.result_)

    table = _customers_table(customers, kpis, recs.customers, segment, assignments, wallet)
    shops = table.join(
        customers.select(
            "customer_id",
            *[c for c in ("latitude", "longitude", "region") if c in customers.columns],
        ),
        on="customer_id",
        how="left",
    )
    figure = coverage_map(shops, reps, title=f"Coverage at {as_of}")
    found = dict(table.group_by("recommendation").len().iter_rows())
    # in the order the summary line tells them (a group_by's order changes between runs)
    counts = {k: found.pop(k) for k in (*_PROSPECTS, *_SERVED) if k in found} | dict(
        sorted(found.items())
    )
    summary = _summary(table, recs.summary, wallet, as_of, how, followup)
    summary["today_service"] = describe_sources(service, params)
    summary["economics"] = _economics(params, rate, config)
    summary["followup_who"] = _followup_who(followup, lines)
    summary["params"] = _params_in_force(config)
    if request.market is None:
        notes.insert(
            0,
            "no --market given: without observed totals, a shop's potential is our yearly "
            f"sales ÷ {round(100 * config.wallet.default_share)} % (the share of wallet "
            "assumed, [wallet] "
            "default_share in --config), and for shops not buying from us a model of that "
            "from their attributes; ranges are wide",
        )
    summary["seconds"] = round(time.perf_counter() - began, 2)

    files = _write_outputs(
        out_dir,
        {
            "customers": table,
            "assignments": assignments,
            "segments": segmentation.profiles,
            "transitions": segmentation.transitions,
            "reps": recs.loads,
            "followup": followup,
        },
        figure,
        summary | {"counts": counts, "notes": notes},
    )
    return CoverageResult(out_dir, files, counts, summary, notes)


def _segments(
    request: CoverageRequest,
    customers: pl.DataFrame,
    lines: pl.DataFrame,
    *,
    visits: pl.DataFrame | None,
    params: KPIParams,
    as_of: dt.date,
) -> tuple[Segmentation, pl.DataFrame]:
    """The segments of every period of the history, and each customer's latest one."""
    from salescope.coverage.kpis import kpis_by_period, period_ends
    from salescope.coverage.segmentation import segment_periods

    first_day = lines.select(pl.col("order_date").min()).item() or as_of
    periods = period_ends(first_day, as_of)
    history = kpis_by_period(
        request.orders,
        customers,
        periods=periods,
        products=request.products,
        visits=visits,
        reps=request.reps,
        params=params,
    )
    segmentation = segment_periods(history)
    latest = periods[-1][0]
    return segmentation, segmentation.memberships.filter(pl.col("period") == latest).drop("period")


OUTPUTS = {
    "customers": "customers.csv",
    "assignments": "assignments.csv",
    "segments": "segments.csv",
    "transitions": "transitions.csv",
    "reps": "reps.csv",
    "followup": "followup.csv",
    "map": "coverage_map.png",
    "summary": "summary.json",
}
"""The files of a coverage output folder, by key."""


def _write_outputs(
    out_dir: Path, tables: dict[str, pl.DataFrame], figure: Any, summary: dict[str, Any]
) -> dict[str, Path]:
    """Write the tables, the map and the summary to a temporary folder moved into place."""
    from salescope.reports.plots import save

    with atomic_dir(out_dir) as stage:
        for key, frame in tables.items():
            write_csv_file(frame, stage / OUTPUTS[key])
        save(figure, stage / OUTPUTS["map"])
        (stage / OUTPUTS["summary"]).write_text(
            json.dumps(summary, indent=2, default=str), encoding="utf-8"
        )
    return {key: out_dir / name for key, name in OUTPUTS.items()}


def _economics(params: CoverageParams, rate: float, config: CoverageConfig) -> str:
    """The economics in force, in one sentence of the summary."""
    return (
        f"margin {rate:.0%} of our sales"
        + (
            " (from the products' unit costs)"
            if params.margin_rate is None and rate != params.default_margin_rate
            else ""
        )
        + f", rep time {params.cost_per_minute:g}/min, travel {params.travel_speed_kmh:g} km/h "
        f"({params.travel_share:.0%} of a round trip charged to a visit), minutes per contact "
        + ", ".join(f"{m} {v:g}" for m, v in params.contact_minutes.items())
        + f", one-off costs over {params.horizon_years:g} year(s), "
        f"{params.capacity_share:.0%} of the reps' capacity for visits"
        + (f" (from {config.path})" if config.path else " (defaults; --config sets them)")
    )


def _params_in_force(config: CoverageConfig) -> dict[str, Any]:
    return {
        "coverage": config.coverage.as_dict(),
        "wallet": dataclasses.asdict(config.wallet),
        "assign": dataclasses.asdict(config.assign),
        "config_file": str(config.path) if config.path else None,
    }


def _followup_who(followup: pl.DataFrame, lines: pl.DataFrame) -> str:
    sources = set(followup["source"].to_list()) if followup.height else set()
    if "previous run" in sources:
        return "customers added by the previous run"
    if "served_from" in sources:
        return "customers served since less than 12 months (served_from)"
    first = lines.select(pl.col("order_date").min()).item() if lines.height else None
    return "customers whose first order came in the last 12 months" + (
        f" (order history from {first})" if first is not None else ""
    )


def _status(
    customers: pl.DataFrame, lines: pl.DataFrame, as_of: dt.date, notes: list[str]
) -> tuple[pl.DataFrame, pl.Series]:
    """Customers with the status the engines use, and the served mask.

    The status given wins, except that a shop marked served which never ordered from us is a
    prospect (a note says how many); without a status, served = bought in the last 12 months.
    """
    since = as_of - dt.timedelta(days=365)
    bought = lines.group_by("customer_id").agg(
        (pl.col("order_date") >= since).any().alias("recent"),
        pl.lit(True).alias("ever"),
    )
    facts = customers.select("customer_id").join(
        bought, on="customer_id", how="left", maintain_order="left"
    )
    recent = facts["recent"].fill_null(False)
    ever = facts["ever"].fill_null(False)
    if "status" in customers.columns:
        given = customers["status"] == "served"
        never = given.fill_null(False) & ~ever
        if never.any():
            notes.append(
                f"{int(never.sum()):,} shops marked served have never ordered from us: "
                "treated as prospects"
            )
        served = given.fill_null(recent) & ~never
    else:
        served = recent
    status = (
        pl.DataFrame({"served": served})
        .select(pl.when("served").then(pl.lit("served")).otherwise(pl.lit("prospect")))
        .to_series()
        .alias("status")
    )
    return customers.with_columns(status), served


def _customers_table(
    customers: pl.DataFrame,
    kpis: pl.DataFrame,
    recs: pl.DataFrame,
    segment: pl.DataFrame,
    assignments: pl.DataFrame,
    wallet: WalletEstimator,
) -> pl.DataFrame:
    """customers.csv: the contract columns first, then the evidence."""
    result = wallet.result_
    frame = (
        customers.select("customer_id")
        .join(recs, on="customer_id", how="left")
        .join(segment, on="customer_id", how="left")
        .join(
            kpis.select(
                "customer_id",
                "revenue_12m",
                "orders_12m",
                "orders_per_month",
                "products_12m",
                "days_since_last_order",
                "trend",
                "cost_to_serve_12m",
                "gap",
            ),
            on="customer_id",
            how="left",
        )
        .join(
            result.select("customer_id", pl.col("source").alias("potential_source")),
            on="customer_id",
            how="left",
        )
        .join(
            assignments.select("customer_id", pl.col("rep_id").alias("_assigned")),
            on="customer_id",
            how="left",
        )
        .with_columns(
            pl.when(pl.col("recommendation") == "add")
            .then(pl.col("_assigned"))
            .otherwise(pl.col("rep_id"))
            .alias("rep_id")
        )
        .with_columns(
            pl.when((pl.col("recommendation") == "add") & pl.col("rep_id").is_null())
            .then(
                pl.concat_str(
                    pl.col("reason"),
                    pl.lit(" No rep has the free capacity for it yet: left unassigned."),
                )
            )
            .otherwise(pl.col("reason"))
            .alias("reason")
        )
    )
    extra = [
        "segment_name",
        "service_source",
        "revenue_annualised",
        "orders_12m",
        "orders_per_month",
        "products_12m",
        "days_since_last_order",
        "trend",
        "gap",
        "potential_source",
        "competitor_share",
        "chance",
        "minutes_today",
        "minutes_per_month",
        "expected_sales",
        "cost_today",
        "cost_to_serve",
        "distance_km",
        "low_potential",
        "low_value",
        "lower_half",
    ]
    money = [
        "revenue_12m",
        "potential",
        "potential_low",
        "potential_high",
        "revenue_annualised",
        "gap",
        "expected_sales",
        "cost_today",
        "cost_to_serve",
        "expected_margin_current",
        "expected_margin_recommended",
    ]
    return frame.select(*CONTRACT_COLUMNS, *extra).with_columns(
        pl.col(money).round(2),
        pl.col("share_of_wallet", "competitor_share", "chance", "trend").round(4),
        pl.col(
            "orders_per_month",
            "current_visits_per_month",
            "minutes_today",
            "minutes_per_month",
            "distance_km",
        ).round(2),
    )


def _summary(
    table: pl.DataFrame,
    economics: dict[str, float],
    wallet: WalletEstimator,
    as_of: dt.date,
    assignment: str,
    followup: pl.DataFrame,
) -> dict[str, object]:
    served = table.filter(pl.col("status") == "served")
    total = float(table["potential"].fill_null(0.0).sum())
    covered = float(served["potential"].fill_null(0.0).sum())
    after = float(
        table.filter(
            ((pl.col("status") == "served") & (pl.col("recommendation") != "drop"))
            | (pl.col("recommendation") == "add")
        )["potential"]
        .fill_null(0.0)
        .sum()
    )
    revenue = float(served["revenue_12m"].fill_null(0.0).sum())
    cv = wallet.cv_
    status = (
        ", ".join(
            f"{s} {n}" for s, n in followup.group_by("status").len().sort("status").iter_rows()
        )
        if followup.height
        else ""
    )
    return {
        "as_of": as_of.isoformat(),
        "shops": table.height,
        "served": served.height,
        "prospects_not_added": table.filter(pl.col("recommendation") == "not_now").height,
        "potential_total": total,
        "potential_covered": covered,
        "potential_covered_share": covered / total if total else 0.0,
        "potential_covered_after": after,
        "potential_covered_after_share": after / total if total else 0.0,
        "revenue_12m": revenue,
        "share_of_wallet": revenue / covered if covered else 0.0,
        "net_value_today": economics["net_value_today"],
        "net_value_recommended": economics["net_value_recommended"],
        "margin_rate": economics["margin_rate"],
        "potential_method": wallet.method_,
        "potential_cv": cv.summary() if cv is not None else "",
        "potential_cv_spearman": cv.spearman if cv is not None else None,
        "potential_cv_baseline_spearman": cv.baseline_spearman if cv is not None else None,
        "potential_cv_coverage": cv.coverage if cv is not None else None,
        "assignment": assignment,
        "followed": followup.height,
        "followup_status": status,
    }
