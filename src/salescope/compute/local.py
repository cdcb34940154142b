"""The local backend: buckets run one after the other in this process, or on a process pool.

A pool's workers receive the artefact once (the pool's initializer unpickles it into the
worker) and then one bucket at a time, so a fitted model is not shipped with every bucket. A
``Scattered`` artefact goes the way it goes on Spark: its shared part once per worker, each
bucket's own rows with the bucket, joined before the kernel runs (in this process too).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from salescope.compute.backend import (
    BUCKET,
    BackendError,
    BackendName,
    Kernel,
    OutputFormat,
    Scattered,
    conform,
    rows_of_bucket,
    sample_customers,
)

_ARTEFACT: dict[str, Any] = {}


def _install(payload: bytes) -> None:
    """A pool worker's initializer: the shared artefact, unpickled once per worker."""
    _ARTEFACT["value"] = pickle.loads(payload)


def _run(
    kernel: Kernel[Any], bucket: pa.Table, schema: pa.Schema, rows: pa.Table | None = None
) -> pa.Table:
    """One bucket on a pool worker, with the artefact its initializer installed (the shared
    part of a ``Scattered`` one, joined with the bucket's ``rows``)."""
    return conform(kernel(_bucket_artefact(_ARTEFACT["value"], rows), bucket), schema)


def _bucket_artefact(artefact: Any, rows: pa.Table | None) -> Any:
    """The artefact a bucket's kernel receives: ``artefact``, or a scattered one's shared part
    joined with the bucket's ``rows``."""
    if isinstance(artefact, Scattered):
        assert rows is not None
        return artefact.bucket_artefact(rows)
    return artefact


class LocalBackend:
    """Buckets in this process (``workers`` 1) or on a pool of ``workers`` processes."""

    name: BackendName = "local"

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self.parallelism = workers

    def map_buckets(
        self, table: pa.Table, kernel: Kernel[Any], artefact: Any, schema: pa.Schema
    ) -> pa.Table:
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        parts = frame.sort(BUCKET).partition_by(BUCKET, maintain_order=True)
        buckets = [part.drop(BUCKET).to_arrow() for part in parts]
        # a scattered artefact: each bucket's own rows go with it, the shared part is installed
        rows: list[pa.Table | None] = [None] * len(parts)
        installed = artefact
        if isinstance(artefact, Scattered):
            rows = [rows_of_bucket(artefact.rows, int(part[BUCKET][0])) for part in parts]
            installed = Scattered(artefact.shared, artefact.rows.slice(0, 0), artefact.join)
        if self.workers == 1 or len(buckets) <= 1:
            outputs = [
                conform(kernel(_bucket_artefact(installed, mine), bucket), schema)
                for bucket, mine in zip(buckets, rows, strict=True)
            ]
        else:
            # spawn, not fork: LightGBM's and Polars' thread pools do not survive a fork
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(
                max_workers=min(self.workers, len(buckets)),
                mp_context=context,
                initializer=_install,
                initargs=(pickle.dumps(installed, protocol=pickle.HIGHEST_PROTOCOL),),
            ) as pool:
                outputs = list(
                    pool.map(_run, [kernel] * len(buckets), buckets, [schema] * len(buckets), rows)
                )
        if not outputs:
            return schema.empty_table()
        return pa.concat_tables(outputs)

    def write(self, table: pa.Table, location: str, fmt: OutputFormat) -> None:
        write_local(table, location, fmt, backend=self.name)

    def read(self, location: str, columns: list[str] | None = None) -> pa.Table:
        """The CSV or Parquet file at ``location`` (a local path)."""
        from salescope.data.io import read_raw

        if "://" in location:
            raise BackendError(
                f"{location}: the local backend reads local files; use --backend spark to "
                "read from a URL"
            )
        raw, _, _ = read_raw(location)
        if columns is not None:
            raw = raw.select([c for c in columns if c in raw.columns])
        return raw.to_arrow()

    def read_orders(
        self, location: str, *, before: dt.date | None = None, share: float | None = None
    ) -> pa.Table:
        """The raw order lines at ``location``, sampled (the caller cuts by date once the
        dates are validated)."""
        frame = pl.from_arrow(self.read(location))
        assert isinstance(frame, pl.DataFrame)
        if share is not None and "customer_id" in frame.columns:
            frame = sample_customers(frame, share)
        return frame.to_arrow()

    def close(self) -> None:
        """Nothing to release: a pool lives only as long as one ``map_buckets``."""


def write_local(table: pa.Table, location: str, fmt: OutputFormat, *, backend: str) -> None:
    """Write ``table`` as one local file at ``location`` (atomically: nothing on failure)."""
    from salescope.data.outputs import write_csv, write_parquet

    if "://" in location:
        raise BackendError(
            f"{location}: the {backend} backend writes a URL only on a cluster; use --backend spark"
        )
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    (write_parquet if fmt == "parquet" else write_csv)(frame, Path(location))
