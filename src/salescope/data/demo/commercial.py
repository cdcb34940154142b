"""The demo's promotions and objectives."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from salescope.data.demo.behaviour import _Taste
from salescope.data.demo.catalogue import _Products
from salescope.data.demo.common import _Calendar, _dates, _ids
from salescope.data.demo.config import DemoConfig
from salescope.data.demo.constants import (
    _AFFINITY,
    _MECHANICS,
    CATEGORIES,
    CHANNELS,
    BoolArray,
    FloatArray,
    IntArray,
)
from salescope.data.demo.world import _Geo, _Shops
from salescope.domain.schemas import TABLES

# ---------------------------------------------------------------------------------------------
# Promotions and objectives
# ---------------------------------------------------------------------------------------------


@dataclass
class _Promotions:
    n: int
    start: IntArray
    end: IntArray
    product: IntArray  # own product index or -1 (whole category)
    category: IntArray
    segment: IntArray  # channel or -1
    region: IntArray  # region or -1
    mechanic: IntArray
    value: FloatArray
    lift: FloatArray
    cost_per_use: FloatArray
    budget: FloatArray
    region_names: list[str]

    @property
    def ids(self) -> list[str]:
        return _ids("PR", self.n, 3)

    def eligible(self, shops: _Shops) -> BoolArray:
        """promotions × served shops: the promotion applies to the shop."""
        idx = shops.served_idx
        ch, rg = shops.channel[idx], shops.region[idx]
        seg_ok = (self.segment[:, None] < 0) | (self.segment[:, None] == ch[None, :])
        reg_ok = (self.region[:, None] < 0) | (self.region[:, None] == rg[None, :])
        return np.asarray(seg_ok & reg_ok, dtype=np.bool_)

    def products_of(self, p: int, products: _Products) -> IntArray:
        if self.product[p] >= 0:
            return np.array([self.product[p]], dtype=np.int64)
        return np.flatnonzero(products.category[: products.n_own] == self.category[p])

    def frame(self, cal: _Calendar, products: _Products) -> pl.DataFrame:
        cats = [c.name for c in CATEGORIES]
        return pl.DataFrame(
            {
                "promotion_id": self.ids,
                "start_date": _dates(cal, self.start),
                "end_date": _dates(cal, self.end),
                "product_id": [products.ids[p] if p >= 0 else None for p in self.product],
                "category": [cats[c] for c in self.category],
                "segment": [CHANNELS[c] if c >= 0 else None for c in self.segment],
                "region": [self.region_names[r] if r >= 0 else None for r in self.region],
                "mechanic": [_MECHANICS[m] for m in self.mechanic],
                "value": self.value,
                "cost_per_use": self.cost_per_use,
                "budget_uses": self.budget,
            },
            schema=TABLES["promotions"].polars_schema(),
        )


def _promotions(
    rng: np.random.Generator,
    cfg: DemoConfig,
    cal: _Calendar,
    geo: _Geo,
    products: _Products,
    taste: _Taste,
) -> _Promotions:
    j = products.n_own
    total = cal.total_days
    n_regular = max(3, round(cfg.promotions_per_month * cfg.months))
    start = rng.integers(-20, total - 7, n_regular)
    # a few promotions run across the end of the history, for the next orders
    start[: min(3, n_regular)] = rng.integers(
        cal.history_days - 21, cal.history_days + 3, min(3, n_regular)
    )
    duration = 7 * rng.integers(2, 7, n_regular) - 1
    product_level = rng.random(n_regular) < 0.7
    product = np.full(n_regular, -1, dtype=np.int64)
    for p in np.flatnonzero(product_level):
        ok = np.flatnonzero(
            (products.launch_day[:j] <= start[p]) & (products.delist_day[:j] > start[p] + 14)
        )
        product[p] = int(rng.choice(ok))
    category = np.where(
        product >= 0,
        products.category[np.maximum(product, 0)],
        rng.integers(0, cfg.n_categories, n_regular),
    )
    # launch promotions
    launches = np.flatnonzero(products.launched[:j])
    with_promo = launches[rng.random(len(launches)) < 0.6]
    start = np.concatenate([start, products.launch_day[with_promo]])
    duration = np.concatenate([duration, 7 * rng.integers(4, 9, len(with_promo)) - 1])
    product = np.concatenate([product, with_promo])
    category = np.concatenate([category, products.category[with_promo]])
    n = len(start)
    product_level = product >= 0
    mechanic = np.where(
        product_level,
        np.where(rng.random(n) < 0.6, 0, 1),
        np.where(rng.random(n) < 0.5, 2, 0),
    )
    pct_product = rng.choice([10.0, 15.0, 20.0, 25.0], size=n)
    pct_category = rng.choice([5.0, 8.0, 10.0], size=n)
    pack = products.pack[np.maximum(product, 0)]
    free = np.maximum(1.0, np.round(pack * rng.choice([0.08, 0.17], size=n)))
    value = np.where(mechanic == 1, free, np.where(product_level, pct_product, pct_category))
    noise = rng.normal(0, 0.15, n)
    log_lift = np.select(
        [mechanic == 0, mechanic == 1],
        [0.025 * value + noise, 0.35 + noise],
        0.02 * value + 0.05 + noise,
    )
    lift = np.round(np.clip(np.exp(log_lift), 1.05, 3.0), 3)
    # restrictions: a segment (channel that buys the category) or a region
    affine = _AFFINITY[:, : cfg.n_categories] > 0
    segment = np.full(n, -1, dtype=np.int64)
    for p in np.flatnonzero(rng.random(n) < 0.25):
        segment[p] = int(rng.choice(np.flatnonzero(affine[:, category[p]])))
    region = np.where(rng.random(n) < 0.2, rng.integers(0, cfg.n_regions, n), -1)
    # planned cost of a use: the discount (or free goods) on a typical line
    line_value = taste.quantity * products.price[None, :j]
    held = taste.init_rep.sum(axis=0)
    overall = float(line_value[taste.init_rep].mean()) if taste.init_rep.any() else 50.0
    typical_product = np.where(
        held > 0, (line_value * taste.init_rep).sum(axis=0) / np.maximum(held, 1), overall
    )
    typical_line = np.array(
        [
            typical_product[product[p]]
            if product[p] >= 0
            else float(typical_product[products.category[:j] == category[p]].mean())
            for p in range(n)
        ]
    )
    unit_cost = products.cost[np.maximum(product, 0)]
    cost = np.where(mechanic == 1, value * unit_cost, value / 100.0 * typical_line)
    end = start + duration
    order = np.lexsort((product, end, start))
    return _Promotions(
        n=n,
        start=start[order].astype(np.int64),
        end=end[order].astype(np.int64),
        product=product[order].astype(np.int64),
        category=category[order].astype(np.int64),
        segment=segment[order],
        region=region[order].astype(np.int64),
        mechanic=mechanic[order].astype(np.int64),
        value=value[order].astype(np.float64),
        lift=lift[order],
        cost_per_use=np.asarray(np.round(cost[order], 2), dtype=np.float64),
        budget=np.zeros(n),
        region_names=geo.region_names,
    )


@dataclass
class _Objectives:
    product: IntArray
    weight: FloatArray
    segment: IntArray
    region: IntArray
    start: IntArray
    end: IntArray
    region_names: list[str]

    def frame(self, cal: _Calendar, products: _Products) -> pl.DataFrame:
        segment = [CHANNELS[c] if c >= 0 else None for c in self.segment]
        return pl.DataFrame(
            {
                "product_id": [products.ids[p] for p in self.product],
                "weight": self.weight,
                "segment": segment,
                "region": [self.region_names[r] if r >= 0 else None for r in self.region],
                "channel": segment,
                "start_date": _dates(cal, self.start),
                "end_date": _dates(cal, self.end),
            },
            schema=TABLES["objectives"].polars_schema(),
        )


def _objectives(
    rng: np.random.Generator, cfg: DemoConfig, cal: _Calendar, geo: _Geo, products: _Products
) -> _Objectives:
    j = products.n_own
    cat = products.category[:j]
    margin = (products.price[:j] - products.cost[:j]) / products.price[:j]
    rows: list[tuple[int, float, int, int, int, int]] = []
    # yearly must-sell lists per segment, a quarter of them for one region only
    years = sorted({int(y) for y in cal.year[: cal.total_days]})
    for year in years:
        first = int(np.argmax(cal.year == year))
        last = int(len(cal.year) - 1 - np.argmax(cal.year[::-1] == year))
        for ch in range(len(CHANNELS)):
            affinity = _AFFINITY[ch, cat]
            ok = (
                (products.launch_day[:j] <= first)
                & (products.delist_day[:j] > last)
                & (affinity > 0)
            )
            if not ok.any():
                continue
            w = np.where(ok, np.exp(products.popularity[:j] + affinity) * margin, 0.0)
            count = min(cfg.objectives_per_segment, int(ok.sum()))
            chosen = rng.choice(j, size=count, replace=False, p=w / w.sum())
            for p in chosen:
                region = int(rng.integers(0, cfg.n_regions)) if rng.random() < 0.25 else -1
                rows.append((int(p), float(rng.choice([1.0, 2.0, 3.0])), ch, region, first, last))
    # launches: must-sell for the two segments that fit them best, for half a year
    for p in np.flatnonzero(products.launched[:j]):
        best = np.argsort(-_AFFINITY[:, cat[p]])[:2]
        for ch in best:
            day = int(products.launch_day[p])
            rows.append((int(p), 3.0, int(ch), -1, day, day + 181))
    seen: set[tuple[int, int, int, int]] = set()
    unique = []
    for r in rows:
        key = (r[0], r[2], r[3], r[4])
        if key not in seen:
            seen.add(key)
            unique.append(r)
    arr = np.array(unique, dtype=np.float64).reshape(-1, 6)
    order = np.lexsort((arr[:, 0], arr[:, 2], arr[:, 4]))
    arr = arr[order]
    return _Objectives(
        product=arr[:, 0].astype(np.int64),
        weight=arr[:, 1],
        segment=arr[:, 2].astype(np.int64),
        region=arr[:, 3].astype(np.int64),
        start=arr[:, 4].astype(np.int64),
        end=arr[:, 5].astype(np.int64),
        region_names=geo.region_names,
    )


def _objective_eligible(objectives: _Objectives, shops: _Shops) -> BoolArray:
    idx = shops.served_idx
    ch, rg = shops.channel[idx], shops.region[idx]
    seg_ok = (objectives.segment[:, None] < 0) | (objectives.segment[:, None] == ch[None, :])
    reg_ok = (objectives.region[:, None] < 0) | (objectives.region[:, None] == rg[None, :])
    return np.asarray(seg_ok & reg_ok, dtype=np.bool_)
