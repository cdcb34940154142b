"""`salescope evaluate`: the backtest against baselines, its report and plot."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from tests.cli_runner import run

from salescope.data.demo import DemoCompany


def test_evaluate_writes_report_table_and_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], demo_company: DemoCompany
) -> None:
    """evaluate prints engine and baselines side by side and writes JSON, CSV and a PNG."""
    company = demo_company
    orders = tmp_path / "orders.parquet"
    company.tables["orders"].write_parquet(orders)
    out = tmp_path / "eval"
    result = run(
        capsys, "evaluate", "--orders", str(orders), "--cutoffs", "2024-08-01", "--out", str(out)
    )
    assert result.code == 0, result.stderr
    for method in ("engine", "TIFU-KNN", "GP-TopFreq", "P-TopFreq", "G-TopFreq"):
        assert method in result.stdout
    report = json.loads((out / "report.json").read_text())
    (cutoff,) = report["cutoffs"]
    assert cutoff["cutoff"] == "2024-08-01"
    engine = cutoff["ranking"]["engine"]
    assert set(engine) >= {"recall@10", "recall@20", "ndcg@10", "phr@10", "repeat_recall@10"}
    assert 0.0 <= cutoff["proposal"]["f1"] <= 1.0
    # the engine's quantities beat repeating the last quantity on the lines that were ordered
    quantity = cutoff["quantity"]
    assert quantity["engine"]["lines"] > 0
    assert quantity["engine"]["wape"] < quantity["last quantity"]["wape"]
    assert cutoff["tifu"]["k"] > 0
    assert (out / "summary.csv").read_text().startswith("cutoff,method")
    assert (out / "backtest.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_refuses_a_cutoff_outside_the_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], demo_company: DemoCompany
) -> None:
    """A cut-off after the last order leaves nothing to predict and is refused."""
    company = demo_company
    orders = tmp_path / "orders.parquet"
    company.tables["orders"].write_parquet(orders)
    result = run(capsys, "evaluate", "--orders", str(orders), "--cutoffs", "2030-01-01")
    assert result.code == 1
    assert "--cutoffs" in result.stderr


def test_evaluate_last_order_protocol_holds_out_each_customers_last_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], demo_company: DemoCompany
) -> None:
    """--protocol last-order scores every customer with two orders or more on its own last
    order, reports the engine against the baselines, its calibration and how it ranked."""
    company = demo_company
    orders = company.tables["orders"]
    path = tmp_path / "orders.parquet"
    orders.write_parquet(path)
    out = tmp_path / "eval"
    result = run(
        capsys, "evaluate", "--orders", str(path), "--protocol", "last-order", "--out", str(out)
    )
    assert result.code == 0, result.stderr
    assert "Usual lines ranked by" in result.stdout
    (scored,) = json.loads((out / "report.json").read_text())["cutoffs"]
    assert scored["cutoff"] == "last order"
    several = orders.group_by("customer_id").agg(pl.col("order_id").n_unique().alias("n"))
    assert scored["customers"] == several.filter(pl.col("n") >= 2).height
    assert 0.0 <= scored["calibration"]["ece"] <= 0.1
    assert scored["calibration"]["brier_skill"] > 0
    assert scored["engine"]["ranked_by"] in ("model", "TIFU-KNN", "P-TopFreq")
    engine, tifu = scored["ranking"]["engine"], scored["ranking"]["TIFU-KNN"]
    assert engine["recall@10"] > 0.5 * tifu["recall@10"] > 0


def test_evaluate_refuses_cutoffs_with_the_last_order_protocol(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--cutoffs mean nothing to --protocol last-order, and an unknown protocol is named."""
    path = tmp_path / "o.csv"
    path.write_text(
        "customer_id,order_id,order_date,product_id,quantity\nc,o1,2024-01-01,p,1\n",
        encoding="utf-8",
    )
    result = run(
        capsys,
        "evaluate",
        "--orders",
        str(path),
        "--protocol",
        "last-order",
        "--cutoffs",
        "2024-01-01",
    )
    assert result.code == 1
    assert "--cutoffs" in result.stderr
    result = run(capsys, "evaluate", "--orders", str(path), "--protocol", "random")
    assert result.code == 1
    assert "--protocol" in result.stderr and "last-order" in result.stderr
