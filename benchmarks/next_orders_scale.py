"""Benchmark: train the next-order engine and predict every store's next order on Iowa.

    .venv/bin/python benchmarks/next_orders_scale.py [--data ../shared/data/iowa-liquor]
        [--sizes 1000000 5000000 0]

For each size N (0 = everything, 25 M lines) the most recent N canonical order lines of the
Iowa liquor sales are the history; in a fresh process, ``NextOrderModel.fit`` learns from them
and ``recommend`` proposes the next order of every store. Reports wall time (fit, predict,
whole process), the fit's CPU seconds and the process's peak resident memory. Goal: the full
history in under 10 minutes (stretch: 3) and under 8 GB on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from _common import SHARED_DATA, gib, heading, run_measured  # the script's own folder

GOAL_SECONDS = 600.0
GOAL_BYTES = 8 * 1024**3


def _prepare(data: Path, out: Path) -> int:
    from salescope.data.adapters.iowa import from_iowa
    from salescope.data.io import write_parquet

    orders = from_iowa([data / "iowa_sales_2012_2022.parquet"]).tables["orders"]
    write_parquet(orders, out)
    return orders.height


def _child(orders_path: Path, size: int, report: Path) -> None:
    import polars as pl

    from salescope.orders.model import NextOrderModel

    scan = pl.scan_parquet(orders_path)
    if size:
        # read only the lines of the most recent dates (the date column alone decides which),
        # so the peak memory is that of the N lines, not of the whole file
        dates = scan.select("order_date").collect()["order_date"].sort()
        start = dates[max(0, dates.len() - size)]
        del dates
        orders = scan.filter(pl.col("order_date") >= start).collect().sort("order_date").tail(size)
    else:
        orders = scan.collect()
    started, started_cpu = time.perf_counter(), time.process_time()
    model = NextOrderModel().fit(orders)
    fitted, fitted_cpu = time.perf_counter(), time.process_time()
    customers = orders.select(pl.col("customer_id").unique())
    targets = customers.with_columns(pl.lit(model.cutoff_).alias("order_date"))
    lines = model.recommend(targets, mode="proposal")
    done = time.perf_counter()
    summary = model.summary()
    report.write_text(
        json.dumps(
            {
                "lines": orders.height,
                "customers": customers.height,
                "products": orders["product_id"].n_unique(),
                "fit": fitted - started,
                # CPU seconds of every thread: what the fit costs whatever else runs
                "fit_cpu": fitted_cpu - started_cpu,
                "predict": done - fitted,
                "proposal_lines": lines.height,
                "train_rows": summary["training_rows"],
                "ranked_by": summary["ranked_by"],
                "fit_phases": summary["seconds"],
            }
        ),
        encoding="utf-8",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "iowa-liquor")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000, 0])
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(Path(args.child[0]), int(args.child[1]), Path(args.child[2]))
        return 0
    if not (args.data / "iowa_sales_2012_2022.parquet").is_file():
        print(f"Iowa sales not found in {args.data} (pass --data DIR)", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory(prefix="salescope-bench-") as tmp:
        orders = Path(tmp) / "orders.parquet"
        total = _prepare(args.data, orders)
        for size in args.sizes:
            report = Path(tmp) / f"{size}.json"
            wall, rss = run_measured([__file__, "--child", str(orders), str(size), str(report)])
            result = json.loads(report.read_text(encoding="utf-8"))
            rows.append((result, wall, rss))
            print(
                f"  {result['lines']:,} lines: {wall:.0f} s, {gib(rss)}; fit "
                f"{result['fit_cpu']:.0f} CPU s; its phases (wall s): {result.get('fit_phases')}",
                file=sys.stderr,
            )
    print(heading("Next-order engine on Iowa: train and predict every store"))
    print(
        "| history lines | stores | products | training rows | ranked by | fit | predict "
        "| whole process | peak RSS |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for result, wall, rss in rows:
        print(
            f"| {result['lines']:,} | {result['customers']:,} | {result['products']:,} | "
            f"{result['train_rows']:,} | {result['ranked_by']} | {result['fit']:.0f} s | "
            f"{result['predict']:.0f} s | {wall:.0f} s | {gib(rss)} |"
        )
    full = [r for r in rows if r[0]["lines"] == total]
    if full:
        _, wall, rss = full[0]
        verdict = "met" if wall < GOAL_SECONDS and rss < GOAL_BYTES else "NOT met"
        print(f"\nGoal (full history under 10 min and 8 GB): {verdict}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
