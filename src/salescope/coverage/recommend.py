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

from salescope.coverage.params import (
    AUTOMATIC,
    DIGITAL,
    FIELD,
    MERCHANDISER,
    VIDEO,
    WHOLESALER,
    CoverageParams,
    ResponseCurve,
)
from salescope.domain.statuses import CustomerStatus, Recommendation

__all__ = ["CoverageParams", "Recommendations", "ResponseCurve", "recommend"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

NONE = "none"
REP, MERCH = "rep", "merchandiser"
TRAVELLING = (FIELD, MERCHANDISER, DIGITAL, AUTOMATIC, WHOLESALER)  # checks are field visits
UNVISITED = (DIGITAL, AUTOMATIC, WHOLESALER)  # no regular rep contact, only checks


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
    params = params or CoverageParams()
    rate = margin if margin is not None else (params.margin_rate or params.default_margin_rate)
    curve = params.response
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
    rep_km, merch_km = np.nan_to_num(rep_km), np.nan_to_num(merch_km)

    # today's plan, exactly as it is served (and costed) today
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
    effect_today = _effect(mode_now, vpm_today, params)
    minutes_today = contact_today + params.travel_in_capacity * travel_today
    cut_today = np.where(mode_now == WHOLESALER, params.wholesaler_margin_cut, 0.0)
    cost_today = 12.0 * (contact_today + travel_today) * params.cost_per_minute
    today_net = np.where(served, rate * (1.0 - cut_today) * revenue - cost_today, 0.0)

    # response: today's sales are the sales of today's plan; other plans move them along the
    # curve (down in proportion, up towards a reachable share of the wallet)
    r_today = curve(effect_today)
    buying = served & (revenue > 0) & (potential > 0)
    ceiling = np.where(buying, np.clip(share / r_today, share, params.max_ceiling), np.nan)
    typical = float(np.nanmedian(ceiling)) if np.isfinite(ceiling).any() else 0.4
    w = params.ceiling_shrinkage
    ceiling = np.where(np.isfinite(ceiling), (1 - w) * ceiling + w * typical, typical)
    reachable = np.maximum(revenue, params.max_ceiling * potential)

    # low potential and value, among today's customers
    low_potential, low_value = _low(potential, revenue, served, params.low_quantile)
    half_potential, half_value = _low(potential, revenue, served, params.reduce_quantile)
    low = low_potential & low_value
    reducible = half_potential & half_value
    room_to_grow = (1.0 - share) >= params.grow_competitor_share

    # plan matrices (shops × plans): column 0 is today's plan, then the plans on offer
    offer = plans(params, merchandisers=bool(is_merch.any()))
    plan_mode = np.array(["today", *[p.mode for p in offer]], dtype=object)
    plan_vpm = np.array([np.nan, *[p.visits_per_month for p in offer]])
    plan_resource = np.array(["today", *[p.resource for p in offer]], dtype=object)
    travel_per_visit = 2.0 / params.travel_speed_kmh * 60.0 * params.travel_share
    shape = (n, len(offer) + 1)
    net, minutes, money, sales, switch = (np.zeros(shape) for _ in range(5))
    owner = np.full(shape, -1, dtype=np.int64)
    allowed = np.ones(shape, dtype=bool)
    sales[:, 0] = np.where(served, revenue, 0.0)
    minutes[:, 0] = minutes_today
    money[:, 0] = contact_today + travel_today
    net[:, 0] = today_net
    owner[:, 0] = np.where(own_rep >= 0, own_rep, np.where(minutes_today > 0, planning_rep, -1))
    allowed[:, 0] = served
    months = 12.0 * params.horizon_years
    for j, plan in enumerate(offer, start=1):
        default = params.contact_minutes.get(plan.mode, params.contact_minutes.get(FIELD, 40.0))
        same = mode_now == plan.mode
        per_visit = np.where(same & np.isfinite(per_visit_today), per_visit_today, default)
        km = merch_km if plan.resource == MERCH else rep_km
        travel = km * travel_per_visit if plan.mode in TRAVELLING else np.zeros(n)
        opening = np.where(served | (plan.mode == NONE), 0.0, params.acquisition_minutes / months)
        minutes[:, j] = (
            plan.visits_per_month * (per_visit + params.travel_in_capacity * travel) + opening
        )
        money[:, j] = plan.visits_per_month * (per_visit + travel) + opening
        r_plan = curve(np.full(n, plan.effect))
        grown = revenue + potential * ceiling * (r_plan - r_today)
        kept = revenue * r_plan / np.maximum(r_today, 1e-9)
        customer_sales = np.minimum(np.where(r_plan <= r_today, kept, grown), reachable)
        prospect_sales = potential * typical * r_plan * chance_value * params.new_customer_ramp
        if plan.mode == NONE:
            prospect_sales = np.zeros(n)  # a prospect nobody contacts does not convert
        expected = np.where(served, customer_sales, prospect_sales)
        cut = params.wholesaler_margin_cut if plan.mode == WHOLESALER else 0.0
        cost = 12.0 * money[:, j] * params.cost_per_minute
        switching = served & ~same
        switch[:, j] = np.where(
            switching, params.switch_cost_share * rate * revenue / params.horizon_years, 0.0
        )
        sales[:, j] = expected
        net[:, j] = rate * (1.0 - cut) * expected - cost
        owner[:, j] = (
            -1
            if plan.resource == "none"
            else (planning_merch if plan.resource == MERCH else planning_rep)
        )
        if not plan.for_prospects:
            allowed[:, j] &= served
        # today's plan is column 0: the same plan on offer would be a duplicate
        duplicate = same & np.isclose(plan.visits_per_month, vpm_today)
        if plan.mode in UNVISITED:
            duplicate = same
        # fewer visits in the same mode (reduce) only for shops of low potential and value;
        # more (grow) only where competitors hold enough of the wallet to win
        fewer = served & same & (minutes[:, j] < minutes_today - 1e-9) & ~reducible
        more = served & same & (minutes[:, j] > minutes_today + 1e-9) & ~room_to_grow
        allowed[:, j] &= ~(served & duplicate) & ~fewer & ~more
        if plan.mode == NONE:
            # only a low-potential, low-value customer may lose every service
            allowed[:, j] &= ~served | low
    score = net - switch
    # stage 1: today's customers share the reps' time; stage 2: prospects get what is left
    none_col = 1
    first = allowed & served[:, None]
    first[~served, none_col] = True
    pick, shadow = _allocate(score, minutes, owner, capacity, first)
    rows = np.arange(n)
    used = owner[rows, pick]
    taken = np.bincount(
        used[used >= 0], weights=minutes[rows, pick][used >= 0], minlength=capacity.shape[0]
    )
    prospects = np.flatnonzero(~served)
    left_price = np.zeros_like(shadow)
    if prospects.size:
        pick_p, left_price = _allocate(
            score[prospects],
            minutes[prospects],
            owner[prospects],
            np.maximum(capacity - taken, 0.0),
            allowed[prospects],
        )
        pick[prospects] = pick_p
    # minutes of today's rep that the chosen plan frees (all of them when another rep or a
    # merchandiser takes the shop over)
    same_owner = owner[rows, pick] == owner[:, 0]
    freed = minutes_today - np.where(same_owner, minutes[rows, pick], 0.0)
    # safety net: a served shop never ends worse off than today without freeing rep time
    worse = served & (score[rows, pick] < today_net - 1e-6) & (freed <= 1e-9)
    pick = np.where(worse, 0, pick)
    freed = np.where(worse, 0.0, freed)

    is_today = pick == 0
    new_mode = np.where(is_today, mode_now, plan_mode[pick]).astype(object)
    new_vpm = np.where(is_today, vpm_today, plan_vpm[pick])
    new_resource = plan_resource[pick]
    new_minutes = minutes[rows, pick]
    new_sales = sales[rows, pick]
    new_net = net[rows, pick]
    new_money = money[rows, pick]
    plan_rep = np.where(new_resource == MERCH, planning_merch, planning_rep)
    plan_rep = np.where(is_today, np.where(own_rep >= 0, own_rep, planning_rep), plan_rep)
    plan_rep = np.where(new_resource == "none", -1, plan_rep)
    planned_km = np.where(new_resource == MERCH, merch_km, rep_km)

    # the best a prospect could bring, for the reason of one not added
    free_score = np.where(allowed, score, -np.inf)
    free_score[:, 0] = -np.inf  # today's plan
    free_score[:, none_col] = -np.inf  # no contact: not a way of serving it
    best_plan = np.argmax(free_score, axis=1)
    best_free = free_score[rows, best_plan]
    competitor = np.where(potential > 0, 1.0 - share, 0.0)

    label = np.full(n, Recommendation.KEEP.value, dtype=object)
    prospect_add = ~served & (new_mode != NONE) & (chance_value >= params.min_add_chance)
    no_contact = np.isin(new_mode, [NONE, *UNVISITED])
    drop = (
        served
        & ~is_today
        & low
        & no_contact
        & (~np.isin(mode_now, list(UNVISITED)) | (new_mode == NONE))
    )
    same_mode = served & ~is_today & (new_mode == mode_now)
    grow = same_mode & ~drop & (new_minutes > minutes_today + 1e-9)
    reduce = same_mode & ~drop & (new_minutes < minutes_today - 1e-9)
    change = served & ~is_today & ~drop & (new_mode != mode_now)
    label[~served] = Recommendation.NOT_NOW.value
    label[prospect_add] = Recommendation.ADD.value
    label[drop] = Recommendation.DROP.value
    label[grow] = Recommendation.GROW.value
    label[reduce] = Recommendation.REDUCE.value
    label[change] = Recommendation.CHANGE_MODE.value
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
    planned_on = np.where(served & (plan_rep < 0), np.maximum(own_rep, planning_rep), planned_on)
    planning_id = _strings(rep_ids[np.maximum(planned_on, 0)], planned_on >= 0)
    at = np.maximum(planned_on, 0)
    rep_price = np.where(planned_on >= 0, np.where(served, shadow[at], left_price[at]), 0.0)
    best_mode = plan_mode[best_plan]
    best_vpm = plan_vpm[best_plan]
    result = pl.DataFrame(
        {
            "customer_id": frame["customer_id"],
            "status": np.where(served, "served", "prospect"),
            "recommendation": label.tolist(),
            "interaction_mode": out_mode,
            "visits_per_month": np.round(out_vpm, 2),
            "rep_id": out_rep,
            "planning_rep_id": planning_id,
            "current_mode": _strings(mode_now, served),
            "current_visits_per_month": np.round(vpm_today, 2),
            "service_source": frame["service_source"].fill_null(
                pl.Series(np.where(served, np.where(unknown_mode, "default", "given"), "prospect"))
            ),
            "minutes_today": minutes_today,
            "minutes_per_month": np.where(not_added, 0.0, new_minutes),
            "minutes_freed": np.where(served, freed, 0.0),
            "current_rep_id": _strings(rep_ids[np.maximum(owner[:, 0], 0)], owner[:, 0] >= 0),
            "chance": np.where(served, np.nan, chance_value),
            "expected_sales": np.where(not_added, 0.0, new_sales),
            "cost_to_serve": np.where(not_added, 0.0, 12.0 * new_money * params.cost_per_minute),
            "expected_margin_current": today_net,
            "expected_margin_recommended": np.where(not_added, 0.0, new_net),
            "cost_today": cost_today,
            "margin_today": np.where(served, rate * (1.0 - cut_today) * revenue, 0.0),
            "low_potential": low_potential,
            "low_value": low_value,
            "lower_half": reducible,
            "competitor_share": np.where(served, competitor, np.nan),
            "distance_km": planned_km,
            "best_net_value": np.where(np.isfinite(best_free), best_free, 0.0),
            "best_mode": _strings(best_mode, np.isfinite(best_free) & (best_mode != NONE)),
            "best_visits_per_month": np.nan_to_num(best_vpm),
            "rep_price": rep_price,
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
        maintain_order="left",
    )
    from salescope.coverage.reasons import reason

    result = result.with_columns(reason(params, rate).alias("reason"))
    plan_minutes = result.select(
        pl.col("planning_rep_id").alias("rep_id"), pl.col("minutes_per_month")
    )
    load_new = plan_minutes.group_by("rep_id").agg(pl.col("minutes_per_month").sum())
    today_owner = owner[:, 0]
    today_rep = _strings(rep_ids[np.maximum(today_owner, 0)], today_owner >= 0)
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
        "net_value_recommended": float(result["expected_margin_recommended"].fill_null(0).sum()),
        "minutes_today": float(minutes_today.sum()),
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
                pl.col("expected_margin_recommended").clip(0.0).alias("priority"),
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
    assign_params: Any = None,
) -> tuple[pl.DataFrame, str]:
    """Assignments of the shops recommended ``add``: customer_id, rep_id, previous_rep_id,
    distance_km — and how they were made.

    The rep assignment engine (``salescope.coverage.assignment.assign``, with
    ``assign_params``) places the added shops that have coordinates; an added shop without
    coordinates goes to the rep it was planned on (the nearest rep of its role, whose free
    capacity the allocation already respected).
    """
    from salescope.coverage.assignment import AssignParams, assign

    staff, frame = assignment_frames(recommendations, customers, reps, params)
    adds = recommendations.customers.filter(pl.col("recommendation") == Recommendation.ADD.value)
    placed = frame.filter(pl.col("rep_id").is_null()) if frame.height else frame
    parts: list[pl.DataFrame] = []
    how = "no shop to add"
    if placed.height:
        result = assign(staff, frame, assign_params or AssignParams(time_limit_seconds=20))
        parts.append(
            result.assignments.join(
                adds.select("customer_id"), on="customer_id", how="semi"
            ).select(
                "customer_id",
                pl.col("rep_id").cast(pl.String),
                pl.col("previous_rep_id").cast(pl.String),
                pl.col("distance_km").cast(pl.Float64),
            )
        )
        how = (
            "rep assignment engine (capacity, priority, then least distance; "
            f"{result.unassigned:,} left unassigned, gap {result.gap:.2%})"
        )
    rest = adds.join(pl.concat(parts) if parts else adds.head(0), on="customer_id", how="anti")
    if rest.height:
        parts.append(
            rest.select(
                "customer_id",
                pl.col("planning_rep_id").alias("rep_id"),
                pl.lit(None, dtype=pl.String).alias("previous_rep_id"),
                pl.col("distance_km"),
            )
        )
        how = (
            f"{how}; " if placed.height else ""
        ) + f"{rest.height:,} without coordinates on the nearest rep planned for them"
    if not parts:
        return (
            pl.DataFrame(
                schema={
                    "customer_id": pl.String,
                    "rep_id": pl.String,
                    "previous_rep_id": pl.String,
                    "distance_km": pl.Float64,
                }
            ),
            how,
        )
    return pl.concat(parts).sort("customer_id"), how
