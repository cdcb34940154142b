"""Spark backend against the local one: train and next-orders on the N most recent Iowa lines.

    .venv/bin/python benchmarks/spark_backend.py [--data ../shared/data/iowa-liquor]
        [--sizes 1000000 5000000] [--steps train next-orders] [--work DIR]

For each size, the canonical orders of the N most recent lines are written as Parquet once;
then each command runs in a fresh ``salescope`` process, locally and with ``--backend spark
--spark-master local[2]``, while this script samples the process tree every 0.2 s: the wall
time, the peak RSS of the driver (the ``salescope`` process), of the JVM and of the Python
workers Spark starts (the largest one, and the sum of their peaks). Both next-orders runs
score the model trained on Spark, and their lines are compared.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import SHARED_DATA, heading  # the script's own folder

MASTER = "local[2]"


@dataclass
class Peaks:
    """Peak RSS (bytes) per process of a measured command, by role."""

    driver: int = 0
    jvm: int = 0
    workers: dict[int, int] = field(default_factory=dict)


def _children(pid: int) -> list[int]:
    """The child processes of ``pid``, started by any of its threads (the JVM starts Spark's
    Python workers from another thread than its main one)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found: list[int] = []
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as handle:
                found.extend(int(p) for p in handle.read().split())
        except OSError:
            continue
    return found


def _peak_and_command(pid: int) -> tuple[int, str]:
    """(VmHWM in bytes: the process's own peak RSS so far, its command line)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return 0, ""
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024, command
    return 0, command


def _sample(root: int, peaks: Peaks) -> None:
    stack = [root]
    while stack:
        pid = stack.pop()
        stack.extend(_children(pid))
        peak, command = _peak_and_command(pid)
        if pid == root:
            peaks.driver = max(peaks.driver, peak)
        elif "java" in command.split(" ", 1)[0]:
            peaks.jvm = max(peaks.jvm, peak)
        elif "pyspark" in command or "python" in command:
            peaks.workers[pid] = max(peaks.workers.get(pid, 0), peak)


def measured(arguments: list[str]) -> tuple[float, Peaks]:
    """Run ``salescope ARGUMENTS``; its wall seconds and the peaks of its processes."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "salescope", *arguments],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    peaks = Peaks()
    while process.poll() is None:
        _sample(process.pid, peaks)
        time.sleep(0.2)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        stderr = process.stderr.read() if process.stderr else ""
        raise SystemExit(f"salescope {' '.join(arguments)} failed:\n{stderr[-2000:]}")
    return wall, peaks


def prepare(data: Path, size: int, out: Path) -> int:
    """Canonical orders of the ``size`` most recent lines of the Iowa file, as Parquet."""
    import polars as pl

    from salescope.data.adapters.iowa import from_iowa

    if out.exists():
        return pl.scan_parquet(out).select(pl.len()).collect().item()  # type: ignore[no-any-return]
    scan = pl.scan_parquet(data / "iowa_sales_2012_2022.parquet")
    dates = scan.select("date").collect()["date"].sort()
    start = dates[max(0, dates.len() - size)]
    raw = out.with_name(f"raw-{size}.parquet")
    scan.filter(pl.col("date") >= start).collect().write_parquet(raw)
    orders = from_iowa([raw]).tables["orders"]
    orders.write_parquet(out)
    raw.unlink()
    return orders.height


def _gib(size: int) -> str:
    return f"{size / 1024**3:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "iowa-liquor")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--steps", nargs="+", default=["train", "next-orders"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/salescope-spark-bench"))
    args = parser.parse_args()
    if not (args.data / "iowa_sales_2012_2022.parquet").is_file():
        print(f"Iowa data not found in {args.data}", file=sys.stderr)
        return 1
    args.work.mkdir(parents=True, exist_ok=True)
    spark = ["--backend", "spark", "--spark-master", MASTER]
    rows = []
    for size in args.sizes:
        orders = args.work / f"orders-{size}.parquet"
        lines = prepare(args.data, size, orders)
        model = args.work / f"model-{size}"
        for step in args.steps:
            for backend in ("local", "spark"):
                extra = spark if backend == "spark" else []
                if step == "train":
                    out = model if backend == "spark" else args.work / f"model-{size}-local"
                    command = ["train", "--orders", str(orders), "--model-out", str(out)]
                else:
                    out = args.work / f"lines-{size}-{backend}.csv"
                    command = ["next-orders", "--model", str(model), "--out", str(out)]
                wall, peaks = measured([*command, *extra])
                workers = peaks.workers.values()
                rows.append(
                    f"| {lines:,} | {step} | {backend} | {wall:,.0f} | {_gib(peaks.driver)} | "
                    + (
                        f"{_gib(peaks.jvm)} | {len(workers)} | {_gib(max(workers, default=0))} "
                        f"| {_gib(sum(workers))} |"
                        if backend == "spark"
                        else "– | – | – | – |"
                    )
                )
                print(rows[-1], flush=True)
        if "next-orders" in args.steps:
            import polars as pl

            local = pl.read_csv(args.work / f"lines-{size}-local.csv", infer_schema_length=0)
            remote = pl.read_csv(args.work / f"lines-{size}-spark.csv", infer_schema_length=0)
            same = local.sort(local.columns).equals(remote.sort(remote.columns))
            print(f"{size:,} lines: the two next-orders outputs are identical: {same}")
    print()
    print(heading("Spark backend vs local"))
    print(
        "| order lines | command | backend | seconds | driver peak GiB | JVM peak GiB "
        "| Python workers | largest worker GiB | workers' peaks summed GiB |"
    )
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
