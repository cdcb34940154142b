"""Benchmark: the next-order engine on histories of different shape, each customer's last order
held out, against tuned TIFU-KNN, P-TopFreq and user-kNN on the same split.

    .venv/bin/python benchmarks/next_orders_generality.py [--data ../shared/data]
        [--histories uci iowa ...] [--out benchmarks/out]

Histories (built from ../shared/data and the demo company by ``salescope.orders.shapes``):

* uci — UCI Online Retail as it is;
* uci-placeholder — UCI with every date replaced by the customer's order index x 7 days and
  every quantity 1 (an export that keeps only the order sequence);
* uci-thinned — UCI with each customer's orders cut at its own random end;
* iowa — Iowa liquor sales from 2020-07-01 on (2,000+ stores, weekly reorders);
* iowa-weekly — the same aggregated to one order per store and week;
* iowa-200 — 200 stores drawn at random, their whole 2012-2022 history (ten years);
* demo — the demo company (seed 7, two years);
* demo-few — the demo with half the customers holding 1-2 orders;
* demo-wide — the demo sold as 40 regional variants per product in a 70,000-product catalogue
  (``shapes.wide_catalogue``: most of the catalogue never sells).

Per history: customers scored, Recall@10 and NDCG@10 of the engine, tuned TIFU-KNN and
P-TopFreq, the engine's ratio to TIFU-KNN, the calibration error (10 equal-count bins) and
Brier skill of its top-10 probabilities, explore Recall@10 of never-bought products against
user-kNN, how the engine ranked (model or a baseline it fell back to) and the fit time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from _common import REPO, SHARED_DATA, heading  # the script's own folder

Tables = dict[str, pl.DataFrame | None]


def _uci(data: Path) -> Tables:
    from salescope.data.adapters.online_retail import from_online_retail

    tables = from_online_retail([data / "uci-online-retail" / "online_retail.csv.gz"]).tables
    return {"orders": tables["orders"], "products": tables["products"], "customers": None}


def _iowa(data: Path, since: dt.date | None) -> Tables:
    from salescope.data.adapters.iowa import from_iowa

    tables = from_iowa([data / "iowa-liquor" / "iowa_sales_2012_2022.parquet"]).tables
    orders = tables["orders"]
    if since is not None:
        orders = orders.filter(pl.col("order_date") >= since)
    return {"orders": orders, "products": tables.get("products"), "customers": None}


def _demo(shape: str = "") -> Tables:
    from salescope.data.demo import DemoConfig, generate_demo
    from salescope.orders.shapes import few_orders, wide_catalogue

    company = generate_demo(DemoConfig())
    orders, products = company.tables["orders"], company.tables["products"]
    if shape == "few":
        orders = few_orders(orders, share=0.5, seed=3)
    if shape == "wide":
        orders, products = wide_catalogue(orders, products, size=70_000)
    return {"orders": orders, "products": products, "customers": company.tables["customers"]}


def histories(data: Path) -> dict[str, Callable[[], Tables]]:
    """Each history's builder (loaded on demand, one at a time)."""
    from salescope.orders import shapes

    def uci_placeholder() -> Tables:
        t = _uci(data)
        assert t["orders"] is not None
        t["orders"] = shapes.unit_quantities(shapes.placeholder_dates(t["orders"]))
        return t

    def uci_thinned() -> Tables:
        t = _uci(data)
        assert t["orders"] is not None
        t["orders"] = shapes.thin_out(t["orders"], seed=5)
        return t

    def iowa_weekly() -> Tables:
        t = _iowa(data, dt.date(2020, 7, 1))
        assert t["orders"] is not None
        t["orders"] = shapes.weekly_orders(t["orders"])
        return t

    def iowa_200() -> Tables:
        t = _iowa(data, None)
        assert t["orders"] is not None
        t["orders"] = shapes.some_customers(t["orders"], 200, seed=1)
        return t

    return {
        "uci": lambda: _uci(data),
        "uci-placeholder": uci_placeholder,
        "uci-thinned": uci_thinned,
        "iowa": lambda: _iowa(data, dt.date(2020, 7, 1)),
        "iowa-weekly": iowa_weekly,
        "iowa-200": iowa_200,
        "demo": _demo,
        "demo-few": lambda: _demo("few"),
        "demo-wide": lambda: _demo("wide"),
    }


def row(name: str, tables: Tables, result: Any) -> dict[str, Any]:
    """The table row of one history."""
    orders = tables["orders"]
    assert orders is not None
    r = result.ranking
    engine, tifu, ptop = r["engine"], r["TIFU-KNN"], r["P-TopFreq"]
    return {
        "history": name,
        "lines": orders.height,
        "customers": result.customers,
        "engine_r10": engine["recall@10"],
        "tifu_r10": tifu["recall@10"],
        "ptop_r10": ptop["recall@10"],
        "ratio_tifu": engine["recall@10"] / tifu["recall@10"] if tifu["recall@10"] else None,
        "ratio_ptop": engine["recall@10"] / ptop["recall@10"] if ptop["recall@10"] else None,
        "engine_ndcg10": engine["ndcg@10"],
        "tifu_ndcg10": tifu["ndcg@10"],
        "ece": result.calibration.get("ece"),
        "brier_skill": result.calibration.get("brier_skill"),
        "explore_engine": result.extension.get("engine_explore_recall@10"),
        "explore_user_knn": result.extension.get("user_knn_explore_recall@10"),
        "ranked_by": result.engine.get("ranked_by", "model"),
        "train_rows": result.engine.get("train_rows"),
        "fit_seconds": result.seconds.get("engine_fit"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA)
    parser.add_argument("--histories", nargs="+", default=None)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out")
    args = parser.parse_args()
    from salescope.orders.evaluation import evaluate_last_order

    builders = histories(args.data)
    chosen = args.histories or list(builders)
    unknown = set(chosen) - set(builders)
    if unknown:
        parser.error(f"unknown histories {sorted(unknown)}; known: {', '.join(builders)}")
    args.out.mkdir(parents=True, exist_ok=True)
    print(heading("Next-order engine on histories of different shape (last order held out)"))
    print(
        "| history | lines | customers | engine R@10 | TIFU-KNN | P-TopFreq | vs TIFU-KNN | "
        "engine NDCG@10 | TIFU NDCG@10 | ECE | Brier skill | explore R@10 engine / user-kNN | "
        "ranked by | fit |"
    )
    print("| --- " + "| ---: " * 10 + "| --- | --- | ---: |")
    rows = []
    for name in chosen:
        tables = builders[name]()
        orders = tables["orders"]
        assert orders is not None
        started = time.perf_counter()
        result = evaluate_last_order(
            orders,
            products=tables["products"],
            customers=tables["customers"],
            progress=lambda stage, f, n=name: print(f"  {n}: {stage}", file=sys.stderr),
        )
        seconds = time.perf_counter() - started
        r = row(name, tables, result)
        r["seconds"] = seconds
        rows.append(r)
        print(
            f"| {name} | {r['lines']:,} | {r['customers']:,} | {r['engine_r10']:.4f} | "
            f"{r['tifu_r10']:.4f} | {r['ptop_r10']:.4f} | {r['ratio_tifu']:.2f}x | "
            f"{r['engine_ndcg10']:.4f} | {r['tifu_ndcg10']:.4f} | {r['ece']:.3f} | "
            f"{(r['brier_skill'] or float('nan')):+.3f} | "
            f"{r['explore_engine']:.4f} / {r['explore_user_knn']:.4f} | {r['ranked_by']} | "
            f"{r['fit_seconds']:.0f} s |",
            flush=True,
        )
        (args.out / f"generality_{name}.json").write_text(
            json.dumps({"row": r, "result": result.as_dict()}, indent=2, default=str),
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
