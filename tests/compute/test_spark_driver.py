"""The Spark driver this process starts: memory enough for the tables it collects, the user's
own settings kept, and a failed JVM told in one message (no PySpark needed: plain functions)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from salescope.compute.spark import _not_py4j, driver_defaults, jvm_failure

GIB = 1 << 30


def test_a_driver_started_here_gets_a_share_of_the_machine() -> None:
    """24 GiB: a heap of 40 % (9,830 MiB) and results collected up to it; a small machine
    still gets Spark's 1 GiB."""
    assert driver_defaults({}, 24 * GIB) == {
        "spark.driver.memory": "9830m",
        "spark.driver.maxResultSize": "9830m",
    }
    assert driver_defaults({}, 2 * GIB)["spark.driver.memory"] == "1024m"


def test_the_users_own_driver_settings_are_kept(tmp_path: Path) -> None:
    """Set in PYSPARK_SUBMIT_ARGS, in spark-defaults.conf, or the JVM not started here
    (spark-submit, Databricks): nothing of ours."""
    submit = {"PYSPARK_SUBMIT_ARGS": "--driver-memory 16g pyspark-shell"}
    assert driver_defaults(submit, 24 * GIB) == {"spark.driver.maxResultSize": "9830m"}
    conf = {"PYSPARK_SUBMIT_ARGS": "--conf spark.driver.maxResultSize=0 pyspark-shell"}
    assert driver_defaults(conf, 24 * GIB) == {"spark.driver.memory": "9830m"}
    overhead = {"PYSPARK_SUBMIT_ARGS": "--conf spark.driver.memoryOverhead=2g pyspark-shell"}
    assert "spark.driver.memory" in driver_defaults(overhead, 24 * GIB)  # another setting
    (tmp_path / "spark-defaults.conf").write_text(
        "# ours\nspark.driver.memory   20g\nspark.executor.memory 4g\n", encoding="utf-8"
    )
    assert driver_defaults({"SPARK_CONF_DIR": str(tmp_path)}, 24 * GIB) == {
        "spark.driver.maxResultSize": "9830m"
    }
    assert driver_defaults({"PYSPARK_GATEWAY_PORT": "41233"}, 24 * GIB) == {}


class Py4JNetworkError(Exception):
    """Stands for py4j's error when the JVM is gone (recognised by its name)."""


class Py4JJavaError(Exception):
    """Stands for a Java error the JVM reported (alive): not a lost JVM."""


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (RuntimeError("java.lang.OutOfMemoryError: Java heap space"), "ran out of memory"),
        (ConnectionRefusedError(111, "Connection refused"), "driver stopped"),
        (Py4JNetworkError("Error while sending or receiving"), "driver stopped"),
        (
            RuntimeError(
                "Total size of serialized results (1.1 GiB) is bigger than "
                "spark.driver.maxResultSize (1024.0 MiB)"
            ),
            "larger than spark.driver.maxResultSize",
        ),
    ],
)
def test_a_failed_jvm_is_told_with_what_to_do(error: BaseException, says: str) -> None:
    """The step, what happened and what to change; a kernel's own error is not a JVM failure."""
    told = jvm_failure("reading orders.parquet", error, "1g")
    assert told is not None
    assert "reading orders.parquet" in told and says in told
    assert "--driver-memory" in told or "maxResultSize" in told
    assert jvm_failure("scoring", ValueError("a kernel's bug"), "1g") is None
    assert jvm_failure("reading x", Py4JJavaError("java.io.FileNotFoundException"), "1g") is None


def test_py4j_tracebacks_are_dropped_and_others_kept() -> None:
    """py4j logs a lost connection with its traceback on the root logger: dropped."""
    lost = logging.LogRecord(
        "root", logging.ERROR, "/x/py4j/java_gateway.py", 1, "lost", None, None
    )
    ours = logging.LogRecord("root", logging.ERROR, "/x/salescope/cli.py", 1, "ours", None, None)
    assert not _not_py4j(lost)
    assert _not_py4j(ours)
