"""The demo's market observations and the truth the history was generated from."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl

from salescope.data.demo.behaviour import _Taste
from salescope.data.demo.catalogue import _Products
from salescope.data.demo.commercial import _Promotions
from salescope.data.demo.common import _Calendar, _nullable_dates, _nulls_where
from salescope.data.demo.config import DemoConfig
from salescope.data.demo.constants import NEVER, FloatArray
from salescope.data.demo.simulation import _Sim
from salescope.data.demo.world import _Shops
from salescope.domain.schemas import TABLES


def _periods(cfg: DemoConfig) -> list[tuple[str, int, int]]:
    """Market periods: calendar years inside the history, else its full months."""
    start, end = cfg.start, cfg.end
    years = [
        (str(y), (date(y, 1, 1) - start).days, (date(y, 12, 31) - start).days)
        for y in range(start.year, end.year + 1)
        if date(y, 1, 1) >= start and date(y, 12, 31) <= end
    ]
    if years:
        return years
    months: list[tuple[str, int, int]] = []
    y, m = start.year, start.month
    while date(y, m, 1) <= end:
        first = date(y, m, 1)
        nxt = date(y + m // 12, m % 12 + 1, 1)
        if first >= start and nxt - timedelta(days=1) <= end:
            months.append((f"{y}-{m:02d}", (first - start).days, (nxt - start).days - 1))
        y, m = nxt.year, nxt.month
    return months


def _true_total(shops: _Shops, first: int, last: int) -> FloatArray:
    """True purchases of every shop from all suppliers over days first..last (the model)."""
    days = np.arange(first, last + 1) / 365.25
    growth = np.exp(shops.trend[:, None] * days[None, :]).mean(axis=1)
    return np.asarray(shops.potential_base * growth * (last - first + 1) / 365.25, np.float64)


def _own_sales(shops: _Shops, sim: _Sim, first: int, last: int) -> FloatArray:
    """Our real sales to every shop over days first..last."""
    in_window = (sim.day >= first) & (sim.day <= last)
    shop = shops.served_idx[sim.shop[in_window]]
    sales = np.bincount(shop, weights=sim.amount[in_window], minlength=shops.n)
    return np.asarray(sales, dtype=np.float64)


def _market(rng: np.random.Generator, cfg: DemoConfig, shops: _Shops, sim: _Sim) -> pl.DataFrame:
    n = shops.n
    observed = rng.random(n) < cfg.market_share
    audit = rng.random(n) < 0.3
    frames = []
    for label, first, last in _periods(cfg):
        own = _own_sales(shops, sim, first, last)
        total = np.maximum(_true_total(shops, first, last), own)
        noise = np.exp(rng.normal(0, 1, n) * np.where(audit, 0.05, 0.10))
        measured = np.round(np.maximum(total * noise, own), 2)
        own_amount = _nulls_where(pl.Series("own_amount", np.round(own, 2)), ~shops.served)
        frames.append(
            pl.DataFrame(
                {
                    "customer_id": shops.ids,
                    "period": [label] * n,
                    "total_amount": measured,
                    "category": [None] * n,
                    "own_amount": own_amount,
                    "source": np.where(audit, "audit", "panel"),
                },
                schema=TABLES["market"].polars_schema(),
            ).filter(pl.Series(observed))
        )
    if not frames:
        return TABLES["market"].empty()
    return pl.concat(frames).sort("customer_id", "period")


def _sim_truth(
    cal: _Calendar,
    shops: _Shops,
    products: _Products,
    taste: _Taste,
    promos: _Promotions,
    sim: _Sim,
) -> dict[str, pl.DataFrame]:
    """The truth tables computed from the simulation: potential, adoption, lifts, repertoire."""
    h = cal.history_days
    j = products.n_own
    n_served = len(shops.served_idx)
    served_ids = pl.Series([shops.ids[i] for i in shops.served_idx], dtype=pl.String)
    product_ids = pl.Series(products.ids[:j], dtype=pl.String)
    promo_ids = pl.Series(promos.ids, dtype=pl.String)
    # potential over the last 12 months (or the whole shorter history), annualised
    first = max(0, h - 365)
    scale = 365.25 / (h - first)
    model = _true_total(shops, first, h - 1) * scale
    own = _own_sales(shops, sim, first, h - 1) * scale
    potential_value = np.maximum(model, own)
    potential = pl.DataFrame(
        {
            "customer_id": shops.ids,
            "status": ["served" if s else "prospect" for s in shops.served],
            "potential": np.round(potential_value, 2),
            "own_amount": np.round(own, 2),
            "share_of_wallet": np.round(own / potential_value, 4),
            "competitor_amount": np.round(potential_value - own, 2),
        }
    ).sort("customer_id")
    # adoption: served × own products available at the end, never bought in the history
    hist = sim.day < h
    bought = np.zeros((n_served, j), dtype=bool)
    bought[sim.shop[hist], sim.product[hist]] = True
    available = (products.launch_day[:j] < h) & (products.delist_day[:j] >= h)
    lacking = ~bought & available[None, :]
    in_rep = taste.init_rep & (taste.drop_day >= h) & lacking
    ss, pp = np.nonzero(lacking)
    propensity = np.where(in_rep, taste.inclusion, taste.propensity)[ss, pp]
    adoption = pl.DataFrame(
        {
            "customer_id": served_ids.gather(ss),
            "product_id": product_ids.gather(pp),
            "propensity": np.round(propensity, 5),
            "in_repertoire": in_rep[ss, pp],
        }
    ).sort("customer_id", "product_id")
    # promotions
    uses = np.bincount(sim.promo[hist & (sim.promo >= 0)], minlength=promos.n)
    uses_future = np.bincount(sim.promo[~hist & (sim.promo >= 0)], minlength=promos.n)
    promotion_lift = pl.DataFrame(
        {"promotion_id": promos.ids, "lift": promos.lift, "uses": uses, "uses_future": uses_future}
    )
    # repertoire: products held at the start plus adoptions in the history
    rs, rp = np.nonzero(taste.init_rep)
    adopted = sim.adopt_day < h
    a_s, a_p = sim.adopt_shop[adopted], sim.adopt_product[adopted]
    shop = np.concatenate([rs, a_s])
    prod = np.concatenate([rp, a_p])
    adopted_on = np.concatenate([np.full(len(rs), NEVER), sim.adopt_day[adopted]])
    a_promo = np.concatenate([np.full(len(rs), -1), sim.adopt_promo[adopted]])
    dropped = np.concatenate([taste.drop_day[rs, rp], np.full(len(a_s), NEVER)])
    dropped = np.where(dropped < h, dropped, NEVER)
    repertoire = pl.DataFrame(
        {
            "customer_id": served_ids.gather(shop),
            "product_id": product_ids.gather(prod),
            "inclusion_probability": np.round(taste.inclusion[shop, prod], 4),
            "base_quantity": np.round(taste.quantity[shop, prod], 3),
            "by_pack": taste.by_pack[shop, prod],
            "adopted_on": _nullable_dates(cal, adopted_on, "adopted_on"),
            "adoption_promotion_id": _nulls_where(
                promo_ids.gather(np.maximum(a_promo, 0)), a_promo < 0
            ),
            "dropped_on": _nullable_dates(cal, dropped, "dropped_on"),
        }
    ).sort("customer_id", "product_id", "adopted_on", nulls_last=False)
    return {
        "potential": potential,
        "adoption": adoption,
        "promotion_lift": promotion_lift,
        "repertoire": repertoire,
    }
