"""What a backend broadcasts of a fitted engine, and what it ships with the buckets.

    .venv/bin/python benchmarks/broadcast_size.py MODEL_FOLDER [--per-bucket 4000]

Loads the model folder, pickles the whole engine (what was broadcast before the split) and
its shared part (``NextOrderModel.split``: what is broadcast now), lists the shared part's
largest pieces and the per-customer tables, and builds the rows the backends co-group with
the targets (every customer a target, in buckets of ``--per-bucket``, at least two).
"""

from __future__ import annotations

import argparse
import pickle
import time
from pathlib import Path
from typing import Any

from salescope.compute import BUCKET, scatter_rows, with_buckets
from salescope.orders.persistence import load_model


def _mb(value: Any) -> float:
    return len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--per-bucket", type=int, default=4000)
    args = parser.parse_args()
    model = load_model(args.model)
    print(f"{model.codes_.n_customers:,} customers, {model.lines_.height:,} lines in the engine")
    print(f"whole engine pickled: {_mb(model):.1f} MB")
    shared, rows = model.split()
    print(f"shared engine pickled: {_mb(shared):.2f} MB, of which")
    snap = shared.snapshot_
    pieces = {
        "customers' TIFU vectors": snap.matrix,
        "item similarities": snap.items,
        "bought in the last year": snap.evidence.bought,
        "nearby shops": shared.context_.geo,
        "product statistics": snap.products,
        "evidence": snap.evidence,
        "context of the products": shared.context_.products,
        "ranker": shared.ranking_,
        "quantity model": shared.quantity_model_,
        "adoption model": shared.adoption_,
    }
    for name, value in pieces.items():
        print(f"  {name}: {_mb(value):.2f} MB")
    print("per-customer tables (in memory):")
    for name, frame in rows.items():
        print(f"  {name}: {frame.height:,} rows, {frame.estimated_size() / 1e6:.1f} MB")
    customers = model.codes_.customers.select("customer_id")
    buckets = max(2, -(-customers.height // args.per_bucket))
    placed = with_buckets(customers, "customer_id", buckets)
    owner = model.codes_.customers.join(placed, on="customer_id").select("c", BUCKET)
    started = time.perf_counter()
    shipped = scatter_rows(rows, owner, "c")
    seconds = time.perf_counter() - started
    print(
        f"rows shipped with {buckets} buckets: {shipped.nbytes / 1e6:.1f} MB of LZ4 Arrow IPC "
        f"in {shipped.num_rows} (bucket, table) rows, built in {seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
