"""The demo shops' tastes, repertoires and ordering schedules."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from salescope.data.demo.catalogue import _Products
from salescope.data.demo.common import _Calendar, _offset_for_mean, _sigmoid, _zscore
from salescope.data.demo.config import DemoConfig
from salescope.data.demo.constants import (
    _AFFINITY,
    _SIZE_MEDIAN,
    NEVER,
    BoolArray,
    FloatArray,
    IntArray,
)
from salescope.data.demo.people import _Params
from salescope.data.demo.world import _Shops

# ---------------------------------------------------------------------------------------------
# Taste: what each served shop buys, how often, how much, and what it would adopt
# ---------------------------------------------------------------------------------------------


@dataclass
class _Taste:
    """Served shops × own products."""

    score: FloatArray
    init_rep: BoolArray
    drop_day: IntArray
    inclusion: FloatArray
    quantity: FloatArray
    by_pack: BoolArray
    propensity: FloatArray


def _taste(
    rng: np.random.Generator,
    cfg: DemoConfig,
    cal: _Calendar,
    shops: _Shops,
    products: _Products,
    params: _Params,
) -> _Taste:
    idx = shops.served_idx
    s, j = len(idx), products.n_own
    cat = products.category[:j]
    n_towns = int(shops.town.max()) + 1
    d = cfg.taste_dim
    town_taste = rng.normal(0, 1, (n_towns, d))
    town_cat = rng.normal(0, 0.4, (n_towns, cfg.n_categories))
    shop_taste = 0.7 * rng.normal(0, 1, (shops.n, d)) + 0.5 * town_taste[shops.town]
    product_taste = rng.normal(0, 0.5, (products.n, d))
    size_effect = rng.normal(0, 0.3, products.n)
    zsize = _zscore(np.log(shops.size / _SIZE_MEDIAN[shops.channel]))
    # the score is computed for every shop (prospects too, for completeness of the model)
    score_all = (
        products.popularity[None, :j]
        + _AFFINITY[shops.channel][:, cat]
        + town_cat[shops.town][:, cat]
        + shop_taste @ product_taste[:j].T
        + zsize[:, None] * size_effect[None, :j]
        + rng.normal(0, 0.5, (shops.n, j))
    )
    score = score_all[idx]
    # the initial repertoire: draws without replacement with weights exp(score) (Gumbel top-k)
    available0 = ~products.launched[:j][None, :] & np.ones((s, 1), dtype=bool)
    keys = np.where(available0, score + rng.gumbel(size=(s, j)), -np.inf)
    k = np.clip(np.round(params.lines / 0.55), 4, j - 1).astype(np.int64)
    ranks = np.argsort(np.argsort(-keys, axis=1), axis=1)
    init_rep = (ranks < k[:, None]) & available0
    # inclusion probability: favourite products are in nearly every order
    rel = score - np.where(init_rep, score, np.nan).mean(axis=1, where=init_rep, keepdims=True)
    rel = np.nan_to_num(rel)
    inclusion = np.clip(_sigmoid(0.25 + 0.9 * rel + rng.normal(0, 0.5, (s, j))), 0.05, 0.97)
    # quantity: spend weights, calibrated so that expected own sales are potential × loyalty
    weight = np.exp(0.6 * score + rng.normal(0, 0.4, (s, j)))
    gap = params.interval.astype(np.float64)
    orders_per_year = 365.25 / gap * (1 - cfg.skip_probability)
    per_order = params.value / orders_per_year
    denominator = (np.where(init_rep, weight * inclusion, 0.0)).sum(axis=1)
    spend = per_order[:, None] * weight / np.maximum(denominator, 1e-9)[:, None]
    quantity = spend / products.price[None, :j]
    pack = products.pack[None, :j]
    by_pack = (quantity >= 0.7 * pack) & (rng.random((s, j)) < 0.9)
    first = params.start_day[:, None] + 30
    when = first + (rng.random((s, j)) * np.maximum(cal.history_days - first, 1)).astype(np.int64)
    drop_day = np.where(init_rep & (rng.random((s, j)) < cfg.drop_share), when, NEVER)
    # adoption propensity: the same score, the shop's openness, a constant setting the mean
    logits = score + params.openness[:, None]
    lacking = ~init_rep
    c = _offset_for_mean(logits[lacking], cfg.mean_propensity)
    propensity = _sigmoid(logits + c)
    return _Taste(
        score=score,
        init_rep=init_rep,
        drop_day=drop_day,
        inclusion=inclusion,
        quantity=quantity,
        by_pack=by_pack,
        propensity=propensity,
    )


# ---------------------------------------------------------------------------------------------
# Schedule: ordering occasions of each served shop
# ---------------------------------------------------------------------------------------------


@dataclass
class _Schedule:
    shop: IntArray  # served index
    day: IntArray
    k: IntArray  # occasion number
    order: BoolArray  # an order is placed


def _schedule(
    rng: np.random.Generator, cfg: DemoConfig, cal: _Calendar, shops: _Shops, params: _Params
) -> _Schedule:
    s = len(shops.served_idx)
    total = cal.total_days
    k_max = total // 3 + 3
    interval = params.interval
    start = params.start_day
    # regular shops: on their weekday, every interval days, ±1 day
    to_weekday = (params.weekday - cal.weekday[start]) % 7
    first = start + to_weekday + 7 * rng.integers(0, np.maximum(interval // 7, 1))
    ks = np.arange(k_max)
    jitter_p = np.where(interval[:, None] <= 7, 0.05, 0.12)
    u = rng.random((s, k_max))
    jitter = np.where(u < jitter_p, -1, np.where(u > 1 - jitter_p, 1, 0))
    regular = first[:, None] + ks[None, :] * interval[:, None] + jitter
    # irregular shops: gamma gaps of the same mean
    gaps = np.maximum(np.round(rng.gamma(3.0, interval[:, None] / 3.0, (s, k_max))), 3)
    first_irr = start + rng.integers(0, interval)
    irregular = first_irr[:, None] + np.concatenate(
        [np.zeros((s, 1)), np.cumsum(gaps, axis=1)[:, :-1]], axis=1
    ).astype(np.int64)
    days = np.where(params.irregular[:, None], irregular, regular)
    days = np.maximum(days, start[:, None])
    days = cal.open_day(days)
    valid = days < total
    valid[:, 1:] &= days[:, 1:] > days[:, :-1]
    skip = rng.random((s, k_max)) < cfg.skip_probability
    order = valid & ~skip & (days >= start[:, None]) & (days < params.churn_day[:, None])
    shop_grid = np.broadcast_to(np.arange(s)[:, None], (s, k_max))
    k_grid = np.broadcast_to(ks[None, :], (s, k_max))
    return _Schedule(
        shop=shop_grid[valid].astype(np.int64),
        day=days[valid].astype(np.int64),
        k=k_grid[valid].astype(np.int64),
        order=order[valid],
    )
