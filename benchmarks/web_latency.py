"""Latency of the main pages and API routes on a data directory (the demo's), over loopback.

    salescope --data-dir /tmp/demo demo --no-serve --no-backtest
    python benchmarks/web_latency.py /tmp/demo [--requests 30]

Starts the app with uvicorn on 127.0.0.1 (a free port), signs in as the first manager of the
demo's users.txt, creates an API key for it, and times a bounded number of sequential
requests per route (no concurrency: the machine is shared). Prints a table: route, p50, p95,
max in milliseconds, and the size of the answer.
"""

from __future__ import annotations

import argparse
import re
import socket
import statistics
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from salescope.config import get_settings
from salescope.services import keys
from salescope.services.database import open_database
from salescope.web.app import create_app


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    settings = get_settings(data_dir=args.data_dir)
    users = (args.data_dir / "demo" / "users.txt").read_text().splitlines()[2:]
    manager, password = next(line.split()[:2] for line in users if line.startswith("manager."))
    database = open_database(settings)
    with database.session() as session:
        _, key = keys.do_create_key(
            session, manager, ["recommendations:read", "visits:read"], name="bench", actor="bench"
        )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, database), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as browser:
            page = browser.get("/login").text
            token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
            assert token is not None
            browser.post(
                "/login",
                data={"email": manager, "password": password, "csrf_token": token.group(1)},
            )
            region = manager.split("@")[0].split(".", 1)[1]
            dashboard = browser.get("/dashboard").text
            rec = re.search(r'href="/recommendations/(\d+)"', dashboard)
            assert rec is not None
            routes = [
                ("page  /dashboard", "/dashboard", {}),
                ("page  /queue (htmx)", "/queue?sort=potential", {"HX-Request": "true"}),
                ("page  /map-data", "/map-data", {}),
                ("page  /recommendations/{id}", f"/recommendations/{rec.group(1)}", {}),
                (
                    "api   /recommendations?limit=100",
                    "/api/v1/recommendations?limit=100",
                    {"Authorization": f"Bearer {key}"},
                ),
                (
                    "api   /customers?limit=100",
                    "/api/v1/customers?limit=100",
                    {"Authorization": f"Bearer {key}"},
                ),
            ]
            print(f"{args.requests} sequential requests per route, manager of {region}, {base}")
            print(f"{'route':<36} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'bytes':>9}")
            for label, url, headers in routes:
                times = []
                size = 0
                for _ in range(args.requests):
                    began = time.perf_counter()
                    response = browser.get(url, headers=headers)
                    times.append(1000 * (time.perf_counter() - began))
                    assert response.status_code == 200, (url, response.status_code)
                    size = len(response.content)
                times.sort()
                p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
                p50 = statistics.median(times)
                print(f"{label:<36} {p50:>8.1f} {p95:>8.1f} {times[-1]:>8.1f} {size:>9,}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)


if __name__ == "__main__":
    main()
