"""The demo's customers' parameters, reps and merchandisers, territories and who serves whom."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from salescope.data.demo.common import _Calendar, _choice_rows, _ids
from salescope.data.demo.config import DemoConfig
from salescope.data.demo.constants import (
    _AUTOMATIC,
    _DIGITAL,
    _FIELD,
    _FIRST_NAMES,
    _INTERVAL_P,
    _INTERVALS,
    _LINES_BASE,
    _MERCH,
    _SIZE_MEDIAN,
    _SURNAMES,
    _VIDEO,
    _WHOLESALER,
    DAYS_PER_MONTH,
    NEVER,
    BoolArray,
    FloatArray,
    IntArray,
)
from salescope.data.demo.world import _Geo, _Shops
from salescope.geo import haversine_km


@dataclass
class _Params:
    """Per served shop (simulation order), the parameters of its ordering behaviour."""

    start_day: IntArray  # 0 or the first day it may order
    churn_day: IntArray  # NEVER when it does not churn
    interval: IntArray
    irregular: BoolArray
    weekday: IntArray
    loyalty: FloatArray
    openness: FloatArray
    lines: FloatArray
    value: FloatArray  # expected own sales per year at day 0
    mode: IntArray
    rep: IntArray
    territory_rep: IntArray
    assignment_oddity: BoolArray
    mode_oddity: BoolArray
    visit_every: IntArray
    visits_per_month: FloatArray
    visit_minutes: FloatArray


def _customer_params(
    rng: np.random.Generator, cfg: DemoConfig, cal: _Calendar, shops: _Shops
) -> _Params:
    idx = shops.served_idx
    s = len(idx)
    ch = shops.channel[idx]
    h = cal.history_days
    interval = _INTERVALS[_choice_rows(rng, _INTERVAL_P[ch])]
    irregular = rng.random(s) < cfg.irregular_share
    weekday = rng.choice(6, size=s, p=[0.22, 0.2, 0.2, 0.18, 0.15, 0.05])
    roles = rng.random(s)
    new = roles < cfg.new_share
    churn = (roles >= cfg.new_share) & (roles < cfg.new_share + cfg.churn_share)
    start_day = np.where(new, rng.integers(min(30, h // 4), max(h - 75, h // 2), s), 0)
    churn_day = np.where(churn, rng.integers(min(120, h // 3), max(h - 30, h // 2 + 1), s), NEVER)
    shops.trend[idx[churn]] = rng.normal(-0.05, 0.05, int(churn.sum()))
    loyalty = np.clip(rng.beta(2.4, 2.6, s) - 0.08 * (shops.chain[idx] >= 0), 0.05, 0.85)
    openness = rng.normal(0, 0.5, s)
    size_factor = (shops.size[idx] / _SIZE_MEDIAN[ch]) ** 0.25
    lines = np.clip(_LINES_BASE[ch] * size_factor * (0.6 + 0.8 * loyalty), 4.0, 26.0)
    value = shops.potential_base[idx] * loyalty
    zeros = np.zeros(s, dtype=np.int64)
    return _Params(
        start_day=start_day.astype(np.int64),
        churn_day=churn_day.astype(np.int64),
        interval=interval.astype(np.int64),
        irregular=irregular,
        weekday=weekday.astype(np.int64),
        loyalty=loyalty,
        openness=openness,
        lines=lines,
        value=value,
        mode=zeros.copy(),
        rep=zeros.copy(),
        territory_rep=zeros.copy(),
        assignment_oddity=np.zeros(s, dtype=bool),
        mode_oddity=np.zeros(s, dtype=bool),
        visit_every=np.ones(s, dtype=np.int64),
        visits_per_month=np.zeros(s),
        visit_minutes=np.zeros(s),
    )


@dataclass
class _Reps:
    n: int
    ids: list[str]
    names: list[str]
    region: IntArray
    role: list[str]
    lat: FloatArray
    lon: FloatArray
    capacity: FloatArray
    territory: IntArray  # the rep whose territory holds each served shop


def _reps(rng: np.random.Generator, cfg: DemoConfig, geo: _Geo, shops: _Shops) -> _Reps:
    idx = shops.served_idx
    served_region = shops.region[idx]
    counts = np.bincount(served_region, minlength=cfg.n_regions).astype(np.float64)
    # field reps: one per region, the rest by the largest remainder of the customer counts
    per_region = np.ones(cfg.n_regions, dtype=np.int64)
    extra = cfg.n_reps - cfg.n_regions
    if extra > 0:
        quota = counts / max(counts.sum(), 1.0) * cfg.n_reps - per_region
        quota = np.maximum(quota, 0.0)
        base = np.floor(quota / max(quota.sum(), 1e-9) * extra).astype(np.int64)
        rest = extra - int(base.sum())
        order = np.argsort(-(quota / max(quota.sum(), 1e-9) * extra - base), kind="stable")
        base[order[:rest]] += 1
        per_region += base
    lat: list[float] = []
    lon: list[float] = []
    region: list[int] = []
    role: list[str] = []
    territory = np.zeros(len(idx), dtype=np.int64)
    for r in range(cfg.n_regions):
        in_region = idx[served_region == r]
        if len(in_region) == 0:
            in_region = np.flatnonzero(shops.region == r)
        if len(in_region) == 0:
            towns = np.flatnonzero(geo.town_region == r)
            c_lat, c_lon, _ = _territories(
                geo.town_lat[towns], geo.town_lon[towns], np.ones(len(towns)), int(per_region[r])
            )
        else:
            c_lat, c_lon, label = _territories(
                shops.lat[in_region],
                shops.lon[in_region],
                np.sqrt(shops.potential_base[in_region]),
                int(per_region[r]),
            )
            territory[np.searchsorted(idx, in_region)] = len(role) + label
        # a rep lives near the centre of his territory
        for a, b in zip(c_lat, c_lon, strict=True):
            lat.append(float(a + rng.normal(0, 0.004)))
            lon.append(float(b + rng.normal(0, 0.006)))
            region.append(r)
            role.append("rep")
    # merchandisers: to the regions with the most customers, based in the capital
    order = np.argsort(-counts, kind="stable")
    for m in range(cfg.n_merchandisers):
        r = int(order[m % cfg.n_regions])
        capital = np.flatnonzero((geo.town_region == r) & (geo.town_class == 0))[0]
        lat.append(float(geo.town_lat[capital] + rng.normal(0, 0.01)))
        lon.append(float(geo.town_lon[capital] + rng.normal(0, 0.015)))
        region.append(r)
        role.append("merchandiser")
    n = len(role)
    first = rng.integers(0, len(_FIRST_NAMES), n)
    last = rng.integers(0, len(_SURNAMES), n)
    capacity = np.where(
        np.array(role) == "rep",
        np.round(rng.normal(7200, 400, n) / 60) * 60,
        np.round(rng.normal(8400, 300, n) / 60) * 60,
    )
    return _Reps(
        n=n,
        ids=_ids("R", n, 2),
        names=[f"{_FIRST_NAMES[a]} {_SURNAMES[b]}" for a, b in zip(first, last, strict=True)],
        region=np.array(region, dtype=np.int64),
        role=role,
        lat=np.round(np.array(lat), 5),
        lon=np.round(np.array(lon), 5),
        capacity=capacity,
        territory=territory,
    )


def _territories(
    lat: FloatArray, lon: FloatArray, weight: FloatArray, k: int
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Territories of about equal weight, compact (the way a sales manager draws them).

    Capacitated k-means: points are given, most reluctant first, to the nearest centre that
    still has room; centres move to their weighted centroid. Returns centre lat, lon, label.
    """
    pts = np.column_stack([lat, lon * 0.65])
    n = len(pts)
    k = max(1, min(k, n))
    # start from k points spread along the main axis of the region
    axis = pts[:, 0] + pts[:, 1]
    centres = pts[np.argsort(axis)[((np.arange(k) + 0.5) / k * n).astype(np.int64)]].copy()
    room = weight.sum() / k * 1.15
    label = np.zeros(n, dtype=np.int64)
    for _ in range(12):
        d = np.sqrt(((pts[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2))
        ranked = np.sort(d, axis=1)
        regret = ranked[:, 1] - ranked[:, 0] if k > 1 else np.zeros(n)
        load = np.zeros(k)
        prefs = np.argsort(d, axis=1)
        for i in np.argsort(-regret, kind="stable"):  # a few thousand shops, once per pass
            for c in prefs[i]:
                if load[c] + weight[i] <= room or c == prefs[i, -1]:
                    label[i] = c
                    load[c] += weight[i]
                    break
        for c in range(k):
            members = label == c
            if members.any():
                centres[c] = np.average(pts[members], axis=0, weights=weight[members])
    return centres[:, 0], centres[:, 1] / 0.65, label


def _assign(rng: np.random.Generator, shops: _Shops, params: _Params, reps: _Reps) -> None:
    """Interaction mode, rep, visit frequency and visit length of every served shop."""
    idx = shops.served_idx
    s = len(idx)
    region = shops.region[idx]
    lat, lon = shops.lat[idx], shops.lon[idx]
    dist = haversine_km(lat[:, None], lon[:, None], reps.lat[None, :], reps.lon[None, :])
    is_rep = np.array(reps.role) == "rep"
    same = region[:, None] == reps.region[None, :]
    field_d = np.where(same & is_rep[None, :], dist, np.inf)
    merch_d = np.where(same & ~is_rep[None, :], dist, np.inf)
    territory = reps.territory
    near_km = field_d[np.arange(s), territory]
    has_merch = np.asarray(np.isfinite(merch_d).any(axis=1), dtype=np.bool_)
    value_rank = np.argsort(np.argsort(params.value)) / max(s - 1, 1)
    mode = _modes(rng, shops.channel[idx], params, near_km, has_merch, value_rank)
    _set_reps(rng, params, mode, territory, merch_d, same & is_rep[None, :])
    _set_visits(rng, shops.size[idx], params, mode, value_rank)


def _modes(
    rng: np.random.Generator,
    ch: IntArray,
    params: _Params,
    near_km: FloatArray,
    has_merch: BoolArray,
    value_rank: FloatArray,
) -> IntArray:
    """Interaction mode by value and distance to the rep, with a few oddities."""
    s = len(ch)
    u = rng.random(s)
    mode = np.full(s, _FIELD, dtype=np.int64)
    small = value_rank < 0.35
    far = near_km > 15
    mode[small & far & (u < 0.55)] = _WHOLESALER
    mode[small & far & (u >= 0.55) & (u < 0.85)] = _DIGITAL
    mode[small & ~far & (u < 0.35)] = _DIGITAL
    mode[small & ~far & (u >= 0.35) & (u < 0.45) & ~params.irregular] = _AUTOMATIC
    mid = (value_rank >= 0.35) & (value_rank < 0.7)
    mode[mid & (near_km > 12) & (u < 0.25)] = _VIDEO
    big = (value_rank >= 0.7) & ((ch == 0) | (ch == 4)) & has_merch
    mode[big & (u < 0.5)] = _MERCH
    odd = rng.random(s) < 0.04
    odd_mode = rng.choice([_FIELD, _VIDEO, _DIGITAL, _AUTOMATIC, _WHOLESALER], size=s)
    params.mode_oddity = odd & (odd_mode != mode)
    return np.asarray(np.where(odd, odd_mode, mode), dtype=np.int64)


def _set_reps(
    rng: np.random.Generator,
    params: _Params,
    mode: IntArray,
    territory: IntArray,
    merch_d: FloatArray,
    field_rep: BoolArray,
) -> None:
    """The rep: the territory's rep of the region (merchandiser for merchandiser shops), some
    oddities (``field_rep``: shops × reps, a field rep of the shop's region)."""
    s = len(mode)
    rep = territory.copy()
    merch_nearest = merch_d.argmin(axis=1)
    rep = np.where(mode == _MERCH, merch_nearest, rep)
    oddity = (mode != _MERCH) & (rng.random(s) < 0.08)
    alt = np.where(field_rep, rng.random(field_rep.shape), -1.0)
    alt[np.arange(s), territory] = -1.0
    alt_rep = alt.argmax(axis=1)
    has_alt = alt[np.arange(s), alt_rep] >= 0
    oddity &= has_alt
    rep = np.where(oddity, alt_rep, rep)
    params.mode = mode
    params.rep = rep
    params.territory_rep = territory
    params.assignment_oddity = oddity


def _set_visits(
    rng: np.random.Generator,
    size: FloatArray,
    params: _Params,
    mode: IntArray,
    value_rank: FloatArray,
) -> None:
    """Visits at every ordering occasion (every other for weekly smaller shops), and their
    length by mode and shop size."""
    s = len(mode)
    every = np.where((params.interval <= 7) & (value_rank < 0.6), 2, 1)
    contact = (mode == _FIELD) | (mode == _VIDEO) | (mode == _MERCH)
    vpm = np.where(
        contact,
        DAYS_PER_MONTH / (params.interval * every),
        rng.choice([0.0, 1 / 6, 1 / 4, 1 / 3], size=s, p=[0.3, 0.3, 0.25, 0.15]),
    )
    params.visit_every = every.astype(np.int64)
    params.visits_per_month = np.asarray(np.round(vpm, 2), dtype=np.float64)
    field_min = np.clip(12 + 7 * np.log2(np.maximum(size, 4) / 10) + rng.normal(0, 4, s), 15, 75)
    merch_min = np.clip(
        40 + 12 * np.log2(np.maximum(size, 20) / 100) + rng.normal(0, 6, s), 30, 120
    )
    video_min = rng.uniform(12, 25, s)
    check_min = rng.uniform(20, 40, s)
    minutes = np.select(
        [mode == _FIELD, mode == _MERCH, mode == _VIDEO],
        [field_min, merch_min, video_min],
        check_min,
    )
    params.visit_minutes = np.round(minutes / 5) * 5
