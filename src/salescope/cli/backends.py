"""The ``--backend`` and ``--spark-master`` options of the engine commands, and the commands'
runs on a backend (``cli.orders`` and ``cli.coverage`` hand over to these when ``--backend``
is not local).

Thin, like the rest of ``salescope.cli``: parse, call the service
(``salescope.services.scaled``), hand the result back to be rendered. Options that name
tables may be URLs (``s3a://``, ``hdfs://``, ``abfss://``, ``gs://``, ``dbfs:/``…) which
Spark reads.
"""

from __future__ import annotations

import re
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    import polars as pl

    from salescope.config import Settings
    from salescope.coverage.params import CoverageConfig
    from salescope.orders.model import NextOrderModel
    from salescope.progress import Progress
    from salescope.services.coverage import CoverageResult
    from salescope.services.orders import EvaluateResult, TrainResult

BackendOpt = Annotated[
    str,
    typer.Option(
        "--backend",
        help="Where the engine runs: local (this machine) or spark (a Spark cluster, "
        "pip install 'salescope\\[spark]'; tables may then be URLs Spark reads).",
    ),
]
SparkMasterOpt = Annotated[
    str | None,
    typer.Option(
        "--spark-master",
        help="Spark master URL (local[2], spark://host:7077, yarn, ...); default: the one "
        "spark-submit or the platform configured.",
    ),
]
SampleOpt = Annotated[
    float | None,
    typer.Option(
        help="Learn from this share of the customers (0-1], chosen by a hash of their id: "
        "the same customers on every backend."
    ),
]

_COLLAPSED_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):/(?!/)")


def location(path: Path | None) -> str | None:
    """The location an option names: a path, or a URL Typer's ``Path`` collapsed
    (``s3a://b/k`` arrives as ``s3a:/b/k``; ``file:/x`` and ``dbfs:/x`` are left as they
    are, which Spark reads)."""
    if path is None:
        return None
    text = str(path)
    match = _COLLAPSED_URL.match(text)
    if match and match.group(1).lower() not in ("file", "dbfs") and len(match.group(1)) > 1:
        return _COLLAPSED_URL.sub(r"\1://", text, count=1)
    return text


def is_url(where: str) -> bool:
    """Whether ``where`` is a URL (written by Spark as a folder of part files)."""
    return "://" in where or where.startswith(("dbfs:", "file:"))


def check_backend(backend: str, master: str | None) -> None:
    """Refuse an unknown backend, or a Spark master without Spark, before any work."""
    from salescope.compute import BACKENDS, BackendError

    if backend not in BACKENDS:
        raise BackendError(f"--backend {backend!r} is not one of: {', '.join(BACKENDS)}")
    if master and backend != "spark":
        raise BackendError("--spark-master is for --backend spark")


def check_out_dir(out_dir: Path, command: str) -> None:
    """Refuse a URL for ``--out`` of a command that writes a folder of files on the driver
    (before any work), then check the folder as the local command does."""
    from salescope.compute import BackendError
    from salescope.data.outputs import check_output_dir

    where = location(out_dir)
    assert where is not None
    if is_url(where):
        raise BackendError(
            f"--out {where}: {command} writes its folder of files on the driver; give a local "
            "folder (copy it to the cluster's storage afterwards)"
        )
    check_output_dir(out_dir)


def next_orders_on(
    settings: Settings,
    *,
    backend: str,
    master: str | None,
    out_file: Path,
    orders: Path | None,
    model: Path | None,
    products: Path | None,
    customers: Path | None,
    promotions: Path | None,
    objectives: Path | None,
    targets: Path | None,
    as_of: str | None,
    mode: str,
    top: int | None,
    progress: Progress,
) -> tuple[pl.DataFrame, NextOrderModel, str]:
    """``next-orders`` on a backend: the lines, the engine and where they were written."""
    from salescope.cli.common import fields
    from salescope.compute import open_backend
    from salescope.data.outputs import check_output_file
    from salescope.services import orders as service
    from salescope.services import scaled
    from salescope.services.feedback import in_force
    from salescope.services.inputs import parse_date_option

    check_backend(backend, master)
    out = location(out_file)
    assert out is not None
    if not is_url(out):
        check_output_file(out_file)
    as_of_date = parse_date_option(as_of, "--as-of")
    with fields():
        trained = service.load_trained(model) if model is not None else None
    with closing(open_backend(backend, master)) as engine_backend:
        with fields(orders=location(orders), targets=location(targets)):
            request = scaled.check_next_orders_on(
                engine_backend,
                orders=location(orders),
                model=trained,
                products=location(products),
                customers=location(customers),
                promotions=location(promotions),
                objectives=location(objectives),
                targets=location(targets),
                as_of=as_of_date,
                mode=mode,
                top=top,
                max_issues=settings.max_issues,
            )
        feedback = in_force(settings, request.as_of)
        engine = service.fit_next_orders(
            request, progress=lambda s, f: progress(s, 0.8 * f), planned=True
        )
        lines = scaled.do_next_orders_on(
            engine_backend,
            request,
            out,
            model=engine,
            resting=feedback.resting,
            acceptance=feedback.acceptance,
            progress=progress,
        )
    return lines, engine, out


def train_on(
    settings: Settings,
    *,
    backend: str,
    master: str | None,
    orders: Path,
    model_out: Path,
    products: Path | None,
    customers: Path | None,
    as_of: str | None,
    sample: float | None,
    progress: Progress,
) -> TrainResult:
    """``train`` on a backend: the history read, cut and sampled where it lies; the fit on
    the driver; the model folder written here."""
    from salescope.cli.common import fields
    from salescope.compute import open_backend
    from salescope.data.outputs import check_output_dir
    from salescope.services import orders as service
    from salescope.services import scaled
    from salescope.services.inputs import parse_date_option

    check_backend(backend, master)
    check_output_dir(model_out, "--model-out")
    as_of_date = parse_date_option(as_of, "--as-of")
    where = location(orders)
    assert where is not None
    with fields():
        scaled.check_share(sample)  # before a Spark session is started for nothing
    with closing(open_backend(backend, master)) as engine_backend, fields(orders=where):
        request = scaled.check_train_on(
            engine_backend,
            orders=where,
            products=location(products),
            customers=location(customers),
            as_of=as_of_date,
            sample=sample,
            max_issues=settings.max_issues,
        )
    return service.do_train(request, model_out, progress=progress)


def evaluate_on(
    settings: Settings,
    *,
    backend: str,
    master: str | None,
    orders: Path,
    products: Path | None,
    customers: Path | None,
    cutoffs: list[str],
    protocol: str,
    out_dir: Path,
    progress: Progress,
) -> EvaluateResult:
    """``evaluate`` on a backend: the tables read where they lie; each cut-off's fit, the
    baselines and the metrics on the driver; the held-out targets scored in buckets on the
    backend; the report folder written here."""
    from salescope.cli.common import fields
    from salescope.compute import open_backend
    from salescope.services import scaled
    from salescope.services.inputs import parse_date_option

    check_backend(backend, master)
    check_out_dir(out_dir, "evaluate")
    dates = [d for d in (parse_date_option(c, "--cutoffs") for c in cutoffs) if d]
    where = location(orders)
    assert where is not None
    with closing(open_backend(backend, master)) as engine_backend:
        with fields(orders=where):
            request = scaled.check_evaluate_on(
                engine_backend,
                orders=where,
                products=location(products),
                customers=location(customers),
                cutoffs=dates,
                protocol=protocol,
                max_issues=settings.max_issues,
            )
        return scaled.do_evaluate_on(engine_backend, request, out_dir, progress=progress)


def coverage_on(
    settings: Settings,
    *,
    backend: str,
    master: str | None,
    customers: Path,
    orders: Path,
    reps: Path,
    products: Path | None,
    market: Path | None,
    visits: Path | None,
    config: CoverageConfig,
    as_of: str | None,
    out_dir: Path,
) -> CoverageResult:
    """``coverage`` on a backend: the tables read where they lie; the engine (potential,
    segments, recommendations, assignment) on the driver; the output folder written here."""
    from salescope.cli.common import err, fields
    from salescope.compute import open_backend
    from salescope.services import coverage as service
    from salescope.services import scaled
    from salescope.services.inputs import parse_date_option

    check_backend(backend, master)
    check_out_dir(out_dir, "coverage")
    as_of_date = parse_date_option(as_of, "--as-of")
    with closing(open_backend(backend, master)) as engine_backend, fields():
        request = scaled.check_coverage_on(
            engine_backend,
            customers=_at(customers),
            orders=_at(orders),
            reps=_at(reps),
            products=location(products),
            market=location(market),
            visits=location(visits),
            config=config,
            as_of=as_of_date,
            max_issues=settings.max_issues,
        )
    with err.status("coverage: potential, segments, recommendations, assignment…"):
        return service.do_coverage(request, out_dir)


def _at(path: Path) -> str:
    """The location a required option names."""
    where = location(path)
    assert where is not None
    return where
