"""Fixtures of the contract suite: one Spark session per test session, the demo company and
its engine, and a slice of the Iowa data.

Every test module here is marked ``contract`` and put in one xdist group (``spark``; ``make
test`` runs ``--dist loadgroup``), so the session starts once per test run: ``local[2]``,
two shuffle partitions, no UI, a modest driver.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from salescope.data.demo import DemoCompany, DemoConfig, generate_demo
from salescope.orders.model import EngineParams, NextOrderModel

SPARK_CONFIG = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.driver.memory": "1g",
    "spark.executor.memory": "1g",
    "spark.python.worker.reuse": "true",
    "spark.sql.adaptive.enabled": "false",
}
MARKS = [pytest.mark.contract, pytest.mark.xdist_group("spark")]
PARAMS = EngineParams(seed=1, tune_tifu=False)  # the backends are under test, not the tuning


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """A Spark session on ``local[2]`` for the whole test session (skipped, with the reason,
    where PySpark is not installed: ``make install-dev`` installs it)."""
    if importlib.util.find_spec("pyspark") is None:
        pytest.skip("PySpark is not installed (pip install -e '.[dev,spark]' or make install-dev)")
    from salescope.compute.spark import open_session

    previous = signal.getsignal(signal.SIGINT)
    session = open_session("local[2]", app_name="salescope-contract", config=SPARK_CONFIG)
    # PySpark replaces the Ctrl-C handler; other tests of this worker send SIGINT to the CLI
    signal.signal(signal.SIGINT, previous)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def company() -> DemoCompany:
    """The small demo company (300 shops, 8 months of orders)."""
    return generate_demo(DemoConfig.small(seed=3))


@pytest.fixture(scope="session")
def demo_model(company: DemoCompany) -> NextOrderModel:
    """The engine fitted on the demo company, with its products and customers."""
    return NextOrderModel(PARAMS).fit(
        company.tables["orders"],
        company.tables["products"],
        customers=company.tables["customers"],
    )


@pytest.fixture(scope="session")
def iowa_orders(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    """Canonical orders of a slice of the Iowa data: 40 stores, the last five months."""
    from salescope.data.adapters.iowa import from_iowa

    source = shared_data / "iowa-liquor" / "iowa_sales_2012_2022.parquet"
    recent = pl.scan_parquet(source).filter(pl.col("date") >= dt.date(2022, 6, 1))
    stores = recent.select("store_number").unique().sort("store_number").head(40).collect()
    raw = recent.join(stores.lazy(), on="store_number").collect()
    path = tmp_path_factory.mktemp("iowa") / "sales.parquet"
    raw.write_parquet(path)
    orders: pl.DataFrame = from_iowa([path]).tables["orders"]
    return orders
