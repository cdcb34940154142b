"""The simulation of the demo's order lines (history and horizon) and adoptions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from salescope.data.demo.behaviour import _Schedule, _Taste
from salescope.data.demo.catalogue import _Products
from salescope.data.demo.commercial import _objective_eligible, _Objectives, _Promotions
from salescope.data.demo.common import _Calendar, _concat_float, _concat_int
from salescope.data.demo.config import DemoConfig
from salescope.data.demo.constants import CATEGORIES, NEVER, BoolArray, FloatArray, IntArray
from salescope.data.demo.people import _Params
from salescope.data.demo.world import _Shops

Float32Array = npt.NDArray[np.float32]
Int32Array = npt.NDArray[np.int32]


def _set_budgets(rng: np.random.Generator, cal: _Calendar, promos: _Promotions, sim: _Sim) -> None:
    """Budgets a planner would have set: the uses the promotion had, with 20-100 % to spare."""
    uses = np.bincount(sim.promo[sim.promo >= 0], minlength=promos.n).astype(np.float64)
    length = (promos.end - promos.start + 1).astype(np.float64)
    seen = np.clip(np.minimum(promos.end, cal.total_days - 1) - promos.start + 1, 1, None)
    expected = uses * length / seen
    budget = np.ceil(np.maximum(expected, 5) * rng.uniform(1.2, 2.0, promos.n) / 10) * 10
    promos.budget = budget


# ---------------------------------------------------------------------------------------------
# The simulation of the order lines
# ---------------------------------------------------------------------------------------------


@dataclass
class _Sim:
    """Every generated line (history and horizon), plus adoption events."""

    shop: IntArray  # served index
    day: IntArray
    product: IntArray
    quantity: FloatArray
    amount: FloatArray
    unit_price: FloatArray
    promo: IntArray
    order_shop: IntArray  # one row per order
    order_day: IntArray
    adopt_shop: IntArray
    adopt_product: IntArray
    adopt_day: IntArray
    adopt_promo: IntArray


def _season(cfg: DemoConfig) -> FloatArray:
    """category × month (index 0 unused) factor, mean 1 over the year."""
    table = np.ones((cfg.n_categories, 13))
    months = np.arange(1, 13)
    for c, cat in enumerate(CATEGORIES[: cfg.n_categories]):
        table[c, 1:] = 1 + cat.season_amplitude * np.cos(
            2 * np.pi * (months - cat.season_peak) / 12
        )
    return table


@dataclass(frozen=True)
class _World:
    """What every chunk of the simulation reads: the world and its per-product arrays."""

    cfg: DemoConfig
    cal: _Calendar
    products: _Products
    taste: _Taste
    promos: _Promotions
    objectives: _Objectives
    season: FloatArray
    promo_elig: BoolArray
    promo_cols: list[IntArray]
    obj_elig: BoolArray
    new_years: IntArray  # day indices of each 1 January inside the history
    churn: IntArray
    trend: FloatArray

    @property
    def j(self) -> int:
        return self.products.n_own


def _simulate(
    rng: np.random.Generator,
    cfg: DemoConfig,
    cal: _Calendar,
    shops: _Shops,
    params: _Params,
    products: _Products,
    taste: _Taste,
    schedule: _Schedule,
    promos: _Promotions,
    objectives: _Objectives,
    progress: Callable[[float], None],
) -> _Sim:
    world = _World(
        cfg=cfg,
        cal=cal,
        products=products,
        taste=taste,
        promos=promos,
        objectives=objectives,
        season=_season(cfg),
        promo_elig=promos.eligible(shops),
        promo_cols=[promos.products_of(p, products) for p in range(promos.n)],
        obj_elig=_objective_eligible(objectives, shops),
        # list price at each day: lower by price_increase before each 1 January inside it
        new_years=np.flatnonzero(np.diff(cal.year[: cal.history_days]) == 1) + 1,
        churn=params.churn_day,
        trend=shops.trend[shops.served_idx],
    )
    order_rows = np.flatnonzero(schedule.order)
    o_shop = schedule.shop[order_rows]
    o_day = schedule.day[order_rows]
    n_served = len(shops.served_idx)
    bounds = np.searchsorted(o_shop, np.arange(n_served + 1))
    chunks = _chunks(bounds, n_served)
    ints: dict[str, list[IntArray]] = {
        k: []
        for k in ("shop", "day", "product", "promo", "a_shop", "a_product", "a_day", "a_promo")
    }
    ints.update({"o_shop": [], "o_day": []})
    floats: dict[str, list[FloatArray]] = {"quantity": [], "amount": [], "price": []}
    for number, (s_lo, s_hi) in enumerate(chunks):
        r_lo, r_hi = int(bounds[s_lo]), int(bounds[s_hi])
        if r_hi == r_lo:
            continue
        shop = o_shop[r_lo:r_hi]
        day = o_day[r_lo:r_hi]
        lift, pid = _lifts(world, shop, day)
        first_row = bounds[s_lo:s_hi] - r_lo  # first row of each shop of the chunk
        include, first_adoption = _included(rng, world, shop, day, lift, first_row, shop - s_lo)
        keep_order = include.any(axis=1)
        ints["o_shop"].append(shop[keep_order])
        ints["o_day"].append(day[keep_order])
        _lines(rng, world, shop, day, include, first_adoption, lift, pid, ints, floats)
        ar, aj = np.nonzero(first_adoption)
        ints["a_shop"].append(shop[ar])
        ints["a_product"].append(aj.astype(np.int64))
        ints["a_day"].append(day[ar])
        ints["a_promo"].append(pid[ar, aj].astype(np.int64))
        progress((number + 1) / len(chunks))

    i = {k: _concat_int(v) for k, v in ints.items()}
    f = {k: _concat_float(v) for k, v in floats.items()}
    return _Sim(
        shop=i["shop"],
        day=i["day"],
        product=i["product"],
        quantity=f["quantity"],
        amount=f["amount"],
        unit_price=f["price"],
        promo=i["promo"],
        order_shop=i["o_shop"],
        order_day=i["o_day"],
        adopt_shop=i["a_shop"],
        adopt_product=i["a_product"],
        adopt_day=i["a_day"],
        adopt_promo=i["a_promo"],
    )


def _chunks(bounds: IntArray, n_served: int) -> list[tuple[int, int]]:
    """Chunks of whole shops, about 6000 orders each (``bounds``: each shop's first order)."""
    chunks: list[tuple[int, int]] = []
    lo = 0
    while lo < n_served:
        hi = int(np.searchsorted(bounds, bounds[lo] + 6000, side="right")) - 1
        hi = max(hi, lo + 1)
        chunks.append((lo, min(hi, n_served)))
        lo = min(hi, n_served)
    return chunks


def _lifts(world: _World, shop: IntArray, day: IntArray) -> tuple[Float32Array, Int32Array]:
    """Orders × own products: the largest lift of a promotion running, and its index (-1)."""
    promos, j, r = world.promos, world.j, len(day)
    lift = np.ones((r, j), dtype=np.float32)
    pid = np.full((r, j), -1, dtype=np.int32)
    for p in range(promos.n):
        rows = np.flatnonzero(
            (day >= promos.start[p]) & (day <= promos.end[p]) & world.promo_elig[p, shop]
        )
        if len(rows) == 0:
            continue
        cols = world.promo_cols[p]
        sub = lift[np.ix_(rows, cols)]
        better = promos.lift[p] > sub
        sub_id = pid[np.ix_(rows, cols)]
        lift[np.ix_(rows, cols)] = np.where(better, np.float32(promos.lift[p]), sub)
        pid[np.ix_(rows, cols)] = np.where(better, p, sub_id)
    return lift, pid


def _exposure(world: _World, shop: IntArray, day: IntArray) -> Float32Array:
    """Orders × own products: the chance a product the shop lacks is put to it."""
    products, objectives, j = world.products, world.objectives, world.j
    launch_day = products.launch_day[:j]
    exposure = np.full((len(day), j), world.cfg.exposure, dtype=np.float32)
    for q in np.flatnonzero(products.launched[:j]):
        since = day - launch_day[q]
        boost = products.launch_exposure[q] * np.exp(-np.maximum(since, 0) / 120.0)
        exposure[:, q] += np.where(since >= 0, boost, 0.0).astype(np.float32)
    for o in range(len(objectives.product)):
        rows = np.flatnonzero(
            (day >= objectives.start[o]) & (day <= objectives.end[o]) & world.obj_elig[o, shop]
        )
        exposure[rows, objectives.product[o]] *= 2.0
    return exposure


def _included(
    rng: np.random.Generator,
    world: _World,
    shop: IntArray,
    day: IntArray,
    lift: Float32Array,
    first_row: IntArray,
    local: IntArray,
) -> tuple[BoolArray, BoolArray]:
    """Orders × own products: the product is in the order; it is the shop's first adoption."""
    taste, products, j, r = world.taste, world.products, world.j, len(day)
    launch_day = products.launch_day[:j]
    delist_day = products.delist_day[:j]
    avail = (launch_day[None, :] <= day[:, None]) & (day[:, None] < delist_day[None, :])
    exposure = _exposure(world, shop, day)
    init = taste.init_rep[shop]
    hazard = np.minimum(taste.propensity[shop].astype(np.float32) * lift, 1.0) * exposure
    hazard[(init & (day[:, None] < taste.drop_day[shop])) | ~avail] = 0.0
    success = rng.random((r, j), dtype=np.float32) < hazard
    cum = np.cumsum(success, axis=0, dtype=np.int32)
    before = np.where(first_row[:, None] > 0, cum[np.maximum(first_row - 1, 0)], 0)
    count = cum - before[local]
    adopted = count > 0
    first_adoption = success & (count == 1)
    in_rep = (init & (day[:, None] < taste.drop_day[shop])) | adopted
    p_line = np.minimum(taste.inclusion[shop].astype(np.float32) * lift, 0.98)
    include = in_rep & avail & ((rng.random((r, j), dtype=np.float32) < p_line) | first_adoption)
    # an order has at least one line: its most likely available product
    empty = ~include.any(axis=1)
    if empty.any():
        candidates = np.where(in_rep & avail, taste.inclusion[shop], -1.0)
        best = candidates.argmax(axis=1)
        fix = empty & (candidates[np.arange(r), best] > 0)
        include[np.flatnonzero(fix), best[fix]] = True
    return include, first_adoption


def _lines(
    rng: np.random.Generator,
    world: _World,
    shop: IntArray,
    day: IntArray,
    include: BoolArray,
    first_adoption: BoolArray,
    lift: Float32Array,
    pid: Int32Array,
    ints: dict[str, list[IntArray]],
    floats: dict[str, list[FloatArray]],
) -> None:
    """The order lines of the included products: quantity, list price, promotion, amount."""
    taste, products, promos, cal = world.taste, world.products, world.promos, world.cal
    cat = products.category[: world.j]
    churn = world.churn
    rr, jj = np.nonzero(include)
    ls = shop[rr]
    ld = day[rr]
    l_lift = lift[rr, jj].astype(np.float64)
    l_pid = pid[rr, jj].astype(np.int64)
    years = ld / 365.25
    factor = (
        taste.quantity[ls, jj]
        * world.season[cat[jj], cal.month[ld]]
        * np.exp(world.trend[ls] * years)
        * l_lift
        * np.exp(rng.normal(-(0.25**2) / 2, 0.25, len(rr)))
    )
    factor = np.where(first_adoption[rr, jj], factor * 0.6, factor)
    ramp = np.clip(1 - 0.5 * (ld - (churn[ls] - 180)) / 180, 0.5, 1.0)
    factor = factor * np.where(churn[ls] < NEVER, ramp, 1.0)
    pack = products.pack[jj]
    qty = np.where(
        taste.by_pack[ls, jj],
        np.maximum(np.round(factor / pack), 1) * pack,
        np.maximum(np.round(factor), 1),
    )
    rises = (world.new_years[None, :] > ld[:, None]).sum(axis=1)
    price = np.round(products.price[jj] / (1 + world.cfg.price_increase) ** rises, 2)
    mech = np.where(l_pid >= 0, promos.mechanic[np.maximum(l_pid, 0)], -1)
    val = np.where(l_pid >= 0, promos.value[np.maximum(l_pid, 0)], 0.0)
    free = np.where(mech == 1, val, 0.0)
    discount = np.where((mech == 0) | (mech == 2), val / 100.0, 0.0)
    amount = np.round(qty * price * (1 - discount), 2)
    ints["shop"].append(ls)
    ints["day"].append(ld)
    ints["product"].append(jj.astype(np.int64))
    ints["promo"].append(l_pid)
    floats["quantity"].append(qty + free)
    floats["amount"].append(amount)
    floats["price"].append(price)
