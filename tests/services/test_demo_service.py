"""`salescope demo`: the synthetic company stored like an import, with files and a plot."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from tests.cli_runner import run

from salescope.config import get_settings
from salescope.data.demo import DemoConfig
from salescope.services.demo import do_demo
from salescope.storage.tables import TableStore


def test_demo_fills_the_data_directory(data_dir: Path) -> None:
    """The demo stores every canonical table, writes the batch files, the truth and a plot."""
    result = do_demo(get_settings(), DemoConfig.small(), backtest=False)
    store = TableStore(get_settings().tables_dir)
    assert set(store.names()) == set(result.company.tables)
    assert store.counts()["orders"] == result.company.tables["orders"].height
    orders = pl.read_parquet(result.tables_dir / "orders.parquet")
    assert orders.equals(result.company.tables["orders"])
    assert (result.truth_dir / "adoption.parquet").exists()
    assert result.overview.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result.next_orders.exists()
    assert result.next_orders_score["precision"] > 0.3  # scored against the real next orders
    assert (result.coverage.out_dir / "customers.csv").exists()
    assert result.potential_spearman > 0.5
    assert result.evaluation is None


def test_demo_twice_replaces_rather_than_adds(data_dir: Path) -> None:
    """Running the demo again with another seed replaces the company instead of merging."""
    do_demo(get_settings(), DemoConfig.small(seed=1), backtest=False)
    second = do_demo(get_settings(), DemoConfig.small(seed=2), backtest=False)
    counts = TableStore(get_settings().tables_dir).counts()
    assert counts["customers"] == second.company.tables["customers"].height


def test_demo_command_prints_what_it_made(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`salescope demo --small --no-serve` succeeds and prints the company, next orders,
    coverage, the backtest and the demo users of the web app, then exits."""
    result = run(capsys, "demo", "--small", "--seed", "3", "--no-serve")
    assert result.code == 0, result.stderr
    assert "shops in the market universe" in result.stdout
    assert "Next orders" in result.stdout
    assert "recommendations:" in result.stdout
    assert "TIFU-KNN" in result.stdout
    assert "manager." in result.stdout and "Demo users" in result.stdout
    assert (data_dir / "demo" / "users.txt").stat().st_mode & 0o077 == 0
