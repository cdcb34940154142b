"""Use cases of the model in use: train the next-order engine on the data folder for the app,
register a trained folder, say which model is in use and how it validated.

``do_train_app`` first merges the orders placed through Salescope (API, the shop's page, the
rep, automatic replenishment) into the table store — an import of canonical order lines, so
the training reads them like any other history — then fits the engine on the stored orders,
products and customers, writes it to ``<data_dir>/models/run-NNNNN`` and records the run. The
newest ready run is the model in use: the app (``services.serving``) notices it and loads it.
One training at a time per data folder (``<data_dir>/models/.lock``); every run, failed or
not, is in the audit trail.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from salescope.config import Settings
from salescope.data.adapters import AdapterOutput
from salescope.domain.errors import ConflictError, InputError, SalescopeError
from salescope.domain.statuses import ModelRunStatus
from salescope.orders.model import EngineParams, NextOrderModel
from salescope.orders.persistence import fingerprint, read_manifest, save_model
from salescope.progress import Progress, no_progress
from salescope.services.access import Permission, Scope, visible
from salescope.storage import repositories as repo
from salescope.storage.db import Database
from salescope.storage.lock import BusyError, data_folder_lock
from salescope.storage.models import ModelRun, PlacedOrder, utcnow
from salescope.storage.tables import TableStore

log = logging.getLogger("salescope.models")

KEEP_FOLDERS = 3
"""Model folders kept: the newest ready runs (the one in use among them)."""
_TRAINING = threading.Lock()
"""One training at a time in this process (the folder lock is re-entrant per process)."""


def model_in_use(session: Session) -> ModelRun | None:
    """The newest ready run: the model the app serves."""
    return session.scalar(
        sa.select(ModelRun)
        .where(ModelRun.status == ModelRunStatus.READY.value)
        .order_by(ModelRun.id.desc())
        .limit(1)
    )


def model_in_use_id(session: Session) -> int | None:
    return session.scalar(
        sa.select(sa.func.max(ModelRun.id)).where(ModelRun.status == ModelRunStatus.READY.value)
    )


def list_runs(session: Session, scope: Scope | None, *, limit: int = 20) -> list[ModelRun]:
    """The latest runs, newest first (administrators only; ``None``: the command line)."""
    query = sa.select(ModelRun).order_by(ModelRun.id.desc()).limit(limit)
    if scope is not None:
        scope.require(Permission.MODELS_MANAGE)
        query = query.where(visible(scope, ModelRun))
    return list(session.scalars(query))


def training_now(session: Session) -> ModelRun | None:
    """A run still training (started less than a day ago: older ones died with their
    process)."""
    since = utcnow() - dt.timedelta(days=1)
    return session.scalar(
        sa.select(ModelRun)
        .where(ModelRun.status == ModelRunStatus.TRAINING.value, ModelRun.created_at >= since)
        .order_by(ModelRun.id.desc())
        .limit(1)
    )


def do_register_model(
    session: Session,
    folder: Path,
    *,
    actor: str,
    source: str,
    table_version: str | None = None,
) -> ModelRun:
    """Record the trained folder ``folder`` (``salescope train``, the demo) as a ready run:
    it becomes the model in use."""
    manifest = read_manifest(folder)
    summary = manifest.get("summary") or {}
    cutoff = manifest.get("state", {}).get("cutoff")
    run = ModelRun(
        status=ModelRunStatus.READY.value,
        source=source,
        actor=actor,
        folder=str(Path(folder).resolve()),
        cutoff=dt.date.fromisoformat(cutoff) if cutoff else None,
        table_version=table_version,
        summary=summary,
        finished_at=utcnow(),
    )
    session.add(run)
    session.flush()
    repo.record_audit(
        session,
        actor,
        "model.registered",
        "model_run",
        run.id,
        {"folder": run.folder, "cutoff": run.cutoff, "source": source},
    )
    return run


@dataclass(frozen=True, slots=True)
class MergeResult:
    orders: int
    lines: int
    version: str | None


def placed_order_lines(session: Session, *, pending_only: bool = True) -> pl.DataFrame:
    """The lines of the orders placed through Salescope (not yet in the table store, when
    ``pending_only``) as canonical order lines."""
    query = sa.select(PlacedOrder).options(selectinload(PlacedOrder.lines))
    if pending_only:
        query = query.where(PlacedOrder.merged_version.is_(None))
    rows: list[dict[str, Any]] = []
    for order in session.scalars(query.order_by(PlacedOrder.id)):
        for line in order.lines:
            price = line.unit_price
            rows.append(
                {
                    "customer_id": order.customer_id,
                    "order_id": order.order_id,
                    "order_date": order.order_date,
                    "product_id": line.product_id,
                    "quantity": float(line.quantity),
                    "unit_price": price,
                    "amount": None if price is None else round(price * line.quantity, 4),
                    "promotion_id": line.promotion_id,
                }
            )
    schema = {
        "customer_id": pl.String,
        "order_id": pl.String,
        "order_date": pl.Date,
        "product_id": pl.String,
        "quantity": pl.Float64,
        "unit_price": pl.Float64,
        "amount": pl.Float64,
        "promotion_id": pl.String,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def merge_placed_orders(settings: Settings, database: Database, *, actor: str) -> MergeResult:
    """Import the placed orders not yet in the table store (idempotent: an order merges by
    its ``order_id``) and mark them merged."""
    from salescope.services.imports import store_output

    frame = database.transaction(placed_order_lines, readonly=True)
    if frame.is_empty():
        return MergeResult(0, 0, None)
    ids = frame["order_id"].unique().sort().to_list()
    digest = hashlib.sha256(frame.write_csv().encode()).hexdigest()
    report = store_output(
        settings,
        AdapterOutput("tables", {"orders": frame}),
        files=("orders placed in the app",),
        fingerprint=digest,
        actor=actor,
    )
    version = report.version or TableStore(settings.tables_dir).version

    def mark(session: Session) -> None:
        session.execute(
            sa.update(PlacedOrder)
            .where(PlacedOrder.order_id.in_(ids))
            .values(merged_version=version or "")
        )

    database.transaction(mark)
    return MergeResult(len(ids), frame.height, version)


@dataclass(frozen=True, slots=True)
class TrainAppResult:
    run_id: int
    folder: Path
    cutoff: dt.date
    summary: dict[str, Any]
    merged: MergeResult


def check_train_app(settings: Settings, scope: Scope | None = None) -> None:
    """Whether a training can start: the caller may manage models, the table store holds
    orders, and no other training is running."""
    if scope is not None:
        scope.require(Permission.MODELS_MANAGE)
    store = TableStore(settings.tables_dir)
    if "orders" not in store.names():
        raise InputError.single(
            str(settings.tables_dir),
            "holds no order lines: import orders first (salescope import …)",
        )
    if _TRAINING.locked():
        raise ConflictError("a training is already running in this app")


def do_train_app(
    settings: Settings,
    *,
    actor: str,
    source: str,
    params: EngineParams | None = None,
    progress: Progress = no_progress,
) -> TrainAppResult:
    """Merge the placed orders, fit the engine on the data folder's tables and record it as
    the model in use (see the module docstring)."""
    if not _TRAINING.acquire(blocking=False):
        raise ConflictError("a training is already running in this app")
    try:
        settings.models_dir.mkdir(parents=True, exist_ok=True)
        try:
            with data_folder_lock(settings.models_dir, command="train", wait=0):
                return _train(
                    settings, actor=actor, source=source, params=params, progress=progress
                )
        except BusyError as error:
            raise ConflictError(f"a training is already running: {error}") from None
    finally:
        _TRAINING.release()


def _train(
    settings: Settings,
    *,
    actor: str,
    source: str,
    params: EngineParams | None,
    progress: Progress,
) -> TrainAppResult:
    database = Database.from_settings(settings)
    try:
        database.upgrade()

        def start(session: Session) -> int:
            run = ModelRun(status=ModelRunStatus.TRAINING.value, source=source, actor=actor)
            session.add(run)
            session.flush()
            repo.record_audit(session, actor, "model.training", "model_run", run.id, {})
            return run.id

        run_id = database.transaction(start)
        try:
            progress("merging the orders placed in the app", 0.02)
            merged = merge_placed_orders(settings, database, actor=actor)
            store = TableStore(settings.tables_dir)
            version = store.version
            orders = store.read("orders")
            if orders is None or orders.is_empty():
                raise InputError.single(str(settings.tables_dir), "holds no order lines")
            products, customers = store.read("products"), store.read("customers")
            model = NextOrderModel(params).fit(
                orders,
                products,
                customers=customers,
                progress=lambda stage, f: progress(stage, 0.05 + 0.9 * f),
            )
            progress("writing the model", 0.96)
            folder = save_model(
                model,
                settings.models_dir / f"run-{run_id:05d}",
                data=fingerprint(orders, products, customers),
                data_files={"tables": f"{settings.tables_dir} ({version})"},
            )
            summary = model.summary()
        except BaseException as error:
            message = str(error) if isinstance(error, SalescopeError) else repr(error)

            def failed(session: Session) -> None:
                run = session.get(ModelRun, run_id)
                assert run is not None
                run.status = ModelRunStatus.FAILED.value
                run.finished_at = utcnow()
                run.message = message[:2000]
                repo.record_audit(
                    session, actor, "model.failed", "model_run", run_id, {"message": message}
                )

            database.transaction(failed)
            raise

        def finish(session: Session) -> None:
            run = session.get(ModelRun, run_id)
            assert run is not None
            run.status = ModelRunStatus.READY.value
            run.finished_at = utcnow()
            run.folder = str(folder.resolve())
            run.cutoff = model.cutoff_
            run.table_version = version
            run.summary = summary
            repo.record_audit(
                session,
                actor,
                "model.trained",
                "model_run",
                run_id,
                {
                    "cutoff": model.cutoff_,
                    "table_version": version,
                    "orders_merged": merged.orders,
                    "ranked_by": summary.get("ranked_by"),
                    "source": source,
                },
            )

        database.transaction(finish)
        _prune(database, settings.models_dir)
        progress("done", 1.0)
        return TrainAppResult(run_id, folder, model.cutoff_, summary, merged)
    finally:
        database.dispose()


def _prune(database: Database, root: Path) -> None:
    """Remove the folders of all but the newest ``KEEP_FOLDERS`` ready runs under ``root``."""

    def keep(session: Session) -> Sequence[str | None]:
        return session.scalars(
            sa.select(ModelRun.folder)
            .where(ModelRun.status == ModelRunStatus.READY.value)
            .order_by(ModelRun.id.desc())
            .limit(KEEP_FOLDERS)
        ).all()

    kept = {str(Path(f).resolve()) for f in database.transaction(keep, readonly=True) if f}
    for folder in root.glob("run-*"):
        if folder.is_dir() and str(folder.resolve()) not in kept:
            shutil.rmtree(folder, ignore_errors=True)


def describe_run(run: ModelRun | None, today: dt.date) -> list[str]:
    """Sentences an administrator reads about the model in use."""
    if run is None:
        return ["No model is trained yet: suggested orders cannot be served until one is."]
    summary = run.summary or {}
    from salescope.orders.summary import describe

    out = [
        f"Model {run.id}, trained {run.finished_at:%Y-%m-%d %H:%M} UTC ({run.source}), learned "
        f"from the orders before {run.cutoff}."
        if run.finished_at
        else f"Model {run.id}."
    ]
    out += list(describe(summary))
    if run.cutoff is not None and (today - run.cutoff).days > 30:
        out.append(
            f"Its orders end {(today - run.cutoff).days} days before today: train it again on "
            "recent orders."
        )
    return out


@dataclass(frozen=True, slots=True)
class ModelsOverview:
    """What the Models page shows an administrator."""

    in_use: ModelRun | None
    sentences: list[str]
    validation: list[tuple[str, float]]  # (ranking, recall@10 on the validation orders)
    runs: list[ModelRun]
    training: ModelRun | None
    calibration: dict[str, Any] | None
    resting: int
    placed_pending: int


def models_overview(session: Session, scope: Scope, today: dt.date) -> ModelsOverview:
    """The model in use with its validation, the latest runs, the feedback in force."""
    runs = list_runs(session, scope)
    in_use = model_in_use(session)
    recalls = ((in_use.summary if in_use else {}).get("validation") or {}).get("recall@10") or {}
    latest = repo.latest_calibration(session)
    calibration = (
        None
        if latest is None
        else {
            "fitted_at": latest.fitted_at,
            "outcomes": latest.outcomes,
            "ece_before": latest.ece_before,
            "ece_after": latest.ece_after,
        }
    )
    pending = session.scalar(
        sa.select(sa.func.count())
        .select_from(PlacedOrder)
        .where(PlacedOrder.merged_version.is_(None))
    )
    return ModelsOverview(
        in_use=in_use,
        sentences=describe_run(in_use, today),
        validation=sorted(((k, float(v)) for k, v in recalls.items()), key=lambda kv: -kv[1]),
        runs=runs,
        training=training_now(session),
        calibration=calibration,
        resting=repo.resting(session, today).height,
        placed_pending=int(pending or 0),
    )
