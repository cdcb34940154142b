"""Load on the suggested-order endpoint: concurrent API clients on loopback (locust).

    salescope --data-dir /tmp/demo-sqlite demo --no-serve --no-backtest
    python benchmarks/orders_load.py --data-dir /tmp/demo-sqlite

    URL=postgresql+psycopg://USER@127.0.0.1:PORT/DB
    salescope --data-dir /tmp/demo-pg --database-url $URL demo --no-serve --no-backtest
    python benchmarks/orders_load.py --data-dir /tmp/demo-pg --database-url $URL

Starts ``salescope serve`` (its own process, as in production: the day's suggestions are
computed together in the background) on 127.0.0.1 at a free port, on the day after the demo's
history; creates an administrator's API key (``orders:read``); asks once for the suggested
order of every served customer for the next delivery date (the first requests of the day:
they record the proposal shown, and the day's batch is computed meanwhile); then runs locust
headless for ``--duration`` seconds with ``--users`` clients, each asking for a random
customer's suggested order and waiting ``--think`` seconds on average (0: as fast as it can).
Prints a table: backend, clients, think time, requests, requests/s, p50, p95, p99 (ms) and
failures, for the warm-up pass and the load run. Nothing leaves the machine; the run is
bounded in time.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import polars as pl
import sqlalchemy as sa

from _common import heading  # the script's own folder
from salescope.config import get_settings
from salescope.services import keys
from salescope.services.calendar import next_delivery_date
from salescope.services.database import open_database
from salescope.storage.models import Customer, User
from salescope.storage.tables import TableStore

ROUTE = "/api/v1/customers/{id}/suggested-order"
LOCUSTFILE = """
import json, os, random
from locust import HttpUser, constant, between, task

CUSTOMERS = json.loads(open(os.environ["BENCH_CUSTOMERS"]).read())
HEADERS = {"Authorization": "Bearer " + os.environ["BENCH_KEY"]}
DATE = os.environ["BENCH_DATE"]
THINK = float(os.environ["BENCH_THINK"])


class Client(HttpUser):
    wait_time = between(THINK / 2, THINK * 1.5) if THINK > 0 else constant(0)

    @task
    def suggested_order(self):
        customer = random.choice(CUSTOMERS)
        self.client.get(
            f"/api/v1/customers/{customer}/suggested-order?date={DATE}",
            headers=HEADERS,
            name=ROUTE,
        )
""".replace("ROUTE", repr(ROUTE))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _prepare(data_dir: Path, database_url: str | None) -> tuple[str, list[str], dt.date]:
    """An API key of the demo's administrator, the served customers, the app's today."""
    settings = get_settings(data_dir=data_dir, database_url=database_url)
    orders = TableStore(settings.tables_dir).scan("orders")
    last = orders.select(pl.col("order_date").max()).collect().item()
    with open_database(settings) as database, database.session() as session:
        admin = session.scalar(
            sa.select(User.username).where(User.role == "admin", User.active).order_by(User.id)
        )
        if admin is None:
            sys.exit("no administrator in this data folder: run `salescope demo` on it first")
        _, key = keys.do_create_key(session, admin, ["orders:read"], name="load", actor="bench")
        customers = list(
            session.scalars(
                sa.select(Customer.customer_id)
                .where(Customer.status == "served")
                .order_by(Customer.customer_id)
            )
        )
    return key, customers, last + dt.timedelta(days=1)


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def _salescope(data_dir: Path, database_url: str | None, *args: str) -> list[str]:
    command = [str(Path(sys.executable).parent / "salescope"), "--data-dir", str(data_dir)]
    if database_url:
        command += ["--database-url", database_url]
    return [*command, *args]


def _serve(
    data_dir: Path, database_url: str | None, today: dt.date, port: int, log: Path
) -> subprocess.Popen[bytes]:
    """``salescope serve`` on the demo's today, after the automatic orders due by now are
    placed (as cron would have: the scheduler then has nothing to place during the run)."""
    env = os.environ | {
        "SALESCOPE_TODAY": today.isoformat(),
        "SALESCOPE_SECRET_KEY": secrets.token_hex(32),
    }
    with log.open("wb") as out:
        subprocess.run(
            _salescope(data_dir, database_url, "orders", "place-automatic"),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
        )
    command = _salescope(
        data_dir, database_url, "serve", "--host", "127.0.0.1", "--port", str(port)
    )
    return subprocess.Popen(command, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def _wait_until_up(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    """Wait (two minutes at most) for the app to answer its health check."""
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            sys.exit(f"the app did not start: see {log}")
        time.sleep(0.2)


def _first_requests(
    base: str, key: str, customers: list[str], delivery: dt.date
) -> tuple[str, ...]:
    """The table's row of one first request per customer, one after the other."""
    headers = {"Authorization": f"Bearer {key}"}
    first: list[float] = []
    started = time.perf_counter()
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        for customer in customers:
            t0 = time.perf_counter()
            response = client.get(ROUTE.format(id=customer), params={"date": delivery.isoformat()})
            first.append((time.perf_counter() - t0) * 1000)
            response.raise_for_status()
    spent = time.perf_counter() - started
    p50, p95, p99 = _percentiles(first)
    return (
        "first request per customer",
        "1",
        "0",
        f"{len(first):,}",
        f"{len(first) / spent:.0f}",
        f"{p50:.0f}",
        f"{p95:.0f}",
        f"{p99:.0f}",
        "0",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=int, default=60, help="seconds of load (at most 600)")
    parser.add_argument("--think", type=float, default=1.0, help="mean seconds between requests")
    args = parser.parse_args()
    duration = min(max(args.duration, 5), 600)
    backend = "PostgreSQL" if args.database_url else "SQLite"
    key, customers, today = _prepare(args.data_dir, args.database_url)
    delivery = next_delivery_date(today)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    work = Path(tempfile.mkdtemp(prefix="salescope-load-"))
    server = _serve(args.data_dir, args.database_url, today, port, work / "server.log")
    rows: list[tuple[str, ...]] = []
    try:
        _wait_until_up(base, server, work / "server.log")
        rows.append(_first_requests(base, key, customers, delivery))
        (work / "customers.json").write_text(json.dumps(customers))
        (work / "locustfile.py").write_text(LOCUSTFILE)
        env = os.environ | {
            "BENCH_CUSTOMERS": str(work / "customers.json"),
            "BENCH_KEY": key,
            "BENCH_DATE": delivery.isoformat(),
            "BENCH_THINK": str(args.think),
        }
        locust = [
            str(Path(sys.executable).parent / "locust"),
            "-f",
            str(work / "locustfile.py"),
            "--headless",
            "--host",
            base,
            "-u",
            str(args.users),
            "-r",
            str(args.users),
            "-t",
            f"{duration}s",
            "--stop-timeout",
            "5",
            "--csv",
            str(work / "load"),
            "--only-summary",
            "--loglevel",
            "WARNING",
        ]
        subprocess.run(
            locust, env=env, check=False, timeout=duration + 120, stdout=subprocess.DEVNULL
        )
        with (work / "load_stats.csv").open() as handle:
            stats = next(r for r in csv.DictReader(handle) if r["Name"] == ROUTE)
        rows.append(
            (
                f"{args.users} clients, {duration} s",
                str(args.users),
                f"{args.think:g}",
                f"{int(stats['Request Count']):,}",
                f"{float(stats['Requests/s']):.0f}",
                stats["50%"],
                stats["95%"],
                stats["99%"],
                stats["Failure Count"],
            )
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    print(heading(f"GET {ROUTE} on the demo company, {backend} ({len(customers):,} customers)"))
    print(f"Delivery date {delivery}; the app's today {today}; locust {args.users} users.\n")
    names = ("run", "clients", "think s", "requests", "req/s")
    names += ("p50 ms", "p95 ms", "p99 ms", "failed")
    print("| backend | " + " | ".join(names) + " |")
    print("|" + " --- |" * (len(names) + 1))
    for row in rows:
        print(f"| {backend} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
