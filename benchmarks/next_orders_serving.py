"""Benchmark: fit once, serve many — train the next-order engine, write it, read it back in a
fresh process and time the scoring of one customer and of 1,000.

    .venv/bin/python benchmarks/next_orders_serving.py [--data ../shared/data]
        [--dataset uci|iowa] [--since 2021-01-01] [--repeat 20] [--model DIR]

Prints: lines and customers learned from; fit time and model folder size; in the serving
process, the time to read the model and to keep every customer's candidate rows
(``NextOrderModel.warm``), the median and 95th percentile of one customer's
proposal (``recommend`` in proposal mode, a different customer each time), the time of 1,000
customers' proposals, and of their proposals and rank lists from one preparation; and whether
the lines read back equal those of the fitted model.

With ``--model DIR``: a folder holding a model (written by an earlier run with ``--model DIR``
or by ``salescope train``) is only served, in a fresh process, without fitting; a missing
folder is fitted and written there, then served, so the next run reuses it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import SHARED_DATA, heading, orders_of


def serve(folder: Path, repeat: int) -> None:
    """In a fresh process: read the model, time one and 1,000 customers."""
    import polars as pl

    from salescope.orders.persistence import load_model

    started = time.perf_counter()
    model = load_model(folder)
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    model.warm()  # every customer's candidate rows, kept for the requests after the history
    warmed = time.perf_counter() - started
    ids = model.codes_.customers["customer_id"]
    as_of = model.cutoff_
    model.recommend(pl.DataFrame({"customer_id": [ids[0]], "order_date": [as_of]}))  # warm
    one = []
    for i in range(repeat):
        target = pl.DataFrame({"customer_id": [ids[(i * 7919) % len(ids)]], "order_date": [as_of]})
        started = time.perf_counter()
        model.recommend(target, mode="proposal")
        one.append(time.perf_counter() - started)
    many = pl.DataFrame(
        {"customer_id": ids.head(1000), "order_date": [as_of] * min(1000, len(ids))}
    )
    started = time.perf_counter()
    model.recommend(many, mode="proposal")  # what a shop's page or a rep's day list needs
    proposals = time.perf_counter() - started
    started = time.perf_counter()
    ready = model.prepare(many)
    model.recommend(ready, mode="proposal")
    model.recommend(ready, mode="rank", top=10)
    thousand = time.perf_counter() - started
    one.sort()
    print(
        f"| read the model | {loaded:.2f} s |\n"
        f"| keep every customer's candidate rows (once, after reading) | {warmed:.2f} s |\n"
        f"| one customer, median of {repeat} | {1000 * statistics.median(one):.0f} ms |\n"
        f"| one customer, 95th percentile | {1000 * one[int(0.95 * (len(one) - 1))]:.0f} ms |\n"
        f"| {many.height:,} customers' proposals | {proposals:.2f} s |\n"
        f"| {many.height:,} customers (proposal and rank) | {thousand:.2f} s |",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA)
    parser.add_argument("--dataset", choices=["uci", "iowa"], default="uci")
    parser.add_argument("--since", type=dt.date.fromisoformat, default=None)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument(
        "--model", type=Path, default=None, help="reuse (or fit and keep) this model folder"
    )
    parser.add_argument("--serve", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, args.repeat)
        return 0
    if args.model is not None and args.model.exists():
        print(heading(f"Next-order engine served from the model in {args.model}"))
        print("| step | time |\n| --- | ---: |", flush=True)
        subprocess.run(
            [sys.executable, __file__, "--serve", str(args.model), "--repeat", str(args.repeat)],
            check=True,
        )
        return 0
    import polars as pl

    from salescope.orders.model import NextOrderModel
    from salescope.orders.persistence import fingerprint, load_model, save_model

    orders = orders_of(args.dataset, args.data)
    if args.since is not None:
        orders = orders.filter(pl.col("order_date") >= args.since)
    print(heading(f"Next-order engine served from a trained model ({args.dataset})"))
    started = time.perf_counter()
    model = NextOrderModel().fit(orders)
    fit = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        target = args.model if args.model is not None else Path(tmp) / "model"
        folder = save_model(model, target, data=fingerprint(orders))
        size = sum(p.stat().st_size for p in folder.iterdir())
        targets = pl.DataFrame(
            {"customer_id": model.codes_.customers["customer_id"], "order_date": model.cutoff_}
        )
        started = time.perf_counter()
        fresh = model.recommend(targets, mode="proposal")
        scoring = time.perf_counter() - started
        same = fresh.equals(load_model(folder).recommend(targets, mode="proposal"))
        print(
            f"{orders.height:,} lines, {model.codes_.n_customers:,} customers; "
            f"ranked by {model.summary()['ranked_by']}\n"
        )
        print("| step | time |\n| --- | ---: |")
        print(
            f"| fit | {fit:.0f} s |\n| write the model ({size / 2**20:.0f} MiB) | - |\n"
            f"| proposals of every customer, in the fitting process | {scoring:.1f} s "
            f"({100 * scoring / fit:.1f} % of the fit) |",
            flush=True,
        )
        subprocess.run(
            [sys.executable, __file__, "--serve", str(folder), "--repeat", str(args.repeat)],
            check=True,
        )
        print(f"\nLines read back equal the fitted model's: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
