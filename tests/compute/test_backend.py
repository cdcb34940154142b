"""The backends' shared rules: how customers are split into buckets, the sample, locations."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from salescope.cli.backends import location
from salescope.compute import (
    BUCKET,
    BackendError,
    LocalBackend,
    Parts,
    Scattered,
    n_buckets,
    open_backend,
    sample_customers,
    scatter_rows,
    with_buckets,
)
from tests.cli_runner import run


@pytest.mark.parametrize(
    ("customers", "per_bucket", "parallelism", "expected"),
    [(0, 10, 2, 1), (1, 10, 2, 1), (15, 10, 1, 2), (15, 100, 4, 4), (2000, 4000, 2, 2)],
)
def test_buckets_hold_at_most_per_bucket_and_fill_the_backend(
    customers: int, per_bucket: int, parallelism: int, expected: int
) -> None:
    """At most ``per_bucket`` customers a bucket, at least one bucket per parallel slot
    when there are customers enough, never an empty split."""
    assert n_buckets(customers, per_bucket, parallelism) == expected


def test_a_customer_is_in_one_bucket_and_buckets_are_balanced() -> None:
    """Every row of a customer lands in one bucket; bucket sizes differ by one customer at
    most; the split does not depend on the row order."""
    frame = pl.DataFrame({"customer_id": [f"C{i % 23}" for i in range(200)], "x": range(200)})
    split = with_buckets(frame, "customer_id", 5)
    assert split.group_by("customer_id").agg(pl.col(BUCKET).n_unique())[BUCKET].max() == 1
    sizes = split.group_by(BUCKET).agg(pl.col("customer_id").n_unique())["customer_id"]
    assert sizes.max() - sizes.min() <= 1  # type: ignore[operator]
    shuffled = with_buckets(frame.reverse(), "customer_id", 5)
    assert_same = split.select("customer_id", BUCKET).unique().sort("customer_id")
    assert assert_same.equals(shuffled.select("customer_id", BUCKET).unique().sort("customer_id"))


def test_the_customer_sample_is_a_stable_share() -> None:
    """The sample keeps whole customers, about the share asked, and the same ones twice."""
    frame = pl.DataFrame({"customer_id": [f"S{i}" for i in range(2000)] * 2})
    kept = sample_customers(frame, 0.25)
    n = kept["customer_id"].n_unique()
    assert 400 < n < 600
    assert kept.height == 2 * n
    assert sample_customers(frame, 0.25).equals(kept)
    assert sample_customers(frame, None).equals(frame)


def test_local_backend_runs_every_bucket_in_process() -> None:
    """The in-process local backend calls the kernel once per bucket, with the artefact, and
    gathers the outputs in the declared schema (the bucket column dropped)."""
    schema = pa.schema([("customer_id", pa.string()), ("n", pa.int64())])
    table = with_buckets(
        pl.DataFrame({"customer_id": ["a", "b", "c", "c"]}), "customer_id", 3
    ).to_arrow()

    def kernel(offset: int, bucket: pa.Table) -> pa.Table:
        assert BUCKET not in bucket.column_names
        frame = pl.from_arrow(bucket)
        assert isinstance(frame, pl.DataFrame)
        counted = frame.group_by("customer_id").len().rename({"len": "n"})
        return counted.with_columns(pl.col("n").cast(pl.Int64) + offset).to_arrow()

    out = pl.from_arrow(LocalBackend().map_buckets(table, kernel, 10, schema))
    assert isinstance(out, pl.DataFrame)
    assert out.sort("customer_id").rows() == [("a", 11), ("b", 11), ("c", 12)]


def _join(offset: int, parts: Parts) -> tuple[int, pl.DataFrame | None]:
    return offset, parts.get("values")


def _summed(artefact: tuple[int, pl.DataFrame | None], bucket: pa.Table) -> pa.Table:
    """Each target's own values summed, plus the shared offset; fails on another bucket's."""
    offset, values = artefact
    targets = pl.from_arrow(bucket)
    assert isinstance(targets, pl.DataFrame) and values is not None
    assert set(values["customer_id"]) <= set(targets["customer_id"])
    summed = values.group_by("customer_id").agg((pl.col("v").sum() + offset).alias("n"))
    return targets.join(summed, on="customer_id", how="left").to_arrow()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_scattered_artefact_gives_each_bucket_its_own_rows(workers: int) -> None:
    """A ``Scattered`` artefact: the shared part reaches every bucket, each bucket's rows
    only that bucket (in process and on a pool), rows of customers without targets nowhere."""
    schema = pa.schema([("customer_id", pa.string()), ("n", pa.int64())])
    targets = with_buckets(pl.DataFrame({"customer_id": ["a", "b", "c", "d"]}), "customer_id", 3)
    values = pl.DataFrame({"customer_id": ["a", "b", "b", "c", "d", "z"], "v": [1, 2, 3, 4, 5, 9]})
    rows = scatter_rows({"values": values}, targets, "customer_id")
    assert rows.num_rows == 3  # one per bucket; "z" is no target's
    artefact = Scattered(100, rows, _join)
    out = pl.from_arrow(
        LocalBackend(workers).map_buckets(targets.to_arrow(), _summed, artefact, schema)
    )
    assert isinstance(out, pl.DataFrame)
    assert out.sort("customer_id").rows() == [("a", 101), ("b", 105), ("c", 104), ("d", 105)]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("s3a://bucket/orders.parquet", "s3a://bucket/orders.parquet"),
        ("abfss://c@acct.dfs.core.windows.net/o", "abfss://c@acct.dfs.core.windows.net/o"),
        ("file:///tmp/orders.csv", "file:/tmp/orders.csv"),
        ("dbfs:/mnt/orders", "dbfs:/mnt/orders"),
        ("data/orders.csv", "data/orders.csv"),
        ("C:/orders.csv", "C:/orders.csv"),
    ],
)
def test_a_url_given_as_an_option_stays_a_url(given: str, expected: str) -> None:
    """Typer's ``Path`` collapses ``s3a://`` to ``s3a:/``; the location restores it."""
    assert location(Path(given)) == expected


def test_local_backend_refuses_urls_and_unknown_backends() -> None:
    """Reading a URL needs Spark; an unknown backend or a master without Spark is refused."""
    with pytest.raises(BackendError, match="--backend spark"):
        LocalBackend().read("s3a://bucket/orders.parquet")
    with pytest.raises(BackendError, match="one of"):
        open_backend("dask")
    with pytest.raises(BackendError, match="--spark-master"):
        open_backend("local", "local[2]")


def test_a_bad_sample_is_refused_before_a_backend_is_opened(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``train --sample 1.5 --backend spark``: refused at once, naming --sample, without
    starting Spark (a session takes 10–50 s to start, for nothing)."""
    import salescope.compute

    opened: list[str] = []

    def open_backend(name: str, master: str | None = None, **_: object) -> None:
        opened.append(name)
        raise AssertionError("a backend was opened")

    monkeypatch.setattr(salescope.compute, "open_backend", open_backend)
    orders = tmp_path / "orders.csv"
    orders.write_text("customer_id,product_id,order_date,quantity\nc1,p1,2024-01-02,1\n")
    result = run(
        capsys,
        "train",
        "--orders",
        str(orders),
        "--model-out",
        str(tmp_path / "model"),
        "--backend",
        "spark",
        "--sample",
        "1.5",
    )
    assert result.code == 1
    assert "--sample" in result.stderr and "share in (0, 1]" in result.stderr
    assert opened == []
