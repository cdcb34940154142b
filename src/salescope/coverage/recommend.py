"""Recommendations per shop — add or not now; keep, grow, reduce, drop, change mode — under
capacity.

The allocation follows CALLPLAN (Lodish 1971): each shop's sales respond to the contact it gets
with diminishing returns, and the reps' time goes where it brings the most margin.

* **Plans.** Every way of serving a shop is a plan: field visits (0.5, 1, 2, 4 a month), video
  calls (1, 2), merchandiser visits (2, 4; served shops, when merchandisers exist), a digital
  ordering platform, automatic replenishment, the wholesaler's staff (these three with a field
  check every few months), or nothing — and, for a served shop, *today's plan* exactly as it
  is served today (``today.todays_service``: as given, from the visit log, or inferred). A
  plan costs rep minutes per month (contact minutes: the shop's own visit length where the
  visit log shows it, else ``contact_minutes`` by mode) and money (minutes and travel at
  ``cost_per_minute``).
* **Response.** A plan gives a shop ``effect`` contacts a month (field visit 1, merchandiser
  visit 1.3, video call 0.6; digital 0.4, automatic 0.5, wholesaler 0.3 in all) and the ADBUDG
  curve ``r(f) = floor + (1 − floor) f^c / (d^c + f^c)`` says how sales respond. A served
  shop's sales under today's plan are today's sales; less contact scales them down along the
  curve, more contact adds ``potential × ceiling × Δr`` (ceiling: its share of wallet over
  r(today), shrunk towards our customers' median, at most ``max_ceiling``). A prospect gets the
  median ceiling × its look-alike chance × the first-year ramp; nobody converts without
  contact. The curve's parameters are judgmental, as in CALLPLAN: cross-sectional data cannot
  give them (the visit frequency was usually set *from* the shop's value).
* **Allocation.** Each shop gets the plan maximising margin − serving cost − λ × minutes,
  where λ is the shadow price of its rep's time, found per rep by bisection so that no rep
  exceeds its capacity (Lagrangian relaxation of the multiple-choice knapsack). A change of
  mode costs ``switch_cost_share`` of the yearly margin (spread over ``horizon_years``).
  Today's customers are planned first; prospects get the capacity left, on their nearest rep
  (``salescope assign`` then picks the actual rep). Since today's plan is always on offer, a
  plan worth less than today is only chosen to free the rep's time — which the reason names —
  and a last check keeps today's plan otherwise.
* **Recommendation.** Prospects: ``add`` (a plan, and a look-alike chance of at least
  ``min_add_chance``) or ``not_now``. Served shops: ``keep`` (today's plan); ``drop`` (bottom
  ``low_quantile`` of both potential and sales, leaving the visit list); ``grow`` / ``reduce``
  (the same mode with more / fewer rep minutes: more only where competitors hold at least
  ``grow_competitor_share`` of the wallet, fewer only in the bottom ``reduce_quantile`` of both
  potential and sales); ``change_mode`` (another mode). Reasons: ``reasons.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from salescope.coverage.handover import assign_added, assignment_frames
from salescope.coverage.params import (
    DIGITAL,
    FIELD,
    MERCHANDISER,
    WHOLESALER,
    CoverageParams,
    ResponseCurve,
)
from salescope.coverage.plans import (
    MERCH,
    NONE,
    TRAVELLING,
    UNVISITED,
    Plan,
    Recommendations,
    _column,
    _roles,
    allocate,
    effect,
    plans,
)
from salescope.domain.statuses import CustomerStatus, Recommendation

__all__ = [
    "CoverageParams",
    "Recommendations",
    "ResponseCurve",
    "assign_added",
    "assignment_frames",
    "recommend",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


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


def _nearest(
    lat: FloatArray, lon: FloatArray, reps: pl.DataFrame, mask: npt.NDArray[np.bool_]
) -> tuple[IntArray, FloatArray]:
    """Index (into reps) and distance of the nearest rep among ``mask`` for each shop."""
    from salescope.geo import NeighbourIndex

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


@dataclass(slots=True)
class _Shops:
    """The shops as the recommendation reads them, in the order of ``customers``."""

    frame: pl.DataFrame
    n: int
    revenue: FloatArray
    served: BoolArray
    potential: FloatArray
    share: FloatArray
    chance: FloatArray


def _read_shops(customers: pl.DataFrame, kpis: pl.DataFrame, chance: pl.DataFrame | None) -> _Shops:
    """Today's mode and visits, status, KPIs and look-alike chance of every shop."""
    n = customers.height
    status = (
        customers["status"]
        if "status" in customers.columns
        else pl.Series("status", [None] * n, dtype=pl.String)
    )
    mode_given = (
        pl.coalesce(_column(customers, "current_mode", pl.String), pl.col("interaction_mode"))
        if "interaction_mode" in customers.columns
        else _column(customers, "current_mode", pl.String)
    )
    frame = (
        customers.select(
            "customer_id",
            status.alias("status_given"),
            mode_given.alias("mode_today"),
            _column(customers, "current_visits_per_month", pl.Float64).alias("_vpm_given"),
            _column(customers, "service_source", pl.String),
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
    revenue = np.nan_to_num(_array(frame, "revenue_annualised"))
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
    return _Shops(frame, n, revenue, served, potential, share, chance_value)


@dataclass(slots=True)
class _Reach:
    """Who can serve each shop and how far away: its rep today, the nearest rep and
    merchandiser; the reps' capacity a month."""

    roles: pl.Series
    rep_ids: npt.NDArray[Any]
    is_merch: BoolArray
    capacity: FloatArray
    own_rep: IntArray
    planning_rep: IntArray
    planning_merch: IntArray
    rep_km: FloatArray
    merch_km: FloatArray


def _reach(frame: pl.DataFrame, reps: pl.DataFrame, params: CoverageParams) -> _Reach:
    """The reps and merchandisers each shop's plans would use, and their distances."""
    lat, lon = _array(frame, "latitude"), _array(frame, "longitude")
    roles = _roles(reps)
    rep_ids = reps["rep_id"].to_numpy()
    is_merch = np.asarray((roles == MERCHANDISER).to_numpy(), dtype=bool)
    is_rep = ~is_merch
    if not is_rep.any():  # only merchandisers: they do everything
        is_rep = np.ones_like(is_merch)
    capacity = (
        reps["capacity_minutes"].to_numpy().astype(np.float64)
        * params.capacity_share
        / params.cycle_months
    )
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
    return _Reach(
        roles,
        rep_ids,
        is_merch,
        capacity,
        own_rep,
        planning_rep,
        planning_merch,
        np.nan_to_num(rep_km),
        np.nan_to_num(merch_km),
    )


@dataclass(slots=True)
class _Today:
    """Today's plan of every shop, exactly as it is served (and costed) today."""

    vpm: FloatArray
    mode: npt.NDArray[np.object_]
    unknown_mode: BoolArray
    contact: FloatArray
    travel: FloatArray
    per_visit: FloatArray
    minutes: FloatArray
    cut: FloatArray
    cost: FloatArray
    net: FloatArray
    response: FloatArray  # the response curve at today's contacts


def _today(shops: _Shops, params: CoverageParams, rate: float) -> _Today:
    """Today's plan: its mode and visits, rep minutes, cost and net margin."""
    frame, served, revenue = shops.frame, shops.served, shops.revenue
    vpm_today = np.where(
        np.isfinite(_array(frame, "_vpm_given")),
        _array(frame, "_vpm_given"),
        np.nan_to_num(_array(frame, "visits_per_month")),
    )
    vpm_today = np.where(served, vpm_today, 0.0)
    mode_now = frame["mode_today"].fill_null("").to_numpy().astype(object)
    unknown_mode = served & (mode_now == "")
    mode_now = np.where(unknown_mode, np.where(vpm_today > 0, FIELD, DIGITAL), mode_now)
    mode_now = np.where(served, mode_now, "").astype(object)
    contact_today = np.where(served, np.nan_to_num(_array(frame, "visit_minutes_per_month")), 0.0)
    travel_today = np.where(served, np.nan_to_num(_array(frame, "travel_minutes_per_month")), 0.0)
    per_visit_today = np.where(vpm_today > 0, contact_today / np.maximum(vpm_today, 1e-9), np.nan)
    effect_today = effect(mode_now, vpm_today, params)
    minutes_today = contact_today + params.travel_in_capacity * travel_today
    cut_today = np.where(mode_now == WHOLESALER, params.wholesaler_margin_cut, 0.0)
    cost_today = 12.0 * (contact_today + travel_today) * params.cost_per_minute
    today_net = np.where(served, rate * (1.0 - cut_today) * revenue - cost_today, 0.0)
    return _Today(
        vpm_today,
        mode_now,
        unknown_mode,
        contact_today,
        travel_today,
        per_visit_today,
        minutes_today,
        cut_today,
        cost_today,
        today_net,
        params.response(effect_today),
    )


@dataclass(slots=True)
class _Rules:
    """The shops the rules allow to grow, reduce or drop, and their sales response."""

    low_potential: BoolArray
    low_value: BoolArray
    low: BoolArray  # may lose every service
    reducible: BoolArray  # may get fewer visits in the same mode
    room_to_grow: BoolArray  # may get more visits in the same mode
    ceiling: FloatArray  # share of the wallet reachable, per shop
    typical: float  # the median ceiling (prospects)
    reachable: FloatArray


def _rules(shops: _Shops, today: _Today, params: CoverageParams) -> _Rules:
    """Low potential and value among today's customers, and the response: today's sales are
    the sales of today's plan; other plans move them along the curve (down in proportion, up
    towards a reachable share of the wallet)."""
    served, revenue, potential, share = shops.served, shops.revenue, shops.potential, shops.share
    buying = served & (revenue > 0) & (potential > 0)
    ceiling = np.where(buying, np.clip(share / today.response, share, params.max_ceiling), np.nan)
    typical = float(np.nanmedian(ceiling)) if np.isfinite(ceiling).any() else 0.4
    w = params.ceiling_shrinkage
    ceiling = np.where(np.isfinite(ceiling), (1 - w) * ceiling + w * typical, typical)
    reachable = np.maximum(revenue, params.max_ceiling * potential)
    low_potential, low_value = _low(potential, revenue, served, params.low_quantile)
    half_potential, half_value = _low(potential, revenue, served, params.reduce_quantile)
    return _Rules(
        low_potential,
        low_value,
        low_potential & low_value,
        half_potential & half_value,
        (1.0 - share) >= params.grow_competitor_share,
        ceiling,
        typical,
        reachable,
    )


@dataclass(slots=True)
class _Options:
    """Plan matrices (shops × plans): column 0 is today's plan, then the plans on offer."""

    mode: npt.NDArray[np.object_]
    vpm: FloatArray
    resource: npt.NDArray[np.object_]
    net: FloatArray
    minutes: FloatArray
    money: FloatArray
    sales: FloatArray
    switch: FloatArray
    owner: IntArray
    allowed: BoolArray


def _options(
    shops: _Shops,
    reach: _Reach,
    today: _Today,
    rules: _Rules,
    params: CoverageParams,
    rate: float,
) -> _Options:
    """Every plan of every shop valued the same way, and the plans the rules allow."""
    n, served = shops.n, shops.served
    offer = plans(params, merchandisers=bool(reach.is_merch.any()))
    shape = (n, len(offer) + 1)
    opts = _Options(
        mode=np.array(["today", *[p.mode for p in offer]], dtype=object),
        vpm=np.array([np.nan, *[p.visits_per_month for p in offer]]),
        resource=np.array(["today", *[p.resource for p in offer]], dtype=object),
        net=np.zeros(shape),
        minutes=np.zeros(shape),
        money=np.zeros(shape),
        sales=np.zeros(shape),
        switch=np.zeros(shape),
        owner=np.full(shape, -1, dtype=np.int64),
        allowed=np.ones(shape, dtype=bool),
    )
    opts.sales[:, 0] = np.where(served, shops.revenue, 0.0)
    opts.minutes[:, 0] = today.minutes
    opts.money[:, 0] = today.contact + today.travel
    opts.net[:, 0] = today.net
    opts.owner[:, 0] = np.where(
        reach.own_rep >= 0, reach.own_rep, np.where(today.minutes > 0, reach.planning_rep, -1)
    )
    opts.allowed[:, 0] = served
    for j, plan in enumerate(offer, start=1):
        _value_plan(opts, j, plan, shops, reach, today, rules, params, rate)
    return opts


def _value_plan(
    opts: _Options,
    j: int,
    plan: Plan,
    shops: _Shops,
    reach: _Reach,
    today: _Today,
    rules: _Rules,
    params: CoverageParams,
    rate: float,
) -> None:
    """Column ``j`` of the plan matrices: plan ``plan`` for every shop."""
    n, served, revenue, potential = shops.n, shops.served, shops.revenue, shops.potential
    months = 12.0 * params.horizon_years
    travel_per_visit = 2.0 / params.travel_speed_kmh * 60.0 * params.travel_share
    default = params.contact_minutes.get(plan.mode, params.contact_minutes.get(FIELD, 40.0))
    same = today.mode == plan.mode
    per_visit = np.where(same & np.isfinite(today.per_visit), today.per_visit, default)
    km = reach.merch_km if plan.resource == MERCH else reach.rep_km
    travel = km * travel_per_visit if plan.mode in TRAVELLING else np.zeros(n)
    opening = np.where(served | (plan.mode == NONE), 0.0, params.acquisition_minutes / months)
    opts.minutes[:, j] = (
        plan.visits_per_month * (per_visit + params.travel_in_capacity * travel) + opening
    )
    opts.money[:, j] = plan.visits_per_month * (per_visit + travel) + opening
    r_plan = params.response(np.full(n, plan.effect))
    r_today = today.response
    grown = revenue + potential * rules.ceiling * (r_plan - r_today)
    kept = revenue * r_plan / np.maximum(r_today, 1e-9)
    customer_sales = np.minimum(np.where(r_plan <= r_today, kept, grown), rules.reachable)
    prospect_sales = potential * rules.typical * r_plan * shops.chance * params.new_customer_ramp
    if plan.mode == NONE:
        prospect_sales = np.zeros(n)  # a prospect nobody contacts does not convert
    expected = np.where(served, customer_sales, prospect_sales)
    cut = params.wholesaler_margin_cut if plan.mode == WHOLESALER else 0.0
    cost = 12.0 * opts.money[:, j] * params.cost_per_minute
    switching = served & ~same
    opts.switch[:, j] = np.where(
        switching, params.switch_cost_share * rate * revenue / params.horizon_years, 0.0
    )
    opts.sales[:, j] = expected
    opts.net[:, j] = rate * (1.0 - cut) * expected - cost
    opts.owner[:, j] = (
        -1
        if plan.resource == "none"
        else (reach.planning_merch if plan.resource == MERCH else reach.planning_rep)
    )
    if not plan.for_prospects:
        opts.allowed[:, j] &= served
    # today's plan is column 0: the same plan on offer would be a duplicate
    duplicate = same & np.isclose(plan.visits_per_month, today.vpm)
    if plan.mode in UNVISITED:
        duplicate = same
    # fewer visits in the same mode (reduce) only for shops of low potential and value;
    # more (grow) only where competitors hold enough of the wallet to win
    minutes_today = today.minutes
    fewer = served & same & (opts.minutes[:, j] < minutes_today - 1e-9) & ~rules.reducible
    more = served & same & (opts.minutes[:, j] > minutes_today + 1e-9) & ~rules.room_to_grow
    opts.allowed[:, j] &= ~(served & duplicate) & ~fewer & ~more
    if plan.mode == NONE:
        # only a low-potential, low-value customer may lose every service
        opts.allowed[:, j] &= ~served | rules.low


_NONE_COLUMN = 1  # the plan "none" (the first on offer, after today's)


@dataclass(slots=True)
class _Choice:
    """The plan chosen per shop and the reps' prices of time."""

    score: FloatArray  # net value minus switching cost, shops × plans
    pick: IntArray
    shadow: FloatArray  # price of each rep's time, today's customers
    left_price: FloatArray  # price of each rep's time left, prospects
    freed: FloatArray  # minutes of today's rep the chosen plan frees


def _choose(opts: _Options, shops: _Shops, reach: _Reach, today: _Today) -> _Choice:
    """Today's customers share the reps' time first; prospects get what is left."""
    served, n = shops.served, shops.n
    score = opts.net - opts.switch
    minutes, owner, capacity = opts.minutes, opts.owner, reach.capacity
    first = opts.allowed & served[:, None]
    first[~served, _NONE_COLUMN] = True
    pick, shadow = allocate(score, minutes, owner, capacity, first)
    rows = np.arange(n)
    used = owner[rows, pick]
    taken = np.bincount(
        used[used >= 0], weights=minutes[rows, pick][used >= 0], minlength=capacity.shape[0]
    )
    prospects = np.flatnonzero(~served)
    left_price = np.zeros_like(shadow)
    if prospects.size:
        pick_p, left_price = allocate(
            score[prospects],
            minutes[prospects],
            owner[prospects],
            np.maximum(capacity - taken, 0.0),
            opts.allowed[prospects],
        )
        pick[prospects] = pick_p
    # minutes of today's rep that the chosen plan frees (all of them when another rep or a
    # merchandiser takes the shop over)
    same_owner = owner[rows, pick] == owner[:, 0]
    freed = today.minutes - np.where(same_owner, minutes[rows, pick], 0.0)
    # safety net: a served shop never ends worse off than today without freeing rep time
    worse = served & (score[rows, pick] < today.net - 1e-6) & (freed <= 1e-9)
    pick = np.where(worse, 0, pick)
    freed = np.where(worse, 0.0, freed)
    return _Choice(score, pick, shadow, left_price, freed)


@dataclass(slots=True)
class _Chosen:
    """The chosen plan of every shop, read out of the plan matrices."""

    is_today: BoolArray
    mode: npt.NDArray[np.object_]
    vpm: FloatArray
    minutes: FloatArray
    sales: FloatArray
    net: FloatArray
    money: FloatArray
    plan_rep: IntArray
    planned_km: FloatArray


def _chosen(opts: _Options, choice: _Choice, today: _Today, reach: _Reach) -> _Chosen:
    """The chosen plans' mode, visits, minutes, sales, margin and rep."""
    pick = choice.pick
    rows = np.arange(pick.shape[0])
    is_today = pick == 0
    new_resource = opts.resource[pick]
    plan_rep = np.where(new_resource == MERCH, reach.planning_merch, reach.planning_rep)
    own_rep = reach.own_rep
    plan_rep = np.where(is_today, np.where(own_rep >= 0, own_rep, reach.planning_rep), plan_rep)
    plan_rep = np.where(new_resource == "none", -1, plan_rep)
    return _Chosen(
        is_today,
        np.where(is_today, today.mode, opts.mode[pick]).astype(object),
        np.where(is_today, today.vpm, opts.vpm[pick]),
        opts.minutes[rows, pick],
        opts.sales[rows, pick],
        opts.net[rows, pick],
        opts.money[rows, pick],
        plan_rep,
        np.where(new_resource == MERCH, reach.merch_km, reach.rep_km),
    )


def _labels(
    shops: _Shops, today: _Today, rules: _Rules, chosen: _Chosen, params: CoverageParams
) -> npt.NDArray[np.object_]:
    """The recommendation of every shop (``Recommendation`` values)."""
    served, new_mode, mode_now = shops.served, chosen.mode, today.mode
    label = np.full(shops.n, Recommendation.KEEP.value, dtype=object)
    prospect_add = ~served & (new_mode != NONE) & (shops.chance >= params.min_add_chance)
    no_contact = np.isin(new_mode, [NONE, *UNVISITED])
    drop = (
        served
        & ~chosen.is_today
        & rules.low
        & no_contact
        & (~np.isin(mode_now, list(UNVISITED)) | (new_mode == NONE))
    )
    same_mode = served & ~chosen.is_today & (new_mode == mode_now)
    grow = same_mode & ~drop & (chosen.minutes > today.minutes + 1e-9)
    reduce = same_mode & ~drop & (chosen.minutes < today.minutes - 1e-9)
    change = served & ~chosen.is_today & ~drop & (new_mode != mode_now)
    label[~served] = Recommendation.NOT_NOW.value
    label[prospect_add] = Recommendation.ADD.value
    label[drop] = Recommendation.DROP.value
    label[grow] = Recommendation.GROW.value
    label[reduce] = Recommendation.REDUCE.value
    label[change] = Recommendation.CHANGE_MODE.value
    return label


def _result_frame(
    shops: _Shops,
    reach: _Reach,
    today: _Today,
    rules: _Rules,
    opts: _Options,
    choice: _Choice,
    chosen: _Chosen,
    params: CoverageParams,
    rate: float,
) -> pl.DataFrame:
    """One row per shop: the recommendation, both plans, their economics and evidence."""
    served, n, rep_ids, own_rep = shops.served, shops.n, reach.rep_ids, reach.own_rep
    rows = np.arange(n)
    label = _labels(shops, today, rules, chosen, params)
    # the best a prospect could bring, for the reason of one not added
    free_score = np.where(opts.allowed, choice.score, -np.inf)
    free_score[:, 0] = -np.inf  # today's plan
    free_score[:, _NONE_COLUMN] = -np.inf  # no contact: not a way of serving it
    best_plan = np.argmax(free_score, axis=1)
    best_free = free_score[rows, best_plan]
    competitor = np.where(shops.potential > 0, 1.0 - shops.share, 0.0)
    not_added = ~served & (label != Recommendation.ADD.value)
    out_mode = _strings(chosen.mode, ~(not_added | (chosen.mode == NONE)))
    out_vpm = np.where(not_added, 0.0, chosen.vpm)
    # served shops keep their rep unless their plan needs the other role (rep ↔ merchandiser)
    plan_rep = chosen.plan_rep
    keeps_rep = (own_rep >= 0) & (plan_rep == own_rep)
    out_rep_index = np.where(served & (plan_rep >= 0), np.where(keeps_rep, own_rep, plan_rep), -1)
    out_rep_index = np.where(label == Recommendation.DROP.value, -1, out_rep_index)
    out_rep = _strings(rep_ids[np.maximum(out_rep_index, 0)], out_rep_index >= 0)
    # a prospect not added is still planned on (and reported with) its nearest rep
    planned_on = np.where(~served & (plan_rep < 0), reach.planning_rep, plan_rep)
    planned_on = np.where(
        served & (plan_rep < 0), np.maximum(own_rep, reach.planning_rep), planned_on
    )
    planning_id = _strings(rep_ids[np.maximum(planned_on, 0)], planned_on >= 0)
    at = np.maximum(planned_on, 0)
    rep_price = np.where(
        planned_on >= 0, np.where(served, choice.shadow[at], choice.left_price[at]), 0.0
    )
    best_mode = opts.mode[best_plan]
    frame, owner = shops.frame, opts.owner
    result = pl.DataFrame(
        {
            "customer_id": frame["customer_id"],
            "status": np.where(served, "served", "prospect"),
            "recommendation": label.tolist(),
            "interaction_mode": out_mode,
            "visits_per_month": np.round(out_vpm, 2),
            "rep_id": out_rep,
            "planning_rep_id": planning_id,
            "current_mode": _strings(today.mode, served),
            "current_visits_per_month": np.round(today.vpm, 2),
            "service_source": frame["service_source"].fill_null(
                pl.Series(
                    np.where(served, np.where(today.unknown_mode, "default", "given"), "prospect")
                )
            ),
            "minutes_today": today.minutes,
            "minutes_per_month": np.where(not_added, 0.0, chosen.minutes),
            "minutes_freed": np.where(served, choice.freed, 0.0),
            "current_rep_id": _strings(rep_ids[np.maximum(owner[:, 0], 0)], owner[:, 0] >= 0),
            "chance": np.where(served, np.nan, shops.chance),
            "expected_sales": np.where(not_added, 0.0, chosen.sales),
            "cost_to_serve": np.where(not_added, 0.0, 12.0 * chosen.money * params.cost_per_minute),
            "expected_margin_current": today.net,
            "expected_margin_recommended": np.where(not_added, 0.0, chosen.net),
            "cost_today": today.cost,
            "margin_today": np.where(served, rate * (1.0 - today.cut) * shops.revenue, 0.0),
            "low_potential": rules.low_potential,
            "low_value": rules.low_value,
            "lower_half": rules.reducible,
            "competitor_share": np.where(served, competitor, np.nan),
            "distance_km": chosen.planned_km,
            "best_net_value": np.where(np.isfinite(best_free), best_free, 0.0),
            "best_mode": _strings(best_mode, np.isfinite(best_free) & (best_mode != NONE)),
            "best_visits_per_month": np.nan_to_num(opts.vpm[best_plan]),
            "rep_price": rep_price,
        }
    ).with_columns(pl.col(pl.Float64).fill_nan(None))
    return result.join(
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
        maintain_order="left",
    )


def _rep_loads(
    result: pl.DataFrame,
    reps: pl.DataFrame,
    reach: _Reach,
    today: _Today,
    opts: _Options,
    choice: _Choice,
) -> pl.DataFrame:
    """Each rep's capacity, load today and recommended, and the price of its time."""
    plan_minutes = result.select(
        pl.col("planning_rep_id").alias("rep_id"), pl.col("minutes_per_month")
    )
    load_new = plan_minutes.group_by("rep_id").agg(pl.col("minutes_per_month").sum())
    today_owner = opts.owner[:, 0]
    today_rep = _strings(reach.rep_ids[np.maximum(today_owner, 0)], today_owner >= 0)
    load_today = (
        pl.DataFrame({"rep_id": today_rep, "m": today.minutes})
        .group_by("rep_id")
        .agg(pl.col("m").sum())
    )
    return (
        reps.select("rep_id", reach.roles.alias("role"))
        .with_columns(
            pl.Series("capacity", reach.capacity),
            pl.Series("shadow_price", np.round(choice.shadow, 4)),
        )
        .join(load_today.rename({"m": "load_today"}), on="rep_id", how="left")
        .join(load_new.rename({"minutes_per_month": "load_recommended"}), on="rep_id", how="left")
        .with_columns(pl.col("load_today", "load_recommended").fill_null(0.0))
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
    look-alike chance (default 0.3 for all); ``margin`` the gross margin rate. Today's service
    is ``current_mode`` / ``current_visits_per_month`` of ``customers`` when present (from
    ``today.todays_service``), else its ``interaction_mode`` / the KPIs' visits a month.
    """
    from salescope.coverage.reasons import reason

    params = params or CoverageParams()
    rate = margin if margin is not None else (params.margin_rate or params.default_margin_rate)
    shops = _read_shops(customers, kpis, chance)
    reach = _reach(shops.frame, reps, params)
    today = _today(shops, params, rate)
    rules = _rules(shops, today, params)
    opts = _options(shops, reach, today, rules, params, rate)
    choice = _choose(opts, shops, reach, today)
    chosen = _chosen(opts, choice, today, reach)
    result = _result_frame(shops, reach, today, rules, opts, choice, chosen, params, rate)
    result = result.with_columns(reason(params, rate).alias("reason"))
    loads = _rep_loads(result, reps, reach, today, opts, choice)
    summary = {
        "margin_rate": rate,
        "net_value_today": float(today.net[shops.served].sum()),
        "net_value_recommended": float(result["expected_margin_recommended"].fill_null(0).sum()),
        "minutes_today": float(today.minutes.sum()),
        "minutes_recommended": float(result["minutes_per_month"].sum()),
    }
    return Recommendations(customers=result, loads=loads, margin_rate=rate, summary=summary)


def _low(
    potential: FloatArray, revenue: FloatArray, served: npt.NDArray[np.bool_], quantile: float
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Shops whose potential, and whose sales, are in the bottom ``quantile`` of today's
    customers (numpy's linear quantile over the served shops)."""
    if not served.any():
        none = np.zeros(potential.shape[0], dtype=bool)
        return none, none.copy()
    low_potential = potential <= np.quantile(potential[served], quantile)
    low_value = revenue <= np.quantile(revenue[served], quantile)
    return np.asarray(low_potential & served), np.asarray(low_value & served)


def _strings(values: npt.NDArray[Any], keep: npt.NDArray[np.bool_]) -> pl.Series:
    """Text values as a Series, null where ``keep`` is false."""
    series = pl.Series(np.asarray(values).astype(str), dtype=pl.String)
    return series.scatter(np.flatnonzero(~keep), None) if (~keep).any() else series


def _array(frame: pl.DataFrame, name: str) -> FloatArray:
    if name not in frame.columns:
        return np.full(frame.height, np.nan)
    return np.asarray(frame[name].cast(pl.Float64).fill_null(np.nan).to_numpy(), np.float64)
