"""The demo's canonical tables built from the simulated world."""

from __future__ import annotations

import numpy as np
import polars as pl

from salescope.data.demo.behaviour import _Schedule
from salescope.data.demo.catalogue import _Products
from salescope.data.demo.commercial import _Promotions
from salescope.data.demo.common import _Calendar, _dates, _ids, _nullable_dates, _nulls_where
from salescope.data.demo.config import DemoConfig
from salescope.data.demo.constants import (
    _FIELD,
    _MERCH,
    _MODES,
    _VIDEO,
    CATEGORIES,
    CHANNELS,
    DAYS_PER_MONTH,
    NEVER,
)
from salescope.data.demo.people import _Params, _Reps
from salescope.data.demo.simulation import _season, _Sim
from salescope.data.demo.world import _Geo, _Shops
from salescope.domain.schemas import TABLES

# ---------------------------------------------------------------------------------------------
# Frames
# ---------------------------------------------------------------------------------------------


def _frames(
    cfg: DemoConfig,
    cal: _Calendar,
    geo: _Geo,
    shops: _Shops,
    params: _Params,
    reps: _Reps,
    products: _Products,
) -> tuple[dict[str, pl.DataFrame], dict[str, pl.DataFrame]]:
    """customers, products and reps; the truth about customers, products and seasons."""
    n = shops.n
    idx = shops.served_idx
    rep_ix = np.full(n, -1, dtype=np.int64)
    rep_ix[idx] = params.rep
    mode_ix = np.full(n, -1, dtype=np.int64)
    mode_ix[idx] = params.mode
    vpm = np.full(n, np.nan)
    vpm[idx] = params.visits_per_month
    channel = [CHANNELS[c] for c in shops.channel]
    customers = pl.DataFrame(
        {
            "customer_id": shops.ids,
            "name": shops.names,
            "address": shops.addresses,
            "city": shops.cities,
            "region": shops.regions,
            "latitude": shops.lat,
            "longitude": shops.lon,
            "channel": channel,
            "chain": [shops.chain_names[c] if c >= 0 else None for c in shops.chain],
            "status": ["served" if s else "prospect" for s in shops.served],
            "rep_id": [reps.ids[r] if r >= 0 else None for r in rep_ix],
            "interaction_mode": [_MODES[m] if m >= 0 else None for m in mode_ix],
            "visits_per_month": pl.Series(vpm).fill_nan(None),
            "segment": channel,
            "size": shops.size,
            "population": shops.population,
        },
        schema_overrides={**TABLES["customers"].polars_schema(), "population": pl.Int64},
    ).sort("customer_id")
    cats = [c.name for c in CATEGORIES]
    products_frame = pl.DataFrame(
        {
            "product_id": products.ids,
            "name": products.names,
            "category": [cats[c] for c in products.category],
            "brand": products.brands,
            "vendor": products.vendors,
            "own": np.arange(products.n) < products.n_own,
            "pack_size": products.pack,
            "unit_price": products.price,
            "unit_cost": pl.Series(products.cost).fill_nan(None),
            "launch_date": _dates(cal, products.launch_day),
            "active": products.active,
            "tier": products.tiers,
        },
        schema_overrides=TABLES["products"].polars_schema(),
    )
    reps_frame = pl.DataFrame(
        {
            "rep_id": reps.ids,
            "latitude": reps.lat,
            "longitude": reps.lon,
            "capacity_minutes": reps.capacity,
            "name": reps.names,
            "region": [geo.region_names[r] for r in reps.region],
            "role": reps.role,
        },
        schema=TABLES["reps"].polars_schema(),
    )
    served_ids = [shops.ids[i] for i in idx]
    served_params = pl.DataFrame(
        {
            "customer_id": served_ids,
            "served_from": _nullable_dates(
                cal, np.where(params.start_day > 0, params.start_day, NEVER), "served_from"
            ),
            "churn_date": _nullable_dates(cal, params.churn_day, "churn_date"),
            "order_interval_days": params.interval.astype(np.float64),
            "irregular": params.irregular,
            "order_weekday": params.weekday,
            "skip_probability": np.full(len(idx), cfg.skip_probability),
            "loyalty": np.round(params.loyalty, 4),
            "openness": np.round(params.openness, 4),
            "lines_per_order": np.round(params.lines, 2),
            "territory_rep_id": [reps.ids[r] for r in params.territory_rep],
            "assignment_oddity": params.assignment_oddity,
            "mode_oddity": params.mode_oddity,
            "visit_every_orders": params.visit_every,
        }
    )
    all_params = pl.DataFrame(
        {
            "customer_id": shops.ids,
            "status": ["served" if s else "prospect" for s in shops.served],
            "trend": np.round(shops.trend, 4),
            "potential_base": shops.potential_base,
            "conversion_propensity": np.round(shops.conversion, 4),
        }
    )
    customer_params = (
        all_params.join(served_params, on="customer_id", how="left")
        .select(
            "customer_id",
            "status",
            "served_from",
            "churn_date",
            "order_interval_days",
            "irregular",
            "order_weekday",
            "skip_probability",
            "loyalty",
            "trend",
            "openness",
            "lines_per_order",
            "potential_base",
            "conversion_propensity",
            "territory_rep_id",
            "assignment_oddity",
            "mode_oddity",
            "visit_every_orders",
        )
        .sort("customer_id")
    )
    product_truth = pl.DataFrame(
        {
            "product_id": products.ids,
            "own": np.arange(products.n) < products.n_own,
            "popularity": np.round(products.popularity, 4),
            "launched_in_history": products.launched,
            "delisted_on": _nullable_dates(cal, products.delist_day, "delisted_on"),
            "launch_exposure": np.round(products.launch_exposure, 4),
        }
    )
    season = _season(cfg)
    seasonality = pl.DataFrame(
        {
            "category": [cats[c] for c in range(cfg.n_categories) for _ in range(12)],
            "month": [m for _ in range(cfg.n_categories) for m in range(1, 13)],
            "factor": np.round(season[:, 1:].reshape(-1), 4),
        }
    )
    tables = {"customers": customers, "products": products_frame, "reps": reps_frame}
    truth = {
        "customer_params": customer_params,
        "products": product_truth,
        "seasonality": seasonality,
    }
    return tables, truth


def _order_frames(
    cal: _Calendar, shops: _Shops, products: _Products, promos: _Promotions, sim: _Sim
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The order lines of the history and of the horizon after it, ids in date order."""
    n_served = len(shops.served_idx)
    order_keys = np.sort(sim.order_day * n_served + sim.order_shop)
    number = np.searchsorted(order_keys, sim.day * n_served + sim.shop)
    rows = np.lexsort((sim.product, number))
    number = number[rows]
    promo = sim.promo[rows]
    order_ids = pl.Series(_ids("O", len(order_keys), 7), dtype=pl.String)
    served_ids = pl.Series([shops.ids[i] for i in shops.served_idx], dtype=pl.String)
    served_channels = pl.Series([CHANNELS[c] for c in shops.channel[shops.served_idx]])
    product_ids = pl.Series(products.ids[: products.n_own], dtype=pl.String)
    promo_ids = pl.Series(promos.ids, dtype=pl.String)
    frame = pl.DataFrame(
        {
            "customer_id": served_ids.gather(sim.shop[rows]),
            "order_id": order_ids.gather(number),
            "order_date": _dates(cal, sim.day[rows]),
            "product_id": product_ids.gather(sim.product[rows]),
            "quantity": sim.quantity[rows],
            "amount": sim.amount[rows],
            "unit_price": sim.unit_price[rows],
            "promotion_id": _nulls_where(promo_ids.gather(np.maximum(promo, 0)), promo < 0),
            "channel": served_channels.gather(sim.shop[rows]),
        },
        schema=TABLES["orders"].polars_schema(),
    )
    history = sim.day[rows] < cal.history_days
    return frame.filter(pl.Series(history)), frame.filter(pl.Series(~history))


def _visits(
    rng: np.random.Generator,
    cal: _Calendar,
    shops: _Shops,
    params: _Params,
    reps: _Reps,
    schedule: _Schedule,
) -> pl.DataFrame:
    """Visits of the history, consistent with each served shop's visits_per_month."""
    h = cal.history_days
    mode = params.mode
    contact = (mode == _FIELD) | (mode == _VIDEO) | (mode == _MERCH)
    # contact shops: every (visit_every)-th ordering occasion, half as often after a churn
    s, d, k = schedule.shop, schedule.day, schedule.k
    every = params.visit_every[s]
    churned = d >= params.churn_day[s]
    visit = (
        contact[s]
        & (d < h)
        & (d >= params.start_day[s])
        & np.where(churned, k % (2 * every) == 0, k % every == 0)
    )
    v_shop, v_day = s[visit], d[visit]
    # the others: a field check every few months
    others = np.flatnonzero(~contact & (params.visits_per_month > 0))
    if len(others):
        period = np.round(DAYS_PER_MONTH / params.visits_per_month[others]).astype(np.int64)
        k_max = h // int(period.min()) + 2
        first = params.start_day[others] + rng.integers(0, period)
        days = first[:, None] + np.arange(k_max)[None, :] * period[:, None]
        days = cal.open_day(days + rng.integers(-3, 4, days.shape))
        ok = (days < h) & (days >= params.start_day[others][:, None])
        v_shop = np.concatenate([v_shop, np.broadcast_to(others[:, None], days.shape)[ok]])
        v_day = np.concatenate([v_day, days[ok]])
    minutes = params.visit_minutes[v_shop] + 5 * rng.integers(-1, 2, len(v_shop))
    minutes = np.maximum(minutes, 5.0)
    modes = np.where(contact[v_shop], mode[v_shop], _FIELD)
    served_ids = pl.Series([shops.ids[i] for i in shops.served_idx], dtype=pl.String)
    rep_ids = pl.Series(reps.ids, dtype=pl.String)
    mode_names = pl.Series(_MODES, dtype=pl.String)
    return pl.DataFrame(
        {
            "customer_id": served_ids.gather(v_shop),
            "visit_date": _dates(cal, v_day),
            "rep_id": rep_ids.gather(params.rep[v_shop]),
            "duration_minutes": minutes.astype(np.float64),
            "mode": mode_names.gather(modes),
        },
        schema=TABLES["visits"].polars_schema(),
    ).sort("visit_date", "customer_id")
