"""Benchmark: the Iowa sales (25 M lines) converted, then read and validated as canonical orders.

    .venv/bin/python benchmarks/read_validate_iowa.py [--data ../shared/data/iowa-liquor]

(a) converts ``iowa_sales_2012_2022.parquet`` with ``salescope.data.adapters.iowa.from_iowa``
and writes the canonical orders as Parquet in a temporary directory; (b) reads and validates
that file with ``salescope.data.io.read_table(path, ORDERS)``. Each step runs in a fresh
subprocess, so its wall time and peak resident memory (``os.wait4``'s rusage of that process)
are its own. Prints a Markdown table with the date and the machine. Goal for (b): under 30 s
and under 4 GB on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import gib, machine  # the script's own folder

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "iowa-liquor"
SALES = "iowa_sales_2012_2022.parquet"
GOAL_SECONDS = 30.0
GOAL_BYTES = 4 * 1024**3


def _convert(data: Path, out: Path) -> dict[str, object]:
    from salescope.data.adapters.iowa import from_iowa
    from salescope.data.io import write_parquet

    started = time.perf_counter()
    output = from_iowa([data / SALES])
    converted = time.perf_counter()
    orders = output.tables["orders"]
    write_parquet(orders, out)
    return {
        "seconds": converted - started,
        "write_seconds": time.perf_counter() - converted,
        "kept": orders.height,
        "dropped": sum(d.rows for d in output.dropped),
        "reasons": {d.reason: d.rows for d in output.dropped},
        "orders": orders["order_id"].n_unique(),
    }


def _read(path: Path) -> dict[str, object]:
    from salescope.data.io import read_table
    from salescope.domain.schemas import ORDERS

    started = time.perf_counter()
    frame = read_table(path, ORDERS)
    return {"seconds": time.perf_counter() - started, "rows": frame.height}


def _child(step: str, data: Path, path: Path, report: Path) -> None:
    result = _convert(data, path) if step == "convert" else _read(path)
    report.write_text(json.dumps(result), encoding="utf-8")


def _run(step: str, data: Path, path: Path, workdir: Path) -> tuple[dict[str, object], float, int]:
    """Run ``step`` in a fresh interpreter: its result, wall seconds and peak RSS in bytes."""
    report = workdir / f"{step}.json"
    command = [
        sys.executable,
        __file__,
        "--child",
        step,
        "--data",
        str(data),
        "--path",
        str(path),
        "--report",
        str(report),
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"step {step} failed with exit status {process.returncode}")
    return json.loads(report.read_text(encoding="utf-8")), wall, usage.ru_maxrss * 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="iowa-liquor folder")
    parser.add_argument("--child", choices=("convert", "read"), help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--report", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.data, args.path, args.report)
        return 0
    if not (args.data / SALES).is_file():
        print(f"{args.data / SALES} not found (pass --data DIR)", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="salescope-bench-") as tmp:
        workdir = Path(tmp)
        orders = workdir / "orders.parquet"
        converted, convert_wall, convert_rss = _run("convert", args.data, orders, workdir)
        size = orders.stat().st_size
        read, read_wall, read_rss = _run("read", args.data, orders, workdir)

    kept = int(str(converted["kept"]))
    dropped = int(str(converted["dropped"]))
    read_seconds = float(str(read["seconds"]))
    ok = read_wall < GOAL_SECONDS and read_rss < GOAL_BYTES
    print(f"## Iowa liquor sales: convert, then read + validate ({dt.date.today().isoformat()})")
    print()
    print(f"Machine: {machine()}.")
    print()
    print("| step | rows | wall time | peak RSS (process) |")
    print("| --- | ---: | ---: | ---: |")
    print(
        f"| (a) convert `{SALES}` with `from_iowa` | {kept + dropped:,} in, {kept:,} kept, "
        f"{dropped:,} dropped | {float(str(converted['seconds'])):.1f} s "
        f"(process {convert_wall:.1f} s) | {gib(convert_rss)} |"
    )
    print(
        f"| write canonical orders Parquet (zstd, {size / 1024**2:.0f} MiB) | {kept:,} | "
        f"{float(str(converted['write_seconds'])):.1f} s | (in the same process) |"
    )
    print(
        f"| (b) `read_table(orders.parquet, ORDERS)` in a fresh process | "
        f"{int(str(read['rows'])):,} | {read_seconds:.1f} s (process {read_wall:.1f} s) | "
        f"{gib(read_rss)} |"
    )
    print()
    print(f"Orders: {int(str(converted['orders'])):,}. Dropped lines by reason:")
    reasons = converted["reasons"]
    assert isinstance(reasons, dict)
    for reason, rows in reasons.items():
        print(f"- {reason}: {rows:,}")
    print()
    verdict = "met" if ok else "NOT met"
    print(f"Goal for (b), under {GOAL_SECONDS:.0f} s and under {gib(GOAL_BYTES)}: {verdict}.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
