"""Contract: ``evaluate`` and ``coverage`` with ``--backend spark`` give what the local commands
give on the demo company.

``evaluate`` scores each cut-off's held-out customers bucket by bucket on Spark
(``services.scaled.bucket_scorer``) with the anchors of all the targets pinned, so the lists,
the metrics and the report are the local ones; ``coverage`` reads its tables with Spark (CSV
and Parquet) and writes the local command's folder.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from salescope.compute.spark import SparkBackend
from salescope.data.demo import DemoCompany
from salescope.orders.held_out import score_held_out
from salescope.orders.model import NextOrderModel
from salescope.orders.shapes import hold_out_last_orders
from salescope.services import scaled
from tests.cli_runner import run
from tests.contract.conftest import MARKS

pytestmark = MARKS

SPARK = ["--backend", "spark", "--spark-master", "local[2]"]


def assert_close(got: Any, expected: Any, where: str = "") -> None:
    """``got`` is ``expected`` (JSON-like: dicts, lists, text, numbers), floats within
    floating-point tolerance, rounded figures to their last decimal (a mean taken over the
    rows in another order may differ in its last bits)."""
    if isinstance(expected, dict):
        assert isinstance(got, dict) and got.keys() == expected.keys(), where
        for key, value in expected.items():
            assert_close(got[key], value, f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected), where
        for i, (a, b) in enumerate(zip(got, expected, strict=True)):
            assert_close(a, b, f"{where}[{i}]")
    elif isinstance(expected, float) and not isinstance(got, bool):
        assert isinstance(got, float | int), where
        same = math.isnan(got) and math.isnan(expected)
        tolerance = max(1e-9 * abs(expected), 1e-12, _unit(repr(expected)), _unit(repr(got)))
        assert same or abs(got - expected) <= tolerance, f"{where}: {got} {expected}"
    else:
        assert got == expected, where


def _unit(text: str) -> float:
    """One unit of the last decimal of a figure rounded to at most six decimals (a sum that
    two runs round to either side of it may differ there); 0 for a figure not rounded."""
    if "." not in text or "e" in text.lower():
        return 0.0
    decimals = len(text.split(".")[1])
    return 1.01 * 10.0**-decimals if decimals <= 6 else 0.0


def _cell(text: str | None) -> float | str | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return text


def assert_same_csv(got: Path, expected: Path) -> None:
    """Two CSV files hold the same table: the same header and rows, text cells equal,
    numeric cells equal to the last decimal written (a mean rounded to either side of its
    last decimal may differ by one unit there)."""
    a = pl.read_csv(got, infer_schema_length=0)
    b = pl.read_csv(expected, infer_schema_length=0)
    assert a.columns == b.columns and a.height == b.height, got.name
    for column in b.columns:
        for row, (x, y) in enumerate(zip(a[column], b[column], strict=True)):
            cx, cy = _cell(x), _cell(y)
            if isinstance(cx, float) and isinstance(cy, float) and x is not None and y is not None:
                tolerance = max(_unit(x), _unit(y), 1e-9 * abs(cy))
                same = math.isnan(cx) and math.isnan(cy)
                assert same or abs(cx - cy) <= tolerance, f"{got.name}:{row}:{column}: {x} {y}"
            else:
                assert x == y, f"{got.name}:{row}:{column}: {x} {y}"


def _without_timings(report: Any) -> Any:
    """A report without its wall-clock ``*seconds`` at any depth (the one thing two runs
    never share)."""
    if isinstance(report, dict):
        return {k: _without_timings(v) for k, v in report.items() if not k.endswith("seconds")}
    if isinstance(report, list):
        return [_without_timings(v) for v in report]
    return report


def test_held_out_targets_scored_in_spark_buckets_are_scored_as_in_one_call(
    spark: Any, demo_model: NextOrderModel, company: DemoCompany
) -> None:
    """Targets dated inside the history (each customer's last order: the last-order
    protocol) and after it, scored in buckets of 40 customers on Spark, give the rank list,
    the proposal and the range-extension list of one call, row for row; a bucket alone would
    have placed its snapshots elsewhere (hence the anchors of all targets, pinned)."""
    _, held_out = hold_out_last_orders(company.tables["orders"])
    targets = held_out.group_by("customer_id").agg(pl.col("order_date").min()).sort("customer_id")
    assert targets.filter(pl.col("order_date") < demo_model.cutoff_).height > 40
    one = score_held_out(demo_model, targets)
    scorer = scaled.bucket_scorer(SparkBackend(spark), per_bucket=40)
    buckets = scorer(demo_model, targets)
    for name in ("ranked", "proposal", "unseen"):
        got, expected = getattr(buckets, name), getattr(one, name)
        assert expected.height > 0
        assert_frame_equal(got, expected)
    assert one.ranked.group_by("customer_id").len()["len"].max() == 20
    alone = demo_model.anchors(targets.head(40))
    assert alone != demo_model.anchors(targets)


def test_evaluate_on_spark_writes_the_local_report(
    spark: Any, company: DemoCompany, data_dir: Path, tmp_path: Path, capsys: Any
) -> None:
    """``evaluate --protocol last-order --backend spark`` (orders read by Spark from Parquet,
    products from CSV) prints and writes the report, the table and the plot the local
    command writes: the same metrics for the engine and every baseline."""
    orders = tmp_path / "orders.parquet"
    company.tables["orders"].write_parquet(orders)
    products = tmp_path / "products.csv"
    company.tables["products"].write_csv(products)
    common = ["evaluate", "--orders", str(orders), "--products", str(products)]
    common += ["--protocol", "last-order"]
    local = run(capsys, *common, "--out", str(tmp_path / "local"))
    assert local.code == 0, local.stderr
    remote = run(capsys, *common, "--out", str(tmp_path / "spark"), *SPARK)
    assert remote.code == 0, remote.stderr
    assert "Report " in remote.stdout
    assert "last order" in remote.stdout
    reports = [
        _without_timings(json.loads((tmp_path / d / "report.json").read_text()))
        for d in ("spark", "local")
    ]
    assert_close(reports[0], reports[1])
    assert reports[0]["cutoffs"][0]["ranking"]["engine"]["recall@10"] > 0
    assert_same_csv(tmp_path / "spark" / "summary.csv", tmp_path / "local" / "summary.csv")
    assert (tmp_path / "spark" / "backtest.png").read_bytes()[:4] == b"\x89PNG"


def test_coverage_on_spark_writes_the_local_folder(
    spark: Any, company: DemoCompany, data_dir: Path, tmp_path: Path, capsys: Any
) -> None:
    """``coverage --backend spark`` (orders and visits read by Spark from Parquet, the other
    tables from CSV) writes the local command's CSV files and summary, and prints its
    summary."""
    paths: dict[str, Path] = {}
    for name in ("customers", "orders", "reps", "products", "market", "visits"):
        fmt = "parquet" if name in ("orders", "visits") else "csv"
        paths[name] = tmp_path / f"{name}.{fmt}"
        frame = company.tables[name]
        frame.write_parquet(paths[name]) if fmt == "parquet" else frame.write_csv(paths[name])
    args = ["coverage"]
    for name, path in paths.items():
        args += [f"--{name}", str(path)]
    local = run(capsys, *args, "--out", str(tmp_path / "local"))
    assert local.code == 0, local.stderr
    remote = run(capsys, *args, "--out", str(tmp_path / "spark"), *SPARK)
    assert remote.code == 0, remote.stderr
    assert "Coverage at" in remote.stdout
    local_dir, spark_dir = tmp_path / "local", tmp_path / "spark"
    csvs = sorted(p.name for p in local_dir.glob("*.csv"))
    assert "customers.csv" in csvs
    assert csvs == sorted(p.name for p in spark_dir.glob("*.csv"))
    for name in csvs:  # byte for byte: sums are taken in a fixed order
        assert (spark_dir / name).read_bytes() == (local_dir / name).read_bytes(), name
    summaries = [
        _without_timings(json.loads((d / "summary.json").read_text()))
        for d in (spark_dir, local_dir)
    ]
    assert summaries[0] == summaries[1]
    assert (spark_dir / "coverage_map.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("command", ["evaluate", "coverage"])
def test_a_missing_table_on_spark_is_named(
    command: str, spark: Any, data_dir: Path, tmp_path: Path, capsys: Any
) -> None:
    """A table Spark cannot find stops the command with its location named (status 1, no
    traceback, no output folder)."""
    missing = tmp_path / "nowhere.parquet"
    out = tmp_path / "out"
    if command == "evaluate":
        args = ["evaluate", "--orders", str(missing)]
    else:
        present = tmp_path / "reps.csv"
        present.write_text("rep_id\nr1\n", encoding="utf-8")
        args = ["coverage", "--customers", str(missing), "--orders", str(missing)]
        args += ["--reps", str(present)]
    result = run(capsys, *args, "--out", str(out), *SPARK)
    assert result.code == 1
    assert str(missing) in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not out.exists()
