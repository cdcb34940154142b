"""The Spark backend: the same kernels on a Spark cluster (``pip install 'salescope[spark]'``).

PySpark is imported only here, only when the backend is opened. Buckets become groups of a
``groupBy(BUCKET).applyInArrow(...)``: each group's rows arrive as one Arrow table on a Python
worker, which calls the very kernel the local backend calls; the artefact (a fitted model,
promotions, feedback calibration) is broadcast once, unpickled once per Python worker. A
``Scattered`` artefact broadcasts its shared part only: each bucket's own rows (``ROWS_SCHEMA``)
are a second DataFrame, co-grouped with the targets by bucket
(``groupBy(BUCKET).cogroup(rows.groupBy(BUCKET)).applyInArrow(...)``), and the kernel gets
the shared part joined with them.

The kernels are module-level functions of ``salescope``, pickled by reference: the workers
need the same ``salescope`` installed (a wheel on the cluster's image, ``--py-files`` or a
Databricks library; see docs/spark.md).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import shutil
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
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
    Scattered,
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
    pa.binary(): "binary",
}


def spark_ddl(schema: pa.Schema) -> str:
    """``schema`` as the DDL string Spark declares a kernel's output with."""
    try:
        return ", ".join(f"`{f.name}` {_SPARK_TYPES[f.type]}" for f in schema)
    except KeyError as missing:
        raise ValueError(f"no Spark type for Arrow type {missing}") from None


DRIVER_SHARE = 0.4
"""The share of this machine's memory a Spark driver started here may use (its JVM heap):
the tables are collected to the driver (Spark's default, 1 GiB, holds about 1 M lines)."""
_MIB = 1 << 20


def machine_memory() -> int:
    """Bytes of memory this process may use: the machine's, or its container's limit."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text(encoding="ascii").strip()
    except OSError:
        return int(total)
    return int(min(total, int(limit))) if limit.isdigit() else int(total)


_SUBMIT_FLAGS = {"spark.driver.memory": "--driver-memory"}


def _configured(key: str, environ: Mapping[str, str]) -> bool:
    """Whether the user set ``key`` where Spark looks before it starts: ``PYSPARK_SUBMIT_ARGS``
    or ``spark-defaults.conf`` (in ``SPARK_CONF_DIR``, else ``SPARK_HOME/conf``)."""
    names = [key, _SUBMIT_FLAGS.get(key, key)]
    for word in environ.get("PYSPARK_SUBMIT_ARGS", "").split():
        if any(word == name or word.startswith(f"{name}=") for name in names):
            return True
    folder = environ.get("SPARK_CONF_DIR") or (
        str(Path(environ["SPARK_HOME"]) / "conf") if environ.get("SPARK_HOME") else ""
    )
    if not folder:
        return False
    try:
        text = (Path(folder) / "spark-defaults.conf").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return any(line.split()[:1] == [key] for line in text.splitlines())


def driver_defaults(environ: Mapping[str, str], memory: int) -> dict[str, str]:
    """The driver settings a Spark this process starts gets unless the user set them: a heap
    of ``DRIVER_SHARE`` of ``memory`` (at least 1 GiB) and results collected up to that size.
    Nothing when the JVM is not started here (``spark-submit``, Databricks: theirs rule)."""
    if environ.get("PYSPARK_GATEWAY_PORT"):
        return {}
    heap = f"{max(1024, int(memory * DRIVER_SHARE) // _MIB)}m"
    wanted = {"spark.driver.memory": heap, "spark.driver.maxResultSize": heap}
    return {k: v for k, v in wanted.items() if not _configured(k, environ)}


_MORE_MEMORY = (
    "give the driver more memory (PYSPARK_SUBMIT_ARGS='--driver-memory 16g pyspark-shell', "
    "spark-defaults.conf or spark-submit --driver-memory)"
)
_FEWER_LINES = "read fewer lines (train --sample, --as-of)"
_JVM_GONE = frozenset({"Py4JNetworkError", "Py4JError"})


def jvm_failure(what: str, error: BaseException, heap: str) -> str | None:
    """What to tell the user when Spark's JVM failed ``what`` (None: not a JVM failure, e.g. a
    kernel's own error, left as it is); ``heap``: the driver's ``spark.driver.memory``."""
    text = str(error)
    if "maxResultSize" in text:
        return (
            f"Spark stopped while {what}: the table collected to the driver is larger than "
            f"spark.driver.maxResultSize; raise it (the driver heap is {heap}), or {_FEWER_LINES}"
        )
    if "OutOfMemoryError" in text:
        return (
            f"Spark ran out of memory while {what} (driver heap {heap}): "
            f"{_MORE_MEMORY}, or {_FEWER_LINES}"
        )
    # the JVM gone: py4j cannot reach it (a Py4JJavaError is a Java error the JVM reported)
    if isinstance(error, ConnectionError) or type(error).__name__ in _JVM_GONE:
        return (
            f"Spark's driver stopped while {what} (its log above says why; most often it ran "
            f"out of memory, heap {heap}): {_MORE_MEMORY}, or {_FEWER_LINES}"
        )
    return None


def _not_py4j(record: logging.LogRecord) -> bool:
    """Drop py4j's own reports of a lost JVM: it logs them with their traceback on the root
    logger, and the backend says what happened in one message instead."""
    return "py4j" not in record.pathname


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
    if _not_py4j not in logging.getLogger().filters:
        logging.getLogger().addFilter(_not_py4j)
    settings = {**driver_defaults(os.environ, machine_memory()), **(config or {})}
    for key, value in settings.items():
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

    @contextmanager
    def _jvm(self, what: str) -> Iterator[None]:
        """Run Spark work ``what``; a failure of Spark's JVM (out of memory, the driver gone)
        becomes a ``BackendError`` saying what to do."""
        try:
            yield
        except Exception as error:
            try:
                heap = str(self.session.sparkContext.getConf().get("spark.driver.memory", "1g"))
            except Exception:  # the JVM is gone: its settings with it
                heap = "unknown"
            told = jvm_failure(what, error, heap)
            if told is None:
                raise
            raise BackendError(told) from None

    def map_buckets(
        self, table: pa.Table, kernel: Kernel[Any], artefact: Any, schema: pa.Schema
    ) -> pa.Table:
        with self._jvm("scoring the buckets"):
            return self._map_buckets(table, kernel, artefact, schema)

    def _map_buckets(
        self, table: pa.Table, kernel: Kernel[Any], artefact: Any, schema: pa.Schema
    ) -> pa.Table:
        buckets = int(pc.max(table[BUCKET]).as_py() or 0) + 1 if table.num_rows else 1
        frame = self.session.createDataFrame(table).repartition(buckets, BUCKET)
        if not isinstance(artefact, Scattered):
            shared = self.session.sparkContext.broadcast(artefact)

            def run(bucket: pa.Table) -> pa.Table:
                return conform(kernel(shared.value, bucket.drop_columns([BUCKET])), schema)

            out = frame.groupBy(BUCKET).applyInArrow(run, schema=spark_ddl(schema)).toArrow()
            return out.cast(schema)
        # the shared part broadcast; each bucket's rows shuffled to the bucket's task (both
        # sides hash-partitioned alike on the bucket: the cogroup adds no exchange)
        scattered = Scattered(artefact.shared, artefact.rows.slice(0, 0), artefact.join)
        whole = self.session.sparkContext.broadcast(scattered)
        rows = self.session.createDataFrame(artefact.rows).repartition(buckets, BUCKET)

        def run_with(bucket: pa.Table, mine: pa.Table) -> pa.Table:
            if bucket.num_rows == 0:  # rows without targets (none are made): nothing to score
                return schema.empty_table()
            given = whole.value.bucket_artefact(mine)
            return conform(kernel(given, bucket.drop_columns([BUCKET])), schema)

        grouped = frame.groupBy(BUCKET).cogroup(rows.groupBy(BUCKET))
        out = grouped.applyInArrow(run_with, schema=spark_ddl(schema)).toArrow()
        return out.cast(schema)

    def write(self, table: pa.Table, location: str, fmt: OutputFormat) -> None:
        """A local path: one file, as the local backend writes it; a URL (``s3a://``,
        ``hdfs://``, ``abfss://``, ``dbfs:/``…): a folder of part files, written by Spark
        (replaced if present)."""
        if "://" not in location and not location.startswith("dbfs:"):
            write_local(table, location, fmt, backend=self.name)
            return
        with self._jvm(f"writing {location}"):
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
        with self._jvm(f"reading {location}"):
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
        with self._jvm(f"reading {location}"):
            return frame.toArrow()

    def close(self) -> None:
        """Stop a session this backend started, and give Ctrl-C back to the handler it had
        (PySpark's own handler fails once its context is stopped)."""
        if self.owned:
            # a JVM that failed is already gone, and its failure already said so
            with contextlib.suppress(Exception):
                self.session.stop()
            if self._sigint is not None and threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, self._sigint)
