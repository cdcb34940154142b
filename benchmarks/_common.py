"""What every benchmark script shares: the machine description and measured subprocesses."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

# Benchmarks are entry points: OpenMP threads sleep instead of spinning while they wait (the
# setting ``salescope.runtime.quiet_openmp`` applies; set here, before LightGBM is imported, and
# inherited by the measured child processes). A value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# The next-order issue's cut-offs per dataset.
NEXT_ORDER_CUTOFFS = {
    "iowa": ["2021-10-01", "2022-01-03", "2022-04-01", "2022-07-01"],
    "uci": ["2011-09-01", "2011-10-01", "2011-11-01"],
}


def orders_of(dataset: str, data: Path):  # type: ignore[no-untyped-def]
    """The canonical orders table of ``iowa`` or ``uci`` from the shared data folder."""
    if dataset == "iowa":
        from salescope.data.adapters.iowa import from_iowa

        return from_iowa([data / "iowa-liquor" / "iowa_sales_2012_2022.parquet"]).tables["orders"]
    from salescope.data.adapters.online_retail import from_online_retail

    return from_online_retail([data / "uci-online-retail" / "online_retail.csv.gz"]).tables[
        "orders"
    ]


def machine() -> str:
    """'AMD EPYC ..., 2 cores, 24 GiB RAM; Python 3.11.7, Polars 2.1.0' for benchmark tables."""
    cpu = platform.processor() or platform.machine()
    memory = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024**2:.0f} GiB"
                break
    except OSError:
        pass
    import polars as pl

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cpu}, {cores} cores, {memory} RAM; Python {platform.python_version()}, "
        f"Polars {pl.__version__}"
    )


def heading(title: str) -> str:
    """A Markdown heading with today's date, and the machine line below it."""
    return f"## {title} ({dt.date.today().isoformat()})\n\nMachine: {machine()}.\n"


def run_measured(arguments: Sequence[str]) -> tuple[float, int]:
    """Run ``python ARGUMENTS`` in a fresh interpreter; its wall seconds and peak RSS (bytes).

    Raises SystemExit when it fails."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, *arguments])
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(arguments)} failed with exit status {code}")
    return wall, usage.ru_maxrss * 1024


def gib(size: float) -> str:
    return f"{size / 1024**3:.2f} GiB"
