"""``generate_demo``: the demo company, its tables and truth."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl

from salescope.data.demo.behaviour import _schedule, _taste
from salescope.data.demo.catalogue import _products
from salescope.data.demo.commercial import _objectives, _promotions
from salescope.data.demo.common import _Calendar
from salescope.data.demo.config import DemoConfig
from salescope.data.demo.constants import Progress
from salescope.data.demo.people import _assign, _customer_params, _reps
from salescope.data.demo.simulation import _set_budgets, _simulate
from salescope.data.demo.tables import _frames, _order_frames, _visits
from salescope.data.demo.truth import _market, _sim_truth
from salescope.data.demo.world import _geography, _shops
from salescope.data.io import write_csv, write_parquet


@dataclass
class DemoCompany:
    """The canonical tables of the demo company and the truth they were generated from."""

    config: DemoConfig
    tables: dict[str, pl.DataFrame]
    truth: dict[str, pl.DataFrame]
    seconds: float = 0.0

    def summary(self) -> dict[str, int | float | str]:
        """The figures people want to see first."""
        customers = self.tables["customers"]
        products = self.tables["products"]
        orders = self.tables["orders"]
        reps = self.tables["reps"]
        params = self.truth["customer_params"]
        end = self.config.end
        last_year = orders.filter(pl.col("order_date") > end - timedelta(days=365))
        n_orders = orders["order_id"].n_unique()
        return {
            "regions": int(customers["region"].n_unique()),
            "towns": int(customers["city"].n_unique()),
            "shops": customers.height,
            "served": int((customers["status"] == "served").sum()),
            "prospects": int((customers["status"] == "prospect").sum()),
            "new_in_history": int(params["served_from"].is_not_null().sum()),
            "churned": int(params["churn_date"].is_not_null().sum()),
            "reps": int((reps["role"] == "rep").sum()),
            "merchandisers": int((reps["role"] == "merchandiser").sum()),
            "categories": int(products["category"].n_unique()),
            "products_own": int(products["own"].sum()),
            "products_competitor": int((~products["own"]).sum()),
            "launches": int(self.truth["products"]["launched_in_history"].sum()),
            "promotions": self.tables["promotions"].height,
            "objectives": self.tables["objectives"].height,
            "orders": int(n_orders),
            "order_lines": orders.height,
            "lines_per_order": round(orders.height / max(n_orders, 1), 1),
            "first_order": str(orders["order_date"].min()),
            "last_order": str(orders["order_date"].max()),
            "revenue": round(float(orders["amount"].sum()), 2),
            "revenue_last_12m": round(float(last_year["amount"].sum()), 2),
            "lines_on_promotion": int(orders["promotion_id"].is_not_null().sum()),
            "market_rows": self.tables["market"].height,
            "visits": self.tables["visits"].height,
            "adoption_pairs": self.truth["adoption"].height,
            "future_order_lines": self.truth["future_orders"].height,
            "seconds": round(self.seconds, 2),
        }

    def write(self, directory: str | Path, fmt: str = "parquet") -> dict[str, Path]:
        """Write every canonical table as ``DIR/<name>.<fmt>`` (csv or parquet); return paths."""
        if fmt not in ("csv", "parquet"):
            raise ValueError("fmt must be 'csv' or 'parquet'")
        directory = Path(directory)
        paths: dict[str, Path] = {}
        for name, frame in self.tables.items():
            path = directory / f"{name}.{fmt}"
            if fmt == "csv":
                write_csv(frame, path)
            else:
                write_parquet(frame, path)
            paths[name] = path
        return paths


def generate_demo(
    config: DemoConfig | None = None, progress: Progress | None = None
) -> DemoCompany:
    """Generate the demo company of ``config`` (default: ``DemoConfig()``), deterministically."""
    cfg = config or DemoConfig()
    began = time.perf_counter()

    def report(stage: str, fraction: float) -> None:
        if progress is not None:
            progress(stage, fraction)

    # one independent stream per part, so that changing one part leaves the others unchanged
    (
        r_geo,
        r_shops,
        r_products,
        r_params,
        r_reps,
        r_assign,
        r_taste,
        r_schedule,
        r_promos,
        r_objectives,
        r_orders,
        r_budgets,
        r_visits,
        r_market,
    ) = (np.random.default_rng(s) for s in np.random.SeedSequence(cfg.seed).spawn(14))
    cal = _Calendar.build(cfg)
    report("world", 0.0)
    geo = _geography(r_geo, cfg)
    shops = _shops(r_shops, cfg, geo)
    products = _products(r_products, cfg, cal)
    params = _customer_params(r_params, cfg, cal, shops)
    reps = _reps(r_reps, cfg, geo, shops)
    _assign(r_assign, shops, params, reps)
    report("tastes", 0.1)
    taste = _taste(r_taste, cfg, cal, shops, products, params)
    schedule = _schedule(r_schedule, cfg, cal, shops, params)
    promos = _promotions(r_promos, cfg, cal, geo, products, taste)
    objectives = _objectives(r_objectives, cfg, cal, geo, products)
    report("orders", 0.2)
    sim = _simulate(
        r_orders,
        cfg,
        cal,
        shops,
        params,
        products,
        taste,
        schedule,
        promos,
        objectives,
        lambda f: report("orders", 0.2 + 0.6 * f),
    )
    _set_budgets(r_budgets, cal, promos, sim)
    report("tables", 0.85)
    tables, truth = _frames(cfg, cal, geo, shops, params, reps, products)
    tables["orders"], truth["future_orders"] = _order_frames(cal, shops, products, promos, sim)
    tables["promotions"] = promos.frame(cal, products)
    tables["objectives"] = objectives.frame(cal, products)
    tables["market"] = _market(r_market, cfg, shops, sim)
    tables["visits"] = _visits(r_visits, cal, shops, params, reps, schedule)
    truth.update(_sim_truth(cal, shops, products, taste, promos, sim))
    names = ("orders", "customers", "products", "promotions", "objectives", "reps", "market")
    tables = {name: tables[name] for name in (*names, "visits")}
    report("done", 1.0)
    return DemoCompany(cfg, tables, truth, time.perf_counter() - began)
