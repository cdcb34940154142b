"""The demo catalogue: our products and the competitors', launches and delistings."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from salescope.data.demo.common import _Calendar, _ids
from salescope.data.demo.config import DemoConfig
from salescope.data.demo.constants import (
    CATEGORIES,
    NEVER,
    OWN_VENDOR,
    BoolArray,
    FloatArray,
    IntArray,
)


@dataclass
class _Products:
    n: int
    n_own: int  # own products are indices 0..n_own-1
    ids: list[str]
    names: list[str]
    brands: list[str]
    vendors: list[str]
    tiers: list[str]
    category: IntArray
    pack: FloatArray
    price: FloatArray  # list price at the end of the history
    cost: FloatArray  # nan for competitors
    launch_day: IntArray  # day index (negative = before the history)
    delist_day: IntArray  # NEVER when active
    active: BoolArray
    popularity: FloatArray
    launched: BoolArray  # launched during the history
    launch_exposure: FloatArray


def _products(rng: np.random.Generator, cfg: DemoConfig, cal: _Calendar) -> _Products:
    cats = CATEGORIES[: cfg.n_categories]
    rows: list[tuple[int, str, str, str, float, int, bool]] = []
    for ours in (True, False):
        per = cfg.own_products_per_category if ours else cfg.competitor_products_per_category
        for c, cat in enumerate(cats):
            brands = cat.own_brands if ours else tuple(b for b, _ in cat.competitors)
            vendors = (OWN_VENDOR,) * len(brands) if ours else tuple(v for _, v in cat.competitors)
            space = [
                (b, v, s)
                for b in range(len(brands))
                for v in range(len(cat.variants))
                for s in range(len(cat.sizes))
            ]
            picked = rng.permutation(len(space))
            lo, hi = cat.price
            size_factor = np.linspace(0.7, 1.9, len(cat.sizes))
            for k in range(per):
                b, v, s = space[picked[k % len(space)]]
                suffix = "" if k < len(space) else f" multipack {k // len(space) + 1}"
                name = f"{brands[b]} {cat.variants[v]} {cat.sizes[s]}{suffix}"
                price = math.exp(rng.uniform(math.log(lo), math.log(hi))) * size_factor[s]
                pack = cat.packs[len(cat.packs) - 1 - min(s, len(cat.packs) - 1)]
                rows.append((c, name, brands[b], vendors[b], round(price, 2), pack, ours))
    n = len(rows)
    n_own = cfg.own_products_per_category * len(cats)
    category = np.array([r[0] for r in rows], dtype=np.int64)
    price = np.array([r[4] for r in rows])
    own = np.arange(n) < n_own
    cost = np.where(own, np.round(price * rng.uniform(0.45, 0.68, n), 2), np.nan)
    launch_day = -rng.integers(365, 365 * 12, n)
    delist_day = np.full(n, NEVER, dtype=np.int64)
    h = cal.history_days
    n_launch = max(1, round(cfg.launch_share * n_own))
    launched_idx = rng.choice(n_own, size=n_launch, replace=False)
    launched = np.zeros(n, dtype=bool)
    launched[launched_idx] = True
    launch_day[launched_idx] = np.sort(rng.integers(min(30, h // 4), max(h - 45, h // 2), n_launch))
    candidates = np.setdiff1d(np.arange(n_own), launched_idx)
    n_delist = round(cfg.delisted_share * n_own)
    delisted = rng.choice(candidates, size=min(n_delist, len(candidates)), replace=False)
    delist_day[delisted] = rng.integers(min(60, h // 3), max(h - 30, h // 2), len(delisted))
    active = delist_day >= NEVER
    comp_inactive = ~own & (rng.random(n) < 0.05)
    active &= ~comp_inactive
    popularity = rng.normal(0, 0.8, n) + 0.5 * launched
    # price tier within the category
    q30 = np.array([np.quantile(price[category == c], 0.3) for c in range(len(cats))])
    q70 = np.array([np.quantile(price[category == c], 0.7) for c in range(len(cats))])
    tier = np.where(price > q70[category], 2, np.where(price < q30[category], 0, 1))
    launch_exposure = np.where(launched, cfg.launch_exposure * rng.uniform(0.7, 1.3, n), 0.0)
    return _Products(
        n=n,
        n_own=n_own,
        ids=_ids("P", n, 4),
        names=[r[1] for r in rows],
        brands=[r[2] for r in rows],
        vendors=[r[3] for r in rows],
        tiers=[("value", "mainstream", "premium")[t] for t in tier],
        category=category,
        pack=np.array([float(r[5]) for r in rows]),
        price=price,
        cost=cost,
        launch_day=launch_day,
        delist_day=delist_day,
        active=active,
        popularity=popularity,
        launched=launched,
        launch_exposure=launch_exposure,
    )
