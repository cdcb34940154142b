"""The local backend: buckets run one after the other in this process, or on a process pool.

A pool's workers receive the artefact once (the pool's initializer unpickles it into the
worker) and then one bucket at a time, so a fitted model is not shipped with every bucket.
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
    conform,
    sample_customers,
)

_ARTEFACT: dict[str, Any] = {}


def _install(payload: bytes) -> None:
    """A pool worker's initializer: the shared artefact, unpickled once per worker."""
    _ARTEFACT["value"] = pickle.loads(payload)


def _run(kernel: Kernel[Any], bucket: pa.Table, schema: pa.Schema) -> pa.Table:
    """One bucket on a pool worker, with the artefact its initializer installed."""
    return conform(kernel(_ARTEFACT["value"], bucket), schema)


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
        buckets = [
            part.drop(BUCKET).to_arrow()
            for part in frame.sort(BUCKET).partition_by(BUCKET, maintain_order=True)
        ]
        if self.workers == 1 or len(buckets) <= 1:
            outputs = [conform(kernel(artefact, bucket), schema) for bucket in buckets]
        else:
            # spawn, not fork: LightGBM's and Polars' thread pools do not survive a fork
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(
                max_workers=min(self.workers, len(buckets)),
                mp_context=context,
                initializer=_install,
                initargs=(pickle.dumps(artefact, protocol=pickle.HIGHEST_PROTOCOL),),
            ) as pool:
                outputs = list(
                    pool.map(_run, [kernel] * len(buckets), buckets, [schema] * len(buckets))
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
