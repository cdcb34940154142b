"""What a backend is: something that runs a per-bucket kernel over the buckets of a table.

An engine's per-customer work is a *kernel*: a plain function ``kernel(artefact, table)``
of one bucket of customers (an Arrow table) and a small *artefact* every bucket shares (a
fitted model, factors, promotions), returning an Arrow table of a declared schema. A backend
splits the input into buckets (``with_buckets``: the same split on every backend), ships the
artefact once to each worker (a process pool's initializer, a Spark broadcast) and gathers
the kernels' outputs. The kernels never know which backend runs them.

An artefact whose bulk is one customer's business only (a fitted engine's lines, candidates
and neighbours) travels as a ``Scattered``: the ``shared`` part is broadcast, each bucket's
own rows (``rows``: one row per bucket and part, the part's rows as Arrow IPC bytes) travel
with the bucket's targets (a process pool's task, a Spark cogroup), and ``join(shared,
parts)`` gives the artefact the kernel receives for that bucket. The kernel is the same.
"""

from __future__ import annotations

import datetime as dt
import io
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from salescope.domain.errors import SalescopeError

A = TypeVar("A")
Kernel = Callable[[A, pa.Table], pa.Table]
"""A per-bucket kernel: (the shared artefact, one bucket's rows) -> the bucket's output."""

BUCKET = "_bucket"
"""The column ``with_buckets`` adds: which bucket a row belongs to."""

PART, DATA = "part", "data"
ROWS_SCHEMA = pa.schema([(BUCKET, pa.int32()), (PART, pa.string()), (DATA, pa.binary())])
"""The rows a ``Scattered`` artefact ships with its buckets: one row per bucket and part,
``data`` the part's rows of the bucket (Arrow IPC, written by Polars)."""

Parts = dict[str, pl.DataFrame]
"""One bucket's own rows of a scattered artefact, by part name."""

BackendName = Literal["local", "spark"]
OutputFormat = Literal["csv", "parquet"]


@dataclass(frozen=True, slots=True)
class Scattered(Generic[A]):
    """An artefact in two parts: ``shared`` (broadcast to every worker) and ``rows`` (each
    bucket's own part, ``ROWS_SCHEMA``, shipped with the bucket); ``join(shared, parts)`` (a
    module-level function: it is pickled by reference) is the artefact of one bucket, given
    that bucket's parts (``parts_of``; a part the bucket has no rows of is absent)."""

    shared: A
    rows: pa.Table
    join: Callable[[A, Parts], A]

    def bucket_artefact(self, rows: pa.Table) -> A:
        """The artefact of the bucket whose rows (``ROWS_SCHEMA``) are ``rows``."""
        return self.join(self.shared, parts_of(rows))


def scatter_rows(tables: Mapping[str, pl.DataFrame], owner: pl.DataFrame, key: str) -> pa.Table:
    """``ROWS_SCHEMA`` rows of ``tables``: each table's rows of the ``key`` values ``owner``
    (``key``, ``BUCKET``) places in a bucket, cut by bucket (rows of other keys are not
    shipped), in their order."""
    owner = owner.select(pl.col(key), pl.col(BUCKET).cast(pl.Int32)).unique(key)
    buckets: list[int] = []
    names: list[str] = []
    blobs: list[bytes] = []
    for name, table in tables.items():
        placed = table.join(owner, on=key, how="inner", maintain_order="left")
        for (bucket,), part in placed.partition_by(BUCKET, as_dict=True).items():
            sink = io.BytesIO()
            part.drop(BUCKET).write_ipc(sink, compression="lz4")
            buckets.append(int(bucket))
            names.append(name)
            blobs.append(sink.getvalue())
    # one chunk a row: a binary array holds at most 2 GiB, the rows of all buckets may not
    given: list[list[Any]] = [buckets, names, blobs]
    columns = [
        pa.chunked_array([pa.array([value], field.type) for value in values], field.type)
        for values, field in zip(given, ROWS_SCHEMA, strict=True)
    ]
    return pa.Table.from_arrays(columns, schema=ROWS_SCHEMA)


def parts_of(rows: pa.Table) -> Parts:
    """The parts of one bucket's ``ROWS_SCHEMA`` rows, read back (a part in several rows is
    put together in their order)."""
    found: dict[str, list[pl.DataFrame]] = {}
    for name, blob in zip(rows[PART].to_pylist(), rows[DATA].to_pylist(), strict=True):
        found.setdefault(name, []).append(pl.read_ipc(io.BytesIO(blob)))
    return {
        name: pl.concat(frames) if len(frames) > 1 else frames[0] for name, frames in found.items()
    }


def rows_of_bucket(rows: pa.Table, bucket: int) -> pa.Table:
    """The ``ROWS_SCHEMA`` rows of one bucket."""
    return rows.filter(pc.equal(rows[BUCKET], pa.scalar(bucket, pa.int32())))


class BackendError(SalescopeError):
    """A backend cannot run: PySpark missing, no Spark cluster reachable, a bad location."""


class Backend(Protocol):
    """Runs kernels over buckets of customers; reads tables where they live."""

    name: BackendName
    parallelism: int
    """How many buckets it runs at once (the fewest buckets worth making)."""

    def map_buckets(
        self, table: pa.Table, kernel: Kernel[Any], artefact: Any, schema: pa.Schema
    ) -> pa.Table:
        """``kernel(artefact, bucket)`` for every bucket of ``table`` (a ``BUCKET`` column,
        see ``with_buckets``), gathered here; each output has ``schema``. A ``Scattered``
        artefact: its ``shared`` part broadcast, each bucket's ``rows`` shipped with the
        bucket, and the kernel given ``bucket_artefact`` of them."""
        ...

    def write(self, table: pa.Table, location: str, fmt: OutputFormat) -> None:
        """Write ``table`` to ``location``: one file (a local path, atomically) or, on a
        cluster, a folder of part files at a URL."""
        ...

    def read(self, location: str, columns: list[str] | None = None) -> pa.Table:
        """The table at ``location`` (CSV with a header, or Parquet), as raw columns."""
        ...

    def read_orders(
        self, location: str, *, before: dt.date | None = None, share: float | None = None
    ) -> pa.Table:
        """The raw order lines at ``location``: on a cluster, cut to the lines before
        ``before`` and to the customers ``sample_customers`` keeps for ``share`` where they
        lie (a backend may leave both to the caller, who applies them again)."""
        ...

    def close(self) -> None:
        """Release the workers (a pool, a Spark session this backend started)."""
        ...


def n_buckets(n_rows: int, per_bucket: int, parallelism: int = 1) -> int:
    """How many buckets ``n_rows`` customers make: at most ``per_bucket`` each, and at least
    one per slot of the backend's ``parallelism`` (when there are customers enough)."""
    if per_bucket < 1:
        raise ValueError("per_bucket must be at least 1")
    return max(1, min(max(parallelism, 1), n_rows), -(-n_rows // per_bucket))


def with_buckets(frame: pl.DataFrame, key: str, buckets: int) -> pl.DataFrame:
    """``frame`` with ``BUCKET``: the rank of its ``key`` (sorted) modulo ``buckets``, so every
    row of one key is in one bucket, buckets differ by at most one key, and the split is the
    same on every backend and machine (no hash seed involved)."""
    rank = pl.col(key).rank("dense").cast(pl.Int64) - 1
    return frame.with_columns((rank % buckets).cast(pl.Int32).alias(BUCKET))


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table``'s columns of ``schema``, in its order and with its types (a kernel's
    output as the backend declared it)."""
    return table.select(schema.names).cast(schema)


SAMPLE_SCALE = 10_000


def sample_cut(share: float) -> int:
    """A customer is in the sample of ``share`` when the CRC-32 of its id (UTF-8), modulo
    ``SAMPLE_SCALE``, is below this; Spark's ``crc32`` and ``zlib.crc32`` agree, so every
    backend keeps the same customers."""
    if not 0.0 < share <= 1.0:
        raise ValueError("share must be in (0, 1]")
    return round(share * SAMPLE_SCALE)


def sample_customers(frame: pl.DataFrame, share: float | None) -> pl.DataFrame:
    """The rows of ``frame`` whose ``customer_id`` is in the sample of ``share`` (all rows
    without a share)."""
    if share is None:
        return frame
    cut = sample_cut(share)
    ids = frame.select(pl.col("customer_id").cast(pl.String).unique().drop_nulls())["customer_id"]
    kept = [c for c in ids.to_list() if zlib.crc32(c.encode("utf-8")) % SAMPLE_SCALE < cut]
    return frame.filter(pl.col("customer_id").cast(pl.String).is_in(kept))
