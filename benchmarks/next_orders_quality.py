"""Benchmark: backtest of the next-order engine against tuned TIFU-KNN and the TopFreq
baselines on Iowa liquor sales and UCI Online Retail (the issue's cut-offs).

    .venv/bin/python benchmarks/next_orders_quality.py [--data ../shared/data]
        [--datasets iowa uci] [--out benchmarks/out]

Each cut-off: everything learns from the orders before it; the target is each customer's
first order on or after it. Prints, per dataset, Recall@10/20, NDCG@10, PHR@10, repeat and
explore recall per method and cut-off, the engine's proposal F1, quantity WAPE against "repeat
the last quantity", the engine's gain over TIFU-KNN and its range extension against user-kNN;
writes the full JSON reports.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

from _common import (  # the script's own folder
    NEXT_ORDER_CUTOFFS,
    REPO,
    SHARED_DATA,
    heading,
    orders_of,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA)
    parser.add_argument(
        "--datasets", nargs="+", default=["iowa", "uci"], choices=list(NEXT_ORDER_CUTOFFS)
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out")
    args = parser.parse_args()
    from salescope.orders.evaluation import METHODS, backtest

    args.out.mkdir(parents=True, exist_ok=True)
    print(heading("Next-order backtest: engine against baselines"))
    for dataset in args.datasets:
        orders = orders_of(dataset, args.data)
        cutoffs = [dt.date.fromisoformat(c) for c in NEXT_ORDER_CUTOFFS[dataset]]
        started = time.perf_counter()
        results = backtest(
            orders,
            cutoffs,
            progress=lambda stage, f, name=dataset: print(f"  {name} {stage}", file=sys.stderr),
        )
        seconds = time.perf_counter() - started
        (args.out / f"next_orders_{dataset}.json").write_text(
            json.dumps([r.as_dict() for r in results], indent=2), encoding="utf-8"
        )
        print(f"### {dataset} ({orders.height:,} lines; {seconds / 60:.0f} min in all)\n")
        print("| cut-off | method | R@10 | R@20 | NDCG@10 | PHR@10 | repeat R@10 | explore R@10 |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in results:
            for method in METHODS:
                m = r.ranking.get(method)
                if m is None:
                    continue
                name = f"**{method}**" if method == "engine" else method
                print(
                    f"| {r.cutoff} | {name} | {m['recall@10']:.4f} | {m['recall@20']:.4f} | "
                    f"{m['ndcg@10']:.4f} | {m['phr@10']:.4f} | {m['repeat_recall@10']:.4f} | "
                    f"{m['explore_recall@10']:.4f} |"
                )
        print()
        print(
            "| cut-off | customers | engine vs TIFU-KNN (R@10) | proposal P / R / F1 | "
            "lines proposed / ordered | WAPE engine | WAPE last qty | ratio | bias | ECE | "
            "fit + predict |"
        )
        print("| --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in results:
            engine = r.ranking["engine"]["recall@10"]
            tifu = r.ranking["TIFU-KNN"]["recall@10"]
            p = r.proposal
            q, last = r.quantity["engine"], r.quantity["last quantity"]
            seconds_used = r.seconds.get("engine_fit", 0) + r.seconds.get("engine_predict", 0)
            print(
                f"| {r.cutoff} | {r.customers:,} | {100 * (engine / tifu - 1):+.1f} % | "
                f"{p['precision']:.3f} / {p['recall']:.3f} / {p['f1']:.3f} | "
                f"{p['lines_per_proposal']:.1f} / {p['lines_per_order']:.1f} | "
                f"{q['wape']:.3f} | {last['wape']:.3f} | {q['wape'] / last['wape']:.2f} | "
                f"{q['bias']:+.3f} | {r.calibration['ece']:.3f} | {seconds_used:.0f} s |"
            )
        print()
        print("Range extension: never-bought products, explore Recall@10\n")
        print("| cut-off | engine (adoption model) | user-kNN over TIFU vectors | gain |")
        print("| --- | ---: | ---: | ---: |")
        for r in results:
            e = r.extension
            print(
                f"| {r.cutoff} | {e['engine_explore_recall@10']:.4f} | "
                f"{e['user_knn_explore_recall@10']:.4f} | {100 * e['gain']:+.1f} % |"
            )
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
