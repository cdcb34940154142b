"""The demo world: regions, towns and the shops of the market universe."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from salescope.data.demo.common import _choice_rows, _ids, _offset_for_mean, _sigmoid, _zscore
from salescope.data.demo.config import DemoConfig
from salescope.data.demo.constants import (
    _BAR_WORDS,
    _CHAIN_P,
    _CHAINS,
    _CHANNEL_P,
    _CONVERSION_EFFECT,
    _PHARMACY_WORDS,
    _POTENTIAL_MEDIAN,
    _REGION_NAMES,
    _SIZE_MEDIAN,
    _SIZE_SD,
    _STREET_KINDS,
    _STREETS,
    _SURNAMES,
    _TOWN_PREFIX,
    _TOWN_SUFFIX,
    BoolArray,
    FloatArray,
    IntArray,
)

# ---------------------------------------------------------------------------------------------
# The world: geography, shops, products, reps
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Geo:
    region_names: list[str]
    town_names: list[str]
    town_region: IntArray
    town_lat: FloatArray
    town_lon: FloatArray
    town_pop: IntArray
    town_class: IntArray  # 0 capital, 1 town, 2 village


def _geography(rng: np.random.Generator, cfg: DemoConfig) -> _Geo:
    n = cfg.n_regions
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    lat_lo, lat_hi, lon_lo, lon_hi = 48.55, 50.75, 13.9, 18.7
    cell_h, cell_w = (lat_hi - lat_lo) / rows, (lon_hi - lon_lo) / cols
    regions = [_REGION_NAMES[i] if i < len(_REGION_NAMES) else f"Region {i + 1}" for i in range(n)]
    order = rng.permutation(len(regions))
    regions = [regions[i] for i in order]
    k = cfg.towns_per_region
    n_towns_mid = 0 if k == 1 else max(1, round((k - 1) / 3))
    classes = np.array([0] + [1] * n_towns_mid + [2] * (k - 1 - n_towns_mid))
    town_region = np.repeat(np.arange(n), k)
    town_class = np.tile(classes, n)
    row, col = np.divmod(town_region, cols)
    capital = town_class == 0
    frac_lat = np.where(capital, rng.uniform(0.35, 0.65, n * k), rng.uniform(0.08, 0.92, n * k))
    frac_lon = np.where(capital, rng.uniform(0.35, 0.65, n * k), rng.uniform(0.08, 0.92, n * k))
    lat = lat_lo + (row + frac_lat) * cell_h
    lon = lon_lo + (col + frac_lon) * cell_w
    median = np.array([140_000.0, 25_000.0, 2_500.0])[town_class]
    spread = np.array([0.45, 0.5, 0.6])[town_class]
    low = np.array([50_000.0, 8_000.0, 500.0])[town_class]
    high = np.array([600_000.0, 80_000.0, 7_000.0])[town_class]
    pop = np.clip(median * np.exp(rng.normal(0, 1, n * k) * spread), low, high)
    pop = (np.round(pop / 10) * 10).astype(np.int64)
    combos = [p + s for p in _TOWN_PREFIX for s in _TOWN_SUFFIX]
    picked = rng.choice(len(combos), size=min(n * k, len(combos)), replace=False)
    names = [combos[i] for i in picked]
    names += [f"Town {i + 1}" for i in range(len(names), n * k)]
    return _Geo(regions, names, town_region, lat, lon, pop, town_class)


@dataclass
class _Shops:
    n: int
    town: IntArray
    region: IntArray
    channel: IntArray
    chain: IntArray  # index into chain_names, -1 = independent
    chain_names: list[str]
    lat: FloatArray
    lon: FloatArray
    size: FloatArray
    population: IntArray
    potential_base: FloatArray  # yearly purchases of our categories, all suppliers, at day 0
    trend: FloatArray  # yearly log growth of the business
    conversion: FloatArray
    served: BoolArray
    served_idx: IntArray  # shop index of each served shop (simulation order)
    ids: list[str]
    names: list[str]
    addresses: list[str]
    cities: list[str]
    regions: list[str]


def _shops(rng: np.random.Generator, cfg: DemoConfig, geo: _Geo) -> _Shops:
    n = cfg.n_shops
    weights = geo.town_pop.astype(np.float64) ** 0.85
    town = rng.choice(len(weights), size=n, p=weights / weights.sum())
    cls = geo.town_class[town]
    channel = _choice_rows(rng, _CHANNEL_P[cls])
    chain_names: list[str] = []
    chain_index: dict[tuple[int, int], int] = {}
    for ch, members in _CHAINS.items():
        for i, name in enumerate(members):
            chain_index[(ch, i)] = len(chain_names)
            chain_names.append(name)
    chain = np.full(n, -1, dtype=np.int64)
    is_chain = (rng.random(n) < _CHAIN_P[channel]) & (cls < 2)
    pick = rng.integers(0, 3, n)
    for ch, members in _CHAINS.items():
        mask = is_chain & (channel == ch)
        which = pick[mask] % len(members)
        chain[mask] = np.array([chain_index[(ch, w)] for w in range(len(members))])[which]
    pop = geo.town_pop[town]
    spread = 0.006 * (pop / 1000.0) ** 0.33
    lat = geo.town_lat[town] + rng.normal(0, 1, n) * spread
    lon = geo.town_lon[town] + rng.normal(0, 1, n) * spread / 0.65
    size = _SIZE_MEDIAN[channel] * np.exp(rng.normal(0, 1, n) * _SIZE_SD[channel])
    size = np.where((chain >= 0) & (channel == 0), size * 1.7, size)
    size = np.maximum(np.round(size), 4.0)
    log_pot = (
        np.log(_POTENTIAL_MEDIAN[channel])
        + 0.75 * np.log(size / _SIZE_MEDIAN[channel])
        + 0.10 * np.log(pop / 20_000.0)
        + 0.15 * (chain >= 0)
        + rng.normal(0, 0.35, n)
    )
    potential = np.round(np.exp(log_pot), 2)
    trend = rng.normal(0.02, 0.08, n)
    logit = (
        0.9 * _zscore(log_pot)
        + np.array([0.2, 0.2, -0.2])[cls]
        - 0.5 * (chain >= 0)
        + _CONVERSION_EFFECT[channel]
        + rng.normal(0, 0.7, n)
    )
    conversion = _sigmoid(logit + _offset_for_mean(logit, cfg.served_share))
    served = rng.random(n) < conversion
    ids_sorted = _ids("C", n, 5)
    perm = rng.permutation(n)
    ids = [ids_sorted[i] for i in perm]
    names, addresses = _shop_names(rng, channel, chain, chain_names, town, geo)
    return _Shops(
        n=n,
        town=town,
        region=geo.town_region[town],
        channel=channel,
        chain=chain,
        chain_names=chain_names,
        lat=np.round(lat, 5),
        lon=np.round(lon, 5),
        size=size,
        population=pop,
        potential_base=potential,
        trend=trend,
        conversion=conversion,
        served=served,
        served_idx=np.flatnonzero(served),
        ids=ids,
        names=names,
        addresses=addresses,
        cities=[geo.town_names[t] for t in town],
        regions=[geo.region_names[geo.town_region[t]] for t in town],
    )


def _shop_names(
    rng: np.random.Generator,
    channel: IntArray,
    chain: IntArray,
    chain_names: list[str],
    town: IntArray,
    geo: _Geo,
) -> tuple[list[str], list[str]]:
    """Names and street addresses; a name repeated in a town gets its street in brackets."""
    n = len(channel)
    surname = rng.integers(0, len(_SURNAMES), n)
    street = rng.integers(0, len(_STREETS), n)
    kind = rng.integers(0, len(_STREET_KINDS), n)
    number = rng.integers(1, 140, n)
    template = rng.integers(0, 4, n)
    word = rng.integers(0, 1000, n)
    names: list[str] = []
    streets: list[str] = []
    for i in range(n):  # string formatting of a few thousand shops, not of order lines
        s = _SURNAMES[surname[i]]
        st = f"{_STREETS[street[i]]} {_STREET_KINDS[kind[i]]}"
        streets.append(st)
        t = template[i]
        ch = channel[i]
        if chain[i] >= 0:
            names.append(f"{chain_names[chain[i]]} {geo.town_names[town[i]]}")
        elif ch == 0:
            names.append((f"{s} Grocery", f"Grocery {st}", f"Mini Market {s}", f"{s} Food")[t])
        elif ch == 1:
            names.append((f"Kiosk {st}", f"{s} News", f"Tabak {s}", f"Kiosk {s}")[t])
        elif ch == 2:
            names.append(
                (f"{s} Wines & Spirits", f"Liquor {st}", f"{s} Wine Cellar", f"Drinks {s}")[t]
            )
        elif ch == 3:
            w = _BAR_WORDS[word[i] % len(_BAR_WORDS)]
            names.append((f"Bar {w}", f"{w} Pub", f"Café {w}", f"{w} Tavern")[t])
        else:
            w = _PHARMACY_WORDS[word[i] % len(_PHARMACY_WORDS)]
            names.append(f"Pharmacy {w}" if t < 3 else f"{s} Pharmacy")
    frame = pl.DataFrame({"name": names, "town": town, "street": streets})
    repeated = ~pl.struct("name", "town").is_first_distinct()
    named = frame.select(
        pl.when(repeated).then(pl.format("{} ({})", "name", "street")).otherwise(pl.col("name"))
    ).to_series()
    addresses = [f"{st} {k}" for st, k in zip(streets, number, strict=True)]
    return named.to_list(), addresses
