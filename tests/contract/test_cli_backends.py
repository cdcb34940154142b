"""Contract: the engine commands on ``--backend spark`` (the commands' side).

``next-orders --backend spark`` writes the file the local command writes; a model trained with
``train --backend spark`` is a model folder the local ``next-orders --model`` reads; an output
folder at a URL, unknown backends and a missing PySpark stop with one clear message and no
output.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from salescope.compute import LocalBackend
from salescope.data.demo import DemoCompany
from salescope.orders.model import NextOrderModel
from salescope.orders.persistence import fingerprint, read_manifest, save_model
from salescope.services import scaled
from tests.cli_runner import run
from tests.contract.conftest import MARKS
from tests.same_lines import assert_same_lines

pytestmark = MARKS

DATE = dt.date(2024, 9, 3)  # the first day after the demo's history


@pytest.fixture(scope="module")
def folder(demo_model: NextOrderModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo engine saved as ``salescope train`` saves it."""
    return save_model(demo_model, tmp_path_factory.mktemp("model") / "m", data="demo")


def _local_and_spark(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: list[str]
) -> tuple[pl.DataFrame, pl.DataFrame, str]:
    """``command`` run locally and on Spark ``local[2]``, each succeeding: the local lines,
    Spark's, and what the Spark run printed."""
    local = run(capsys, *command, "--out", str(tmp_path / "local.csv"))
    assert local.code == 0, local.stderr
    remote = run(
        capsys,
        *command,
        "--out",
        str(tmp_path / "spark.csv"),
        "--backend",
        "spark",
        "--spark-master",
        "local[2]",
    )
    assert remote.code == 0, remote.stderr
    read = {"try_parse_dates": True, "schema_overrides": {"promotion_id": pl.String}}
    return (
        pl.read_csv(tmp_path / "local.csv", **read),
        pl.read_csv(tmp_path / "spark.csv", **read),
        remote.stdout,
    )


def test_next_orders_on_spark_writes_what_the_local_command_writes(
    spark: Any,
    folder: Path,
    company: DemoCompany,
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``next-orders --model M --backend spark`` (targets and objectives read by Spark from
    Parquet) writes the lines ``next-orders --model M`` writes."""
    objectives = tmp_path / "objectives.parquet"
    company.tables["objectives"].write_parquet(objectives)
    targets = tmp_path / "targets.parquet"
    ids = company.tables["orders"]["customer_id"].unique().sort().head(40)
    pl.DataFrame({"customer_id": ids, "order_date": [DATE] * ids.len()}).write_parquet(targets)
    common = ["next-orders", "--model", str(folder), "--objectives", str(objectives)]
    common += ["--targets", str(targets)]
    local, remote, said = _local_and_spark(capsys, tmp_path, common)
    assert "written to" in said
    assert_same_lines(remote, local)


def test_a_model_trained_on_spark_is_read_by_the_local_next_orders(
    spark: Any,
    company: DemoCompany,
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``train --backend spark --sample 0.2`` learns from the lines the local backend reads
    for that sample (same fingerprint) and writes a folder ``next-orders --model`` scores
    locally, for exactly the sampled customers."""
    source = tmp_path / "orders.parquet"
    company.tables["orders"].write_parquet(source)
    model = tmp_path / "model"
    trained = run(
        capsys,
        "train",
        "--orders",
        str(source),
        "--model-out",
        str(model),
        "--backend",
        "spark",
        "--sample",
        "0.2",
    )
    assert trained.code == 0, trained.stderr
    (sampled,) = scaled.read_on(
        LocalBackend(), [(str(source), scaled.ORDERS)], max_issues=5, share=0.2
    )
    manifest = read_manifest(model)
    assert manifest["data"]["fingerprint"] == fingerprint(sampled, None, None)
    assert manifest["data"]["files"]["customer_sample"] == "0.2"
    scored = run(capsys, "next-orders", "--model", str(model), "--out", str(tmp_path / "n.csv"))
    assert scored.code == 0, scored.stderr
    lines = pl.read_csv(tmp_path / "n.csv")
    assert sampled is not None
    assert set(lines["customer_id"]) == set(sampled["customer_id"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["evaluate", "--orders", "o.csv", "--out", "s3a://b/e", "--backend", "spark"],
            "writes its folder of files on the driver",
        ),
        (
            [
                "coverage",
                "--customers",
                "c",
                "--orders",
                "o",
                "--reps",
                "r",
                "--out",
                "s3a://b/c",
                "--backend",
                "spark",
            ],
            "writes its folder of files on the driver",
        ),
        (["evaluate", "--orders", "o.csv", "--backend", "dask"], "one of"),
        (["next-orders", "--orders", "o.csv", "--out", "x.csv", "--backend", "dask"], "one of"),
        (
            ["next-orders", "--orders", "o.csv", "--out", "x.csv", "--spark-master", "local[2]"],
            "--spark-master is for --backend spark",
        ),
    ],
)
def test_what_a_backend_cannot_do_is_one_clear_message(
    args: list[str], message: str, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A report folder at a URL (written on the driver), an unknown backend, or a Spark
    master without Spark: exit status 1 and one message, no traceback, before any work."""
    result = run(capsys, *args)
    assert result.code == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_missing_pyspark_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without PySpark, ``--backend spark`` says to install the ``salescope[spark]`` extra
    (status 1) and writes nothing."""
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark now fails
    out = tmp_path / "x.csv"
    result = run(
        capsys, "next-orders", "--orders", "o.csv", "--out", str(out), "--backend", "spark"
    )
    assert result.code == 1
    assert "pip install 'salescope[spark]'" in result.stderr
    assert not out.exists()


def test_a_sampled_model_scoring_from_the_orders_on_spark_writes_the_local_lines(
    spark: Any,
    company: DemoCompany,
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``next-orders --model M --orders O --backend spark`` with a model fitted on half of
    the customers: every customer of the orders gets the lines the local command writes (the
    customers outside the sample scored from their orders, their rows shipped with their
    buckets)."""
    from salescope.compute.backend import sample_customers
    from salescope.orders.model import EngineParams

    t = company.tables
    sampled = NextOrderModel(EngineParams(seed=1)).fit(
        sample_customers(t["orders"], 0.5), t["products"], customers=t["customers"]
    )
    model = save_model(sampled, tmp_path / "model", data="demo sample")
    orders = tmp_path / "orders.parquet"
    t["orders"].write_parquet(orders)
    common = ["next-orders", "--model", str(model), "--orders", str(orders), "--mode", "rank"]
    lines, remote, _ = _local_and_spark(capsys, tmp_path, common)
    assert set(lines["customer_id"]) == set(t["orders"]["customer_id"])
    assert_same_lines(remote, lines)
