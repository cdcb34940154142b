"""Compute backends: the engines' per-bucket kernels run locally or on Spark.

``open_backend("local")`` runs buckets in this process (or on a process pool);
``open_backend("spark", master)`` on a Spark cluster (the optional ``salescope[spark]``
extra, imported only then). See ``salescope.compute.backend`` for what a backend does.
"""

from __future__ import annotations

from salescope.compute.backend import (
    BUCKET,
    Backend,
    BackendError,
    BackendName,
    Kernel,
    OutputFormat,
    Parts,
    Scattered,
    n_buckets,
    sample_customers,
    scatter_rows,
    with_buckets,
)
from salescope.compute.local import LocalBackend

BACKENDS: tuple[BackendName, ...] = ("local", "spark")


def open_backend(name: str, master: str | None = None, *, workers: int = 1) -> Backend:
    """The backend ``name`` (``local`` or ``spark``); ``master``: the Spark master URL
    (Spark only); ``workers``: the local process pool's size."""
    if name == "local":
        if master:
            raise BackendError("--spark-master is for --backend spark")
        return LocalBackend(workers)
    if name == "spark":
        from salescope.compute.spark import SparkBackend

        return SparkBackend.start(master)
    raise BackendError(f"--backend {name!r} is not one of: {', '.join(BACKENDS)}")


__all__ = [
    "BACKENDS",
    "BUCKET",
    "Backend",
    "BackendError",
    "BackendName",
    "Kernel",
    "LocalBackend",
    "OutputFormat",
    "Parts",
    "Scattered",
    "n_buckets",
    "open_backend",
    "sample_customers",
    "scatter_rows",
    "with_buckets",
]
