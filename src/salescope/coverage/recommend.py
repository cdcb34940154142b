"""Recommendations per shop: add, keep, grow, reduce, drop, change mode — under capacity.

The allocation follows CALLPLAN (Lodish 1971): each shop's sales respond to the contact it gets
with diminishing returns, and the reps' time goes where it brings the most margin.

* **Plans.** Every way of serving a shop is a plan: field visits (0.5, 1, 2, 4 a month), video
  calls (1, 2), merchandiser visits (2, 4; served shops, when merchandisers exist), a digital
  ordering platform, automatic replenishment, the wholesaler's staff (these three with a field
  check every few months), or nothing. A plan costs rep minutes per month (contact minutes:
  the shop's own visit length where the visit log shows it, else a default per mode) and money
  (minutes and travel at ``cost_per_minute``).
* **Response.** A plan gives a shop ``effect`` contacts a month (field visit 1, merchandiser
  visit 1.3, video call 0.6; digital 0.4, automatic 0.5, wholesaler 0.3 in all) and its sales
  are ``potential × ceiling × r(effect)`` with the ADBUDG curve ``r(f) = floor + (1 − floor)
  f^c / (d^c + f^c)``. A served shop's ceiling is calibrated on today's sales under today's
  plan (``ceiling = share of wallet / r(today)``); a prospect gets the median ceiling of our
  customers, times its look-alike chance of converting. The curve's parameters are judgmental,
  as in CALLPLAN: cross-sectional data cannot give them (in most data, as in the demo company,
  the visit frequency was set *from* the shop's value, so it does not show what visits cause).
* **Allocation.** Each shop gets the plan maximising margin − cost − λ × minutes, where λ is
  the shadow price of its rep's time, found per rep by bisection so that no rep exceeds its
  capacity (Lagrangian relaxation of the multiple-choice knapsack). A change of mode of a
  served shop costs ``switch_cost_share`` of its yearly margin, so that small gains do not
  reshuffle the customer base. Prospects are planned on the capacity of their nearest rep;
  the assignment (``salescope assign``) then picks the actual rep.
* **Recommendation.** From today's plan and the chosen one: a prospect with a plan and a
  look-alike chance of at least ``min_add_chance`` → ``add``; a served shop moved to the
  wholesaler or to nothing → ``drop``; more rep time where competitors hold at least
  ``grow_competitor_share`` of the wallet → ``grow``; fewer visits in the same mode, or a cheaper
  mode for a low-potential, low-value shop → ``reduce``; another mode → ``change_mode``;
  otherwise ``keep``. Each comes with a reason quoting the numbers.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from salescope.coverage.kpis import DEFAULT_VISIT_MINUTES
from salescope.domain.statuses import CustomerStatus, InteractionMode, Recommendation

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

FIELD = InteractionMode.FIELD.value
VIDEO = InteractionMode.VIDEO.value
DIGITAL = InteractionMode.DIGITAL.value
AUTOMATIC = InteractionMode.AUTOMATIC.value
MERCHANDISER = InteractionMode.MERCHANDISER.value
WHOLESALER = InteractionMode.WHOLESALER.value
NONE = "none"
REP, MERCH = "rep", "merchandiser"
TRAVELLING = (FIELD, MERCHANDISER, DIGITAL, AUTOMATIC, WHOLESALER)  # checks are field visits
UNVISITED = (DIGITAL, AUTOMATIC, WHOLESALER)  # no regular rep contact, only checks


@dataclass(frozen=True, slots=True)
class ResponseCurve:
    """ADBUDG response of sales to contacts per month, as a share of the reachable sales."""

    floor: float = 0.5  # without any contact
    half_saturation: float = 1.0  # contacts per month giving half of the rest
    shape: float = 1.5

    def __call__(self, effect: FloatArray) -> FloatArray:
        f = np.maximum(np.asarray(effect, dtype=np.float64), 0.0) ** self.shape
        rest = f / (self.half_saturation**self.shape + f)
        return np.asarray(self.floor + (1.0 - self.floor) * rest, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class CoverageParams:
    """The economics and rules of the recommendations."""

    margin_rate: float | None = None  # gross margin on our sales; None: from products' costs
    default_margin_rate: float = 0.30
    cost_per_minute: float = 0.75  # a rep's loaded cost per minute
    travel_speed_kmh: float = 50.0
    travel_share: float = 0.5  # share of a base↔shop round trip charged to one visit
    travel_in_capacity: float = 0.0  # share of travel time counted in capacity_minutes
    cycle_months: float = 1.0  # reps' capacity_minutes are per this many months
    response: ResponseCurve = field(default_factory=ResponseCurve)
    field_frequencies: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    video_frequencies: tuple[float, ...] = (1.0, 2.0)
    merchandiser_frequencies: tuple[float, ...] = (2.0, 4.0)
    check_visits_per_month: float = 1.0 / 6.0  # field checks of digital/automatic/wholesaler
    effect: Mapping[str, float] = field(
        default_factory=lambda: {
            FIELD: 1.0,  # per visit
            MERCHANDISER: 1.3,  # per visit
            VIDEO: 0.6,  # per call
            DIGITAL: 0.4,  # in all
            AUTOMATIC: 0.5,
            WHOLESALER: 0.3,
        }
    )
    contact_minutes: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_VISIT_MINUTES)
    )
    wholesaler_margin_cut: float = 0.15  # what the wholesaler keeps of our margin
    switch_cost_share: float = 0.10  # a change of mode costs this share of the yearly margin
    acquisition_minutes: float = 240.0  # rep time to open a new account, spread over a year
    new_customer_ramp: float = 0.7  # first-year sales of a new customer / its steady sales
    ceiling_shrinkage: float = 0.2  # weight of the typical ceiling in a customer's own
    min_add_chance: float = 0.2
    max_ceiling: float = 0.9  # highest share of wallet reachable
    grow_competitor_share: float = 0.5
    low_quantile: float = 0.25  # "low potential and value": bottom quarter of our customers


@dataclass(frozen=True, slots=True)
class Plan:
    """One way of serving a shop."""

    name: str
    mode: str  # an InteractionMode value, or "none"
    visits_per_month: float
    resource: str  # "rep", "merchandiser" or "none"
    effect: float  # contacts per month for the response curve
    for_prospects: bool = True


def plans(params: CoverageParams, *, merchandisers: bool) -> list[Plan]:
    """The plans on offer (the first is "none"). A prospect starts with field visits, video
    calls or the digital platform: replenishment and merchandising come once it buys."""
    e = params.effect
    check = params.check_visits_per_month
    out = [Plan(NONE, NONE, 0.0, "none", 0.0)]
    out += [Plan(f"{WHOLESALER}", WHOLESALER, check, REP, e[WHOLESALER], False)]
    out += [Plan(f"{DIGITAL}", DIGITAL, check, REP, e[DIGITAL])]
    out += [Plan(f"{AUTOMATIC}", AUTOMATIC, check, REP, e[AUTOMATIC], False)]
    out += [Plan(f"{VIDEO} {f:g}", VIDEO, f, REP, e[VIDEO] * f) for f in params.video_frequencies]
    out += [Plan(f"{FIELD} {f:g}", FIELD, f, REP, e[FIELD] * f) for f in params.field_frequencies]
    if merchandisers:
        out += [
            Plan(f"{MERCHANDISER} {f:g}", MERCHANDISER, f, MERCH, e[MERCHANDISER] * f, False)
            for f in params.merchandiser_frequencies
        ]
    return out


@dataclass(frozen=True, slots=True)
class Recommendations:
    """The recommendation of every shop, the reps' loads, and the totals."""

    customers: pl.DataFrame
    loads: pl.DataFrame  # rep_id, role, capacity, load_today, load_recommended, shadow_price
    margin_rate: float
    summary: dict[str, float]


def margin_rate(
    lines: pl.DataFrame, products: pl.DataFrame | None, params: CoverageParams
) -> float:
    """Gross margin rate on our sales: 1 − cost / value over the lines whose cost is known."""
    if params.margin_rate is not None:
        return params.margin_rate
    if products is None or "unit_cost" not in products.columns or lines.height == 0:
        return params.default_margin_rate
    costs = lines.join(
        products.select("product_id", "unit_cost").drop_nulls(), on="product_id", how="inner"
    ).filter(pl.col("value") > 0)
    value = float(costs["value"].sum()) if costs.height else 0.0
    if value <= 0:
        return params.default_margin_rate
    cost = float((costs["quantity"] * costs["unit_cost"]).sum())
    return float(np.clip(1.0 - cost / value, 0.05, 0.9))


def _roles(reps: pl.DataFrame) -> pl.Series:
    if "role" in reps.columns:
        return reps["role"].fill_null("rep")
    return pl.Series("role", ["rep"] * reps.height)


def _nearest(
    lat: FloatArray, lon: FloatArray, reps: pl.DataFrame, mask: npt.NDArray[np.bool_]
) -> tuple[IntArray, FloatArray]:
    """Index (into reps) and distance of the nearest rep among ``mask`` for each shop."""
    from salescope.coverage._geo import NeighbourIndex

    n = lat.shape[0]
    chosen = np.flatnonzero(mask)
    if chosen.size == 0:
        return np.full(n, -1, dtype=np.int64), np.full(n, np.nan)
    located = np.isfinite(lat) & np.isfinite(lon)
    index = NeighbourIndex(
        reps["latitude"].to_numpy()[chosen], reps["longitude"].to_numpy()[chosen]
    )
    idx = np.full(n, int(chosen[0]), dtype=np.int64)
    km = np.full(n, np.nan)
    if located.any():
        d, i = index.query(lat[located], lon[located], 1)
        idx[located] = chosen[np.maximum(i[:, 0], 0)]
        km[located] = d[:, 0]
    return np.asarray(idx, dtype=np.int64), np.asarray(km, dtype=np.float64)


def _allocate(
    net: FloatArray,
    minutes: FloatArray,
    owner: IntArray,
    capacity: FloatArray,
    allowed: npt.NDArray[np.bool_],
    iterations: int = 60,
) -> tuple[IntArray, FloatArray]:
    """Plan per shop maximising Σ net under each rep's capacity (Lagrangian bisection).

    ``net`` and ``minutes`` are (shops × plans); ``owner[i, p]`` is the rep whose capacity plan
    p of shop i uses (-1: none). Returns the chosen plan per shop and λ per rep.
    """
    n_reps = capacity.shape[0]
    lam_lo = np.zeros(n_reps)
    score_base = np.where(allowed, net, -np.inf)
    positive = minutes > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(positive & allowed, net / np.where(positive, minutes, 1.0), 0.0)
    lam_hi = np.full(n_reps, max(1.0, float(np.nanmax(ratio, initial=0.0)) * 2.0 + 1.0))

    def choose(lam: FloatArray) -> tuple[IntArray, FloatArray]:
        price = np.where(owner >= 0, lam[np.maximum(owner, 0)], 0.0)
        pick = np.argmax(score_base - price * minutes, axis=1)
        rows = np.arange(net.shape[0])
        used = owner[rows, pick]
        load = np.bincount(
            used[used >= 0], weights=minutes[rows, pick][used >= 0], minlength=n_reps
        )
        return np.asarray(pick, dtype=np.int64), np.asarray(load, dtype=np.float64)

    pick, load = choose(lam_lo)
    over = load > capacity + 1e-9
    if not over.any():
        return pick, lam_lo
    lam = np.where(over, lam_hi, 0.0)
    lo = np.zeros(n_reps)
    hi = np.where(over, lam_hi, 0.0)
    for _ in range(iterations):
        mid = np.where(hi > 0, (lo + hi) / 2.0, 0.0)
        _, load = choose(mid)
        too_much = load > capacity + 1e-9
        lo = np.where(too_much, mid, lo)
        hi = np.where(too_much, hi, mid)
        # a rep pushed over capacity by its neighbours' prices gets a price of its own
        fresh = too_much & (hi == 0)
        hi = np.where(fresh, lam_hi, hi)
    lam = hi
    for _ in range(30):  # repair: raise any price still leaving its rep over capacity
        pick, load = choose(lam)
        too_much = load > capacity + 1e-9
        if not too_much.any():
            break
        lam = np.where(too_much, np.maximum(lam * 2.0, 1.0), lam)
    return pick, lam


def _money(expr: pl.Expr) -> pl.Expr:
    """A readable amount: 950, 12.3k, 1.25M."""
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


def _pct(expr: pl.Expr) -> pl.Expr:
    return pl.format("{} %", (expr.fill_null(0.0) * 100).round(0).cast(pl.Int64))


def _num(expr: pl.Expr, digits: int = 1) -> pl.Expr:
    value = expr.fill_null(0.0).round(digits)
    return (
        pl.when(value == value.round(0))
        .then(value.cast(pl.Int64).cast(pl.String))
        .otherwise(value.cast(pl.String))
    )


def _plan_text(mode: pl.Expr, visits: pl.Expr) -> pl.Expr:
    """'field visits 2/month', 'video calls 1/month', 'digital platform', …"""
    return (
        pl.when(mode == FIELD)
        .then(pl.format("field visits {}/month", _num(visits)))
        .when(mode == VIDEO)
        .then(pl.format("video calls {}/month", _num(visits)))
        .when(mode == MERCHANDISER)
        .then(pl.format("merchandiser visits {}/month", _num(visits)))
        .when(mode == DIGITAL)
        .then(pl.lit("the digital ordering platform"))
        .when(mode == AUTOMATIC)
        .then(pl.lit("automatic replenishment"))
        .when(mode == WHOLESALER)
        .then(pl.lit("the wholesaler's staff"))
        .when(visits > 0)
        .then(pl.format("visits {}/month", _num(visits)))
        .otherwise(pl.lit("no regular contact"))
    )


def recommend(
    customers: pl.DataFrame,
    kpis: pl.DataFrame,
    reps: pl.DataFrame,
    *,
    chance: pl.DataFrame | None = None,
    margin: float | None = None,
    params: CoverageParams | None = None,
) -> Recommendations:
    """Recommend, for every shop of ``customers``, what to do, how and how often.

    ``kpis`` is ``compute_kpis(..., wallet=...)`` of the same shops (potential, share of wallet,
    revenue, visits and minutes, distances); ``chance`` (customer_id, chance) the prospects'
    look-alike chance (default 0.3 for all); ``margin`` the gross margin rate.
    """
    params = params or CoverageParams()
    rate = margin if margin is not None else (params.margin_rate or params.default_margin_rate)
    curve = params.response
    n = customers.height
    status = (
        customers["status"]
        if "status" in customers.columns
        else pl.Series("status", [None] * n, dtype=pl.String)
    )
    frame = (
        customers.select(
            "customer_id",
            status.alias("status_given"),
            _column(customers, "interaction_mode", pl.String).alias("mode_today"),
            _column(customers, "latitude", pl.Float64),
            _column(customers, "longitude", pl.Float64),
        )
        .with_row_index("_row")
        .join(kpis.drop("latitude", "longitude", strict=False), on="customer_id", how="left")
        .sort("_row")
    )
    if chance is not None:
        frame = frame.join(chance, on="customer_id", how="left").sort("_row")
    else:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Float64).alias("chance"))
    revenue = _array(frame, "revenue_annualised")
    served = np.asarray(
        (
            frame["status_given"].fill_null(pl.Series(np.where(revenue > 0, "served", "prospect")))
            == CustomerStatus.SERVED.value
        ).to_numpy(),
        dtype=bool,
    )
    potential = np.maximum(np.nan_to_num(_array(frame, "potential")), revenue)
    share = np.where(potential > 0, revenue / np.where(potential > 0, potential, 1.0), 0.0)
    chance_value = np.clip(np.nan_to_num(_array(frame, "chance"), nan=0.3), 0.0, 1.0)
    lat, lon = _array(frame, "latitude"), _array(frame, "longitude")

    roles = _roles(reps)
    rep_ids = reps["rep_id"].to_numpy()
    is_merch = np.asarray((roles == MERCHANDISER).to_numpy(), dtype=bool)
    is_rep = ~is_merch
    if not is_rep.any():  # only merchandisers: they do everything
        is_rep = np.ones_like(is_merch)
    capacity = reps["capacity_minutes"].to_numpy().astype(np.float64) / params.cycle_months
    rep_index = {r: i for i, r in enumerate(rep_ids.tolist())}
    own_rep = np.asarray([rep_index.get(r, -1) for r in frame["rep_id"].to_list()], dtype=np.int64)
    near_rep, near_rep_km = _nearest(lat, lon, reps, is_rep)
    near_merch, near_merch_km = _nearest(lat, lon, reps, is_merch)
    own_is_rep = (own_rep >= 0) & is_rep[np.maximum(own_rep, 0)]
    own_is_merch = (own_rep >= 0) & is_merch[np.maximum(own_rep, 0)]
    planning_rep = np.where(own_is_rep, own_rep, near_rep)
    planning_merch = np.where(own_is_merch, own_rep, near_merch)
    own_km = _array(frame, "distance_km")
    rep_km = np.where(own_is_rep & np.isfinite(own_km), own_km, near_rep_km)
    merch_km = np.where(own_is_merch & np.isfinite(own_km), own_km, near_merch_km)
    rep_km, merch_km = np.nan_to_num(rep_km), np.nan_to_num(merch_km)

    offer = plans(params, merchandisers=bool(is_merch.any()))
    plan_mode = np.array([p.mode for p in offer], dtype=object)
    plan_vpm = np.array([p.visits_per_month for p in offer])
    plan_resource = np.array([p.resource for p in offer], dtype=object)
    mode_today = frame["mode_today"].to_list()
    mode_now = frame["mode_today"].fill_null("").to_numpy().astype(object)
    vpm_today = np.nan_to_num(_array(frame, "visits_per_month"))
    contact_today = np.nan_to_num(_array(frame, "visit_minutes_per_month"))
    travel_today = np.nan_to_num(_array(frame, "travel_minutes_per_month"))
    per_visit_today = np.where(vpm_today > 0, contact_today / np.maximum(vpm_today, 1e-9), np.nan)
    effect_today = _effect(mode_now, vpm_today, params)
    minutes_today = contact_today + params.travel_in_capacity * travel_today

    # response: reachable share (ceiling) per shop
    r_today = curve(effect_today)
    buying = served & (revenue > 0) & (potential > 0)
    ceiling = np.where(buying, np.clip(share / r_today, share, params.max_ceiling), np.nan)
    typical = float(np.nanmedian(ceiling)) if np.isfinite(ceiling).any() else 0.4
    # a customer's own share is partly noise (and a lapsed one's is near 0): shrink it
    w = params.ceiling_shrinkage
    ceiling = np.where(np.isfinite(ceiling), (1 - w) * ceiling + w * typical, typical)

    # plan matrices (shops × plans): a loop over the few plans, vectorised over shops
    travel_per_visit = 2.0 / params.travel_speed_kmh * 60.0 * params.travel_share
    shape = (n, len(offer))
    net, minutes, money, sales = (np.zeros(shape) for _ in range(4))
    owner = np.full(shape, -1, dtype=np.int64)
    allowed = np.ones(shape, dtype=bool)
    for j, plan in enumerate(offer):
        default = params.contact_minutes.get(plan.mode, params.contact_minutes.get(FIELD, 40.0))
        same = mode_now == plan.mode
        per_visit = np.where(same & np.isfinite(per_visit_today), per_visit_today, default)
        km = merch_km if plan.resource == MERCH else rep_km
        travel = km * travel_per_visit if plan.mode in TRAVELLING else np.zeros(n)
        opening = np.where(served | (plan.mode == NONE), 0.0, params.acquisition_minutes / 12.0)
        minutes[:, j] = (
            plan.visits_per_month * (per_visit + params.travel_in_capacity * travel) + opening
        )
        money[:, j] = plan.visits_per_month * (per_visit + travel) + opening
        if plan.mode == NONE:
            continue
        expected = potential * ceiling * curve(np.full(n, plan.effect))
        expected = np.where(served, expected, expected * chance_value * params.new_customer_ramp)
        cut = params.wholesaler_margin_cut if plan.mode == WHOLESALER else 0.0
        cost = 12.0 * money[:, j] * params.cost_per_minute
        switching = served & (mode_now != "") & ~same
        switch_cost = np.where(switching, params.switch_cost_share * rate * revenue, 0.0)
        sales[:, j] = expected
        net[:, j] = rate * (1.0 - cut) * expected - cost - switch_cost
        owner[:, j] = planning_merch if plan.resource == MERCH else planning_rep
        if not plan.for_prospects:
            allowed[:, j] = served
    # low potential and value (bottom quarter of our customers)
    served_buying = served & (revenue > 0)
    if served_buying.any():
        low_potential = potential <= np.quantile(potential[served_buying], params.low_quantile)
        low_value = revenue <= np.quantile(revenue[served_buying], params.low_quantile)
    else:
        low_potential = low_value = np.zeros(n, dtype=bool)
    low = low_potential & low_value
    # only a low-potential, low-value customer may lose every service (the plan "none")
    net[:, 0] = np.where(served & (mode_now != ""), -params.switch_cost_share * rate * revenue, 0.0)
    allowed[:, 0] = ~served | low
    # stage 1: today's customers share the reps' time; stage 2: prospects get what is left
    first = allowed & served[:, None]
    first[~served, 0] = True
    pick, shadow = _allocate(net, minutes, owner, capacity, first)
    rows = np.arange(n)
    used = owner[rows, pick]
    taken = np.bincount(
        used[used >= 0], weights=minutes[rows, pick][used >= 0], minlength=capacity.shape[0]
    )
    prospects = np.flatnonzero(~served)
    if prospects.size:
        pick_p, shadow_p = _allocate(
            net[prospects],
            minutes[prospects],
            owner[prospects],
            np.maximum(capacity - taken, 0.0),
            allowed[prospects],
        )
        pick[prospects] = pick_p
        del shadow_p  # the price of what is left: not the price of the reps' time
    new_mode = plan_mode[pick]
    new_vpm = plan_vpm[pick]
    new_resource = plan_resource[pick]
    new_minutes = minutes[rows, pick]
    new_sales = sales[rows, pick]
    new_net = net[rows, pick]
    new_money = money[rows, pick]
    today_net = np.where(
        served,
        rate * revenue - 12.0 * (contact_today + travel_today) * params.cost_per_minute,
        0.0,
    )
    plan_rep = np.where(new_resource == MERCH, planning_merch, planning_rep)
    plan_rep = np.where(new_resource == "none", -1, plan_rep)
    planned_km = np.where(new_resource == MERCH, merch_km, rep_km)

    best_free = np.where(allowed, net, -np.inf).max(axis=1)
    competitor = np.where(potential > 0, 1.0 - share, 0.0)
    more_time = new_minutes > minutes_today * 1.1 + 5.0
    less_time = new_minutes < minutes_today * 0.9 - 5.0
    same_mode = new_mode == mode_now
    label = np.full(n, Recommendation.KEEP.value, dtype=object)
    prospect_add = ~served & (new_mode != NONE) & (chance_value >= params.min_add_chance)
    # drop from the visit lists: a low-potential, low-value shop that reps visit today and
    # whose best plan needs no regular rep contact
    visited_today = np.isin(mode_now, [FIELD, VIDEO, MERCHANDISER]) | (
        (mode_now == "") & (vpm_today > params.check_visits_per_month + 1e-9)
    )
    drop = served & low & visited_today & np.isin(new_mode, [NONE, *UNVISITED])
    grow = (
        served
        & ~drop
        & more_time
        & (competitor >= params.grow_competitor_share)
        & (new_mode != NONE)
    )
    reduce = (
        served
        & ~drop
        & ~grow
        & (
            (same_mode & (new_vpm < vpm_today * 0.8))
            | (~same_mode & less_time & low_potential & low_value)
        )
    )
    change = served & ~drop & ~grow & ~reduce & ~same_mode
    label[prospect_add] = Recommendation.ADD.value
    label[drop] = Recommendation.DROP.value
    label[grow] = Recommendation.GROW.value
    label[reduce] = Recommendation.REDUCE.value
    label[change] = Recommendation.CHANGE_MODE.value
    # a prospect not added has no mode; a dropped shop goes to the wholesaler or to nothing
    not_added = ~served & ~prospect_add
    out_mode = _strings(new_mode, ~(not_added | (new_mode == NONE)))
    out_vpm = np.where(not_added, 0.0, new_vpm)
    # served shops keep their rep unless their plan needs the other role (rep ↔ merchandiser)
    keeps_rep = (own_rep >= 0) & (plan_rep == own_rep)
    out_rep_index = np.where(served & (plan_rep >= 0), np.where(keeps_rep, own_rep, plan_rep), -1)
    out_rep_index = np.where(label == Recommendation.DROP.value, -1, out_rep_index)
    out_rep = _strings(rep_ids[np.maximum(out_rep_index, 0)], out_rep_index >= 0)
    # a prospect not added is still planned on (and reported with) its nearest rep
    planned_on = np.where(~served & (plan_rep < 0), planning_rep, plan_rep)
    planning_id = _strings(rep_ids[np.maximum(planned_on, 0)], planned_on >= 0)
    result = pl.DataFrame(
        {
            "customer_id": frame["customer_id"],
            "status": np.where(served, "served", "prospect"),
            "recommendation": label.tolist(),
            "interaction_mode": out_mode,
            "visits_per_month": np.round(out_vpm, 2),
            "rep_id": out_rep,
            "planning_rep_id": planning_id,
            "mode_today": pl.Series(mode_today, dtype=pl.String),
            "visits_today": vpm_today,
            "minutes_today": minutes_today,
            "minutes_per_month": np.where(not_added, 0.0, new_minutes),
            "chance": np.where(served, np.nan, chance_value),
            "expected_sales": np.where(not_added, 0.0, new_sales),
            "cost_to_serve": np.where(not_added, 0.0, 12.0 * new_money * params.cost_per_minute),
            "net_value": np.where(not_added, 0.0, new_net),
            "net_value_today": today_net,
            "cost_today": 12.0 * (contact_today + travel_today) * params.cost_per_minute,
            "margin_today": np.where(served, rate * revenue, 0.0),
            "low_potential": low_potential,
            "low_value": low_value,
            "competitor_share": np.where(served, competitor, np.nan),
            "distance_km": planned_km,
            "best_net_value": np.where(np.isfinite(best_free), best_free, 0.0),
        }
    ).with_columns(pl.col(pl.Float64).fill_nan(None))
    result = result.join(
        frame.select(
            "customer_id",
            "potential",
            "potential_low",
            "potential_high",
            "revenue_annualised",
            "share_of_wallet",
        ),
        on="customer_id",
        how="left",
    )
    result = result.with_columns(_reason(params).alias("reason"))
    plan_minutes = result.select(
        pl.col("planning_rep_id").alias("rep_id"), pl.col("minutes_per_month")
    )
    load_new = plan_minutes.group_by("rep_id").agg(pl.col("minutes_per_month").sum())
    today_rep = _strings(rep_ids[np.maximum(own_rep, 0)], own_rep >= 0)
    load_today = (
        pl.DataFrame({"rep_id": today_rep, "m": minutes_today})
        .group_by("rep_id")
        .agg(pl.col("m").sum())
    )
    loads = (
        reps.select("rep_id", roles.alias("role"))
        .with_columns(
            pl.Series("capacity", capacity), pl.Series("shadow_price", np.round(shadow, 4))
        )
        .join(load_today.rename({"m": "load_today"}), on="rep_id", how="left")
        .join(load_new.rename({"minutes_per_month": "load_recommended"}), on="rep_id", how="left")
        .with_columns(pl.col("load_today", "load_recommended").fill_null(0.0))
    )
    summary = {
        "margin_rate": rate,
        "net_value_today": float(today_net[served].sum()),
        "net_value_recommended": float(result["net_value"].sum()),
        "minutes_today": float(minutes_today.sum()),
        "minutes_recommended": float(result["minutes_per_month"].sum()),
    }
    return Recommendations(customers=result, loads=loads, margin_rate=rate, summary=summary)


def _strings(values: npt.NDArray[Any], keep: npt.NDArray[np.bool_]) -> pl.Series:
    """Text values as a Series, null where ``keep`` is false."""
    series = pl.Series(np.asarray(values).astype(str), dtype=pl.String)
    return series.scatter(np.flatnonzero(~keep), None) if (~keep).any() else series


def _column(frame: pl.DataFrame, name: str, dtype: Any) -> pl.Expr:
    if name in frame.columns:
        return pl.col(name).cast(dtype)
    return pl.lit(None, dtype=dtype).alias(name)


def _array(frame: pl.DataFrame, name: str) -> FloatArray:
    if name not in frame.columns:
        return np.full(frame.height, np.nan)
    return np.asarray(frame[name].cast(pl.Float64).fill_null(np.nan).to_numpy(), np.float64)


def _effect(
    mode: npt.NDArray[np.object_], visits: FloatArray, params: CoverageParams
) -> FloatArray:
    """Contacts per month of today's plans (unknown mode: its visits, else as digital)."""
    e = params.effect
    per_visit = np.select(
        [mode == FIELD, mode == VIDEO, mode == MERCHANDISER],
        [e[FIELD], e[VIDEO], e[MERCHANDISER]],
        np.nan,
    )
    overall = np.select(
        [mode == DIGITAL, mode == AUTOMATIC, mode == WHOLESALER],
        [e[DIGITAL], e[AUTOMATIC], e[WHOLESALER]],
        np.nan,
    )
    unknown = np.where(visits > 0, visits, e[DIGITAL])
    return np.asarray(
        np.where(
            np.isfinite(per_visit),
            per_visit * visits,
            np.where(np.isfinite(overall), overall, unknown),
        ),
        dtype=np.float64,
    )


def _reason(params: CoverageParams) -> pl.Expr:
    """A sentence per shop with the numbers behind its recommendation."""
    rec = pl.col("recommendation")
    new_plan = _plan_text(pl.col("interaction_mode"), pl.col("visits_per_month"))
    old_plan = _plan_text(pl.col("mode_today"), pl.col("visits_today"))
    observed = pl.col("potential_low") == pl.col("potential_high")
    potential = (
        pl.when(observed)
        .then(pl.format("observed potential {}/yr", _money(pl.col("potential"))))
        .otherwise(
            pl.format(
                "potential {}/yr (range {}–{})",
                _money(pl.col("potential")),
                _money(pl.col("potential_low")),
                _money(pl.col("potential_high")),
            )
        )
    )
    economics = pl.format(
        "expected sales {}/yr, net of serving costs {}/yr",
        _money(pl.col("expected_sales")),
        _money(pl.col("net_value")),
    )
    return (
        pl.when(rec == Recommendation.ADD.value)
        .then(
            pl.format(
                "Prospect with {}; {} of shops like it buy from us; {} from {}: {} expected to "
                "bring {}/yr (net {}/yr).",
                potential,
                _pct(pl.col("chance")),
                pl.format("{} km", _num(pl.col("distance_km"))),
                pl.col("planning_rep_id").fill_null("the nearest rep"),
                new_plan,
                _money(pl.col("expected_sales")),
                _money(pl.col("net_value")),
            )
        )
        .when(rec == Recommendation.DROP.value)
        .then(
            pl.format(
                "Low potential and value (sales {}/yr, {}, both in our bottom {}): {} cost "
                "{}/yr for a margin of {}/yr; drop it from the visit list and serve it through "
                "{}.",
                _money(pl.col("revenue_annualised")),
                potential,
                _pct(pl.lit(params.low_quantile)),
                old_plan,
                _money(pl.col("cost_today")),
                _money(pl.col("margin_today")),
                pl.when(pl.col("interaction_mode").is_null())
                .then(pl.lit("no regular service"))
                .otherwise(new_plan),
            )
        )
        .when(rec == Recommendation.GROW.value)
        .then(
            pl.format(
                "Competitors hold {} of its {}: gap {}/yr; {} instead of {} ({}).",
                _pct(pl.col("competitor_share")),
                potential,
                _money(pl.col("potential") - pl.col("revenue_annualised")),
                new_plan,
                old_plan,
                economics,
            )
        )
        .when(rec == Recommendation.REDUCE.value)
        .then(
            pl.format(
                "{}{}/yr of sales for its {}: {} instead of {} frees {} min/month ({}).",
                pl.when(pl.col("low_potential") & pl.col("low_value"))
                .then(pl.lit("Low potential and value: "))
                .otherwise(pl.lit("")),
                _money(pl.col("revenue_annualised")),
                potential,
                new_plan,
                old_plan,
                _num(pl.col("minutes_today") - pl.col("minutes_per_month"), 0),
                economics,
            )
        )
        .when(rec == Recommendation.CHANGE_MODE.value)
        .then(
            pl.format(
                "{} km from its rep, share of wallet {} of its {}: {} instead of {} ({}).",
                _num(pl.col("distance_km")),
                _pct(pl.col("share_of_wallet")),
                potential,
                new_plan,
                old_plan,
                economics,
            )
        )
        .when(
            (pl.col("status") == CustomerStatus.PROSPECT.value)
            & (pl.col("chance") < params.min_add_chance)
        )
        .then(
            pl.format(
                "Prospect not added now: {}, but only {} of shops like it buy from us "
                "(threshold {}).",
                potential,
                _pct(pl.col("chance")),
                _pct(pl.lit(params.min_add_chance)),
            )
        )
        .when((pl.col("status") == CustomerStatus.PROSPECT.value) & (pl.col("best_net_value") > 0))
        .then(
            pl.format(
                "Prospect not added now: {}, {} of shops like it buy from us, worth {}/yr net, "
                "but {}'s time goes to better uses; reconsider when a rep has free capacity.",
                potential,
                _pct(pl.col("chance")),
                _money(pl.col("best_net_value")),
                pl.col("planning_rep_id").fill_null("the nearest rep"),
            )
        )
        .when(pl.col("status") == CustomerStatus.PROSPECT.value)
        .then(
            pl.format(
                "Prospect not added now: {}, {} of shops like it buy from us; no way of serving "
                "it pays for its cost.",
                potential,
                _pct(pl.col("chance")),
            )
        )
        .otherwise(
            pl.format(
                "Share of wallet {} of its {}; keep {}{} ({}).",
                _pct(pl.col("share_of_wallet")),
                potential,
                new_plan,
                pl.when(new_plan != old_plan)
                .then(pl.format(" (today {})", old_plan))
                .otherwise(pl.lit("")),
                economics,
            )
        )
    )


def assignment_frames(
    recommendations: Recommendations,
    customers: pl.DataFrame,
    reps: pl.DataFrame,
    params: CoverageParams | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The reps and customers to hand to rep assignment (``salescope assign``'s inputs).

    Customers: the shops recommended ``add`` (no rep yet, workload of their plan, priority =
    its expected net value) and today's customers kept by reps of the same role (their rep and
    their *recommended* workload), so that the reps' load counts. Workloads are in the reps'
    capacity unit (``cycle_months``). Reps: those of the roles the adds need (not
    merchandisers), each capacity reduced by the load of its customers without coordinates.
    """
    params = params or CoverageParams()
    roles = _roles(reps)
    field_reps = reps.filter(roles != MERCHANDISER) if (roles != MERCHANDISER).any() else reps
    recs = recommendations.customers.join(
        customers.select(
            "customer_id",
            _column(customers, "latitude", pl.Float64),
            _column(customers, "longitude", pl.Float64),
            _column(customers, "region", pl.String),
        ),
        on="customer_id",
        how="left",
    ).with_columns((pl.col("minutes_per_month") * params.cycle_months).alias("workload_minutes"))
    kept = recs.filter(
        (pl.col("status") == "served")
        & pl.col("rep_id").is_in(field_reps["rep_id"].implode())
        & (pl.col("workload_minutes") > 0)
    )
    unplaced = (
        kept.filter(pl.col("latitude").is_null() | pl.col("longitude").is_null())
        .group_by("rep_id")
        .agg(pl.col("workload_minutes").sum().alias("_elsewhere"))
    )
    adds = recs.filter(pl.col("recommendation") == Recommendation.ADD.value)
    frame = pl.concat(
        [
            kept.drop_nulls(["latitude", "longitude"]).select(
                "customer_id",
                "latitude",
                "longitude",
                "workload_minutes",
                "rep_id",
                pl.lit(None, dtype=pl.Float64).alias("priority"),
                "region",
            ),
            adds.drop_nulls(["latitude", "longitude"]).select(
                "customer_id",
                "latitude",
                "longitude",
                "workload_minutes",
                pl.lit(None, dtype=pl.String).alias("rep_id"),
                pl.col("net_value").clip(0.0).alias("priority"),
                "region",
            ),
        ]
    )
    if frame["region"].null_count() == frame.height or "region" not in reps.columns:
        frame = frame.drop("region")
    staff = (
        field_reps.join(unplaced, on="rep_id", how="left")
        .with_columns(
            (pl.col("capacity_minutes") - pl.col("_elsewhere").fill_null(0.0))
            .clip(0.0)
            .alias("capacity_minutes")
        )
        .drop("_elsewhere")
    )
    return staff, frame


def assign_added(
    recommendations: Recommendations,
    customers: pl.DataFrame,
    reps: pl.DataFrame,
    params: CoverageParams | None = None,
) -> tuple[pl.DataFrame, str]:
    """Assignments of the shops recommended ``add``: customer_id, rep_id, previous_rep_id,
    distance_km — and how they were made.

    Uses the rep assignment engine (``salescope.coverage.assignment.assign``) when it is
    installed; otherwise each added shop goes to the rep it was planned on (the nearest rep of
    its role, whose free capacity the allocation already respected).
    """
    staff, frame = assignment_frames(recommendations, customers, reps, params)
    adds = recommendations.customers.filter(pl.col("recommendation") == Recommendation.ADD.value)
    assignment: Any
    try:
        assignment = importlib.import_module("salescope.coverage.assignment")
    except ImportError:
        assignment = None
    if assignment is not None and hasattr(assignment, "assign") and frame.height:
        result: Any = assignment.assign(staff, frame)
        table = result.assignments if hasattr(result, "assignments") else result
        done = table.join(adds.select("customer_id"), on="customer_id", how="semi").select(
            "customer_id",
            pl.col("rep_id").cast(pl.String),
            pl.col("previous_rep_id").cast(pl.String),
            pl.col("distance_km").cast(pl.Float64),
        )
        how = "rep assignment engine (capacity, priority, then least distance)"
    else:
        done = adds.select(
            "customer_id",
            pl.col("planning_rep_id").alias("rep_id"),
            pl.lit(None, dtype=pl.String).alias("previous_rep_id"),
            pl.col("distance_km"),
        )
        how = "nearest rep with free capacity (the rep assignment engine is not installed)"
    missing = adds.join(done, on="customer_id", how="anti").select(
        "customer_id",
        pl.lit(None, dtype=pl.String).alias("rep_id"),
        pl.lit(None, dtype=pl.String).alias("previous_rep_id"),
        pl.lit(None, dtype=pl.Float64).alias("distance_km"),
    )
    return pl.concat([done, missing]).sort("customer_id"), how
