"""Contract: the next-order engine gives the same proposals on the local and the Spark backend.

The same kernel (``orders.scoring.recommend_bucket``) runs over buckets of customers in this
process, on a process pool and on Spark ``local[2]`` (``applyInArrow``, the engine
broadcast); every run must write the lines one call of the engine over all targets writes:
same customers, products, ranks, kinds, quantities and promotions, probabilities equal within
floating-point tolerance.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from salescope.compute import LocalBackend
from salescope.compute.spark import SparkBackend
from salescope.data.demo import DemoCompany
from salescope.data.outputs import write_parquet
from salescope.orders.model import NextOrderModel
from salescope.orders.scoring import LINES_SCHEMA
from salescope.services import scaled
from salescope.services.orders import NextOrdersRequest
from tests.contract.conftest import MARKS, PARAMS
from tests.same_lines import assert_same_lines

pytestmark = MARKS


def _request(
    targets: pl.DataFrame, *, mode: str = "proposal", objectives: pl.DataFrame | None = None
) -> NextOrdersRequest:
    return NextOrdersRequest(
        orders=None,
        products=None,
        customers=None,
        promotions=None,
        objectives=objectives,
        targets=targets,
        as_of=targets["order_date"].max(),  # type: ignore[arg-type]
        mode=mode,  # type: ignore[arg-type]
        top=None,
    )


def _targets(model: NextOrderModel, extra: bool = True) -> pl.DataFrame:
    """Every customer of the engine on the day after its history, and one it never saw."""
    known = model.codes_.customers.select("customer_id").with_columns(
        pl.lit(model.cutoff_).alias("order_date")
    )
    if not extra:
        return known
    unknown = pl.DataFrame({"customer_id": ["NEVER-SEEN"], "order_date": [model.cutoff_]})
    return pl.concat([known, unknown])


def test_demo_proposals_same_on_spark_and_locally(
    spark: Any, demo_model: NextOrderModel, company: DemoCompany, tmp_path: Path
) -> None:
    """Proposals (with objectives) of the demo company in 5 buckets on Spark local[2], and on
    a pool of 2 processes, are the lines of one engine call over every customer."""
    objectives = company.tables["objectives"]
    targets = _targets(demo_model)
    request = _request(targets, objectives=objectives)
    expected = demo_model.recommend(targets, objectives=objectives)
    assert expected.filter(pl.col("kind") != "usual").height > 0  # novelties are compared too
    on_spark = scaled.do_next_orders_on(
        SparkBackend(spark), request, str(tmp_path / "spark.csv"), model=demo_model, per_bucket=64
    )
    assert_same_lines(on_spark, expected)
    pooled = scaled.do_next_orders_on(
        LocalBackend(workers=2),
        request,
        str(tmp_path / "local.parquet"),
        model=demo_model,
        per_bucket=64,
    )
    assert_same_lines(pooled, expected)
    assert_same_lines(pl.read_parquet(tmp_path / "local.parquet"), expected)
    written = pl.read_csv(tmp_path / "spark.csv", try_parse_dates=True)
    assert written.columns == list(LINES_SCHEMA.names)
    assert written.height == expected.height


def test_demo_rank_mode_same_on_spark(
    spark: Any, demo_model: NextOrderModel, tmp_path: Path
) -> None:
    """Rank mode (exactly K lines per target, extensions ranked by the adoption model) in 7
    buckets on Spark is one engine call's ranking."""
    targets = _targets(demo_model)
    expected = demo_model.recommend(targets, mode="rank", top=12)
    request = replace(_request(targets, mode="rank"), top=12)
    got = scaled.do_next_orders_on(
        SparkBackend(spark), request, str(tmp_path / "rank.csv"), model=demo_model, per_bucket=45
    )
    assert_same_lines(got, expected)
    assert got.group_by("customer_id").len()["len"].unique().to_list() == [12]


def test_iowa_slice_same_on_spark_and_locally(
    spark: Any, iowa_orders: pl.DataFrame, tmp_path: Path
) -> None:
    """On a slice of the real Iowa data (40 stores, five months), fitted from the lines Spark
    read, the proposals in 4 buckets on Spark are the local engine's."""
    source = tmp_path / "orders.parquet"
    write_parquet(iowa_orders, source)
    (history,) = scaled.read_on(SparkBackend(spark), [(str(source), scaled.ORDERS)], max_issues=5)
    assert history is not None
    assert_frame_equal(history, iowa_orders)  # Spark reads what the local reader reads
    model = NextOrderModel(PARAMS).fit(history)
    targets = _targets(model, extra=False)
    expected = model.recommend(targets)
    got = scaled.do_next_orders_on(
        SparkBackend(spark), _request(targets), str(tmp_path / "x.csv"), model=model, per_bucket=10
    )
    assert_same_lines(got, expected)


def test_spark_reads_and_samples_the_customers_the_local_backend_does(
    spark: Any, company: DemoCompany, tmp_path: Path
) -> None:
    """A history read on Spark, cut at a date and sampled to 30 % of the customers on the
    cluster, is the history the local backend reads, cuts and samples (same customers)."""
    source = tmp_path / "orders.csv"
    company.tables["orders"].write_csv(source)
    cut = dt.date(2024, 7, 1)
    files = [(str(source), scaled.ORDERS)]
    (local,) = scaled.read_on(LocalBackend(), files, max_issues=5, before=cut, share=0.3)
    (remote,) = scaled.read_on(SparkBackend(spark), files, max_issues=5, before=cut, share=0.3)
    assert local is not None and remote is not None
    everyone = company.tables["orders"]["customer_id"].n_unique()
    assert 0.15 * everyone < local["customer_id"].n_unique() < 0.45 * everyone
    assert local["order_date"].max() < cut  # type: ignore[operator]
    assert_frame_equal(remote, local)


@pytest.mark.parametrize("share", [0.0, 1.5])
def test_sample_share_outside_zero_one_is_refused(share: float) -> None:
    """A customer share outside (0, 1] is a usage error, before anything is read."""
    from salescope.compute import sample_customers

    with pytest.raises(ValueError, match="share"):
        sample_customers(pl.DataFrame({"customer_id": ["a"]}), share)
