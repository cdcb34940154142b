"""The Spark backend: the same kernels on a Spark cluster (``pip install 'salescope[spark]'``).

PySpark is imported only here, only when the backend is opened. Buckets become groups of a
``groupBy(BUCKET).applyInArrow(...)``: each group's rows arrive as one Arrow table on a Python
worker, which calls the very kernel the local backend calls; the artefact (a fitted model,
promotions, feedback calibration) is broadcast once, unpickled once per Python worker.

The kernels are module-level functions of ``salescope``, pickled by reference: the workers
need the same ``salescope`` installed (a wheel on the cluster's image, ``--py-files`` or a
Databricks library; see docs/spark.md).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from salescope.compute.backend import (
    BUCKET,
    SAMPLE_SCALE,
    BackendError,
    BackendName,
    Kernel,
    OutputFormat,
    conform,
    sample_cut,
)
from salescope.compute.local import write_local

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

MISSING = (
    "the Spark backend needs PySpark 4 or later, which is not installed: "
    "pip install 'salescope[spark]' (and Java 17 or later)"
)

_SPARK_TYPES = {
    pa.string(): "string",
    pa.large_string(): "string",
    pa.int64(): "bigint",
    pa.int32(): "int",
    pa.float64(): "double",
    pa.date32(): "date",
    pa.bool_(): "boolean",
}


def spark_ddl(schema: pa.Schema) -> str:
    """``schema`` as the DDL string Spark declares a kernel's output with."""
    try:
        return ", ".join(f"`{f.name}` {_SPARK_TYPES[f.type]}" for f in schema)
    except KeyError as missing:
        raise ValueError(f"no Spark type for Arrow type {missing}") from None


def _pyspark() -> Any:
    try:
        import pyspark
    except ImportError:
        raise BackendError(MISSING) from None
    major = int(pyspark.__version__.split(".")[0])
    if major < 4:
        raise BackendError(f"{MISSING} (found PySpark {pyspark.__version__})")
    return pyspark


def open_session(
    master: str | None = None,
    *,
    app_name: str = "salescope",
    config: dict[str, str] | None = None,
) -> SparkSession:
    """A Spark session: on ``master`` (``local[2]``, ``spark://host:7077``, ``yarn``…), or,
    without one, the session ``spark-submit``/Databricks configured (``local[*]`` when run
    alone); ``config``: more Spark settings."""
    _pyspark()
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise BackendError("the Spark backend needs Java 17 or later (no java found)")
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name).config(
        "spark.sql.execution.arrow.pyspark.enabled", "true"
    )
    for key, value in (config or {}).items():
        builder = builder.config(key, value)
    if master:
        builder = builder.master(master)
    if (master or "local").startswith("local") and not os.environ.get("PYSPARK_PYTHON"):
        # local workers run this interpreter, which has salescope (a cluster's image
        # provides its own, see docs/spark.md)
        # (PySpark takes the workers' interpreter from the environment, not the builder)
        os.environ["PYSPARK_PYTHON"] = sys.executable
    try:
        return builder.getOrCreate()
    except Exception as error:  # the JVM's own errors: say where, not how
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise BackendError(f"cannot start Spark (master {master or 'default'}): {first}") from None


class SparkBackend:
    """Runs kernels as ``applyInArrow`` over groups of buckets, reads with Spark."""

    name: BackendName = "spark"

    def __init__(self, session: SparkSession, *, owned: bool = False, sigint: Any = None) -> None:
        self.session = session
        self.owned = owned
        self._sigint = sigint  # the Ctrl-C handler before PySpark replaced it with its own
        self.parallelism = int(session.sparkContext.defaultParallelism)

    @classmethod
    def start(cls, master: str | None = None) -> SparkBackend:
        """A backend on the active session (a notebook's, a test's), or on one it starts and
        stops on ``close``."""
        _pyspark()
        from pyspark.sql import SparkSession

        active = SparkSession.getActiveSession()
        if active is not None:
            return cls(active, owned=False)
        previous = signal.getsignal(signal.SIGINT)
        return cls(open_session(master), owned=True, sigint=previous)

    def map_buckets(
        self, table: pa.Table, kernel: Kernel[Any], artefact: Any, schema: pa.Schema
    ) -> pa.Table:
        shared = self.session.sparkContext.broadcast(artefact)

        def run(bucket: pa.Table) -> pa.Table:
            return conform(kernel(shared.value, bucket.drop_columns([BUCKET])), schema)

        buckets = int(pc.max(table[BUCKET]).as_py() or 0) + 1 if table.num_rows else 1
        frame = self.session.createDataFrame(table).repartition(buckets, BUCKET)
        out = frame.groupBy(BUCKET).applyInArrow(run, schema=spark_ddl(schema)).toArrow()
        return out.cast(schema)

    def write(self, table: pa.Table, location: str, fmt: OutputFormat) -> None:
        """A local path: one file, as the local backend writes it; a URL (``s3a://``,
        ``hdfs://``, ``abfss://``, ``dbfs:/``…): a folder of part files, written by Spark
        (replaced if present)."""
        if "://" not in location and not location.startswith("dbfs:"):
            write_local(table, location, fmt, backend=self.name)
            return
        writer = self.session.createDataFrame(table).write.mode("overwrite")
        if fmt == "csv":
            writer.option("header", True).option("dateFormat", "yyyy-MM-dd").csv(location)
        else:
            writer.parquet(location)

    def dataframe(self, location: str) -> DataFrame:
        """The table at ``location`` as a Spark DataFrame (CSV with a header: every column
        text, converted by the table's validation; otherwise Parquet)."""
        reader = self.session.read
        name = location.rstrip("/").lower()
        try:
            if name.endswith((".csv", ".csv.gz", ".txt")):
                return reader.option("header", True).option("inferSchema", False).csv(location)
            return reader.parquet(location)
        except Exception as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else "unreadable"
            raise BackendError(f"{location}: Spark cannot read it ({first})") from None

    def read(self, location: str, columns: list[str] | None = None) -> pa.Table:
        frame = self.dataframe(location)
        if columns is not None:
            frame = frame.select([c for c in columns if c in frame.columns])
        return frame.toArrow()

    def read_orders(
        self, location: str, *, before: dt.date | None = None, share: float | None = None
    ) -> pa.Table:
        """The order lines at ``location``, cut and sampled on the cluster: lines dated
        before ``before``, of the customers ``in_sample`` keeps for ``share``."""
        from pyspark.sql import functions as F  # noqa: N812 (PySpark's own convention)

        frame = self.dataframe(location)
        if before is not None and "order_date" in frame.columns:
            frame = frame.filter(F.to_date(F.col("order_date").cast("string")) < F.lit(before))
        if share is not None and "customer_id" in frame.columns:
            key = F.crc32(F.col("customer_id").cast("string").cast("binary"))
            frame = frame.filter(key % F.lit(SAMPLE_SCALE) < F.lit(sample_cut(share)))
        return frame.toArrow()

    def close(self) -> None:
        """Stop a session this backend started, and give Ctrl-C back to the handler it had
        (PySpark's own handler fails once its context is stopped)."""
        if self.owned:
            self.session.stop()
            if self._sigint is not None and threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, self._sigint)
