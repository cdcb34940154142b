"""Reading and writing the operational database: plain functions taking a ``Session``.

The caller owns the transaction (``Database.session()``); nothing here commits. Bulk writes go
through the dialect's ``INSERT ... ON CONFLICT DO UPDATE`` (SQLite and PostgreSQL) in chunks,
and what an upsert adds, updates or leaves unchanged is decided by comparing the incoming frame
with the stored rows in one vectorised join, not by a query per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar, cast

import polars as pl
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session

from salescope.domain import schemas
from salescope.domain.schemas import CUSTOMERS, LINE_OUTCOMES, REPS, RESTING, TableSchema
from salescope.storage.models import (
    AcceptanceCalibration,
    AuditEvent,
    Base,
    Customer,
    FeedbackOutcome,
    HeldOutLine,
    ImportRun,
    ImportStatus,
    ProposalLine,
    ProposalRun,
    Region,
    Rep,
    RestingProduct,
    utcnow,
)

_T = TypeVar("_T")

WRITE_CHUNK = 2_000
"""Rows per executemany batch of an upsert."""
READ_CHUNK = 5_000
"""Keys per ``IN (...)`` when reading the stored rows (below SQLite's 32766 variables)."""

_UPDATED_AT = "updated_at"
_OLD = "__old"
_EXISTS = "__exists__"


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    """What an upsert did: rows added, rows updated (some value changed), rows left as they were."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.added + self.updated + self.unchanged

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated)

    def as_dict(self) -> dict[str, int]:
        """JSON-ready, e.g. for ``ImportRun.counts``."""
        return {"added": self.added, "updated": self.updated, "unchanged": self.unchanged}

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        return UpsertCounts(
            self.added + other.added,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
        )


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _table(model: type[Base]) -> sa.Table:
    return cast(sa.Table, model.__table__)


def _insert(session: Session, table: sa.Table) -> Any:
    """The dialect's INSERT construct (with ``on_conflict_*`` and ``excluded``)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"upserts support SQLite and PostgreSQL, not {dialect}")


def _stored(
    session: Session, table: sa.Table, key: str, columns: Sequence[str], keys: list[str]
) -> pl.DataFrame:
    """The stored values of ``columns`` for the rows whose ``key`` is in ``keys``."""
    selected = [table.c[key], *(table.c[c] for c in columns)]
    rows: list[Sequence[Any]] = []
    for chunk in _chunks(keys, READ_CHUNK):
        rows.extend(session.execute(sa.select(*selected).where(table.c[key].in_(chunk))).all())
    return pl.DataFrame(
        [tuple(row) for row in rows],
        schema=[key, *columns],
        orient="row",
        strict=False,
        infer_schema_length=None,
    )


def _upsert_frame(
    session: Session, table: sa.Table, schema: TableSchema, frame: pl.DataFrame
) -> UpsertCounts:
    """Upsert the rows of a canonical ``frame`` into ``table`` by the schema's (single) key.

    Columns of the schema that the frame lacks are left as stored (NULL for new rows); columns
    the schema does not know are ignored.
    """
    (key,) = schema.key
    missing = [c for c in schema.required if c not in frame.columns]
    if missing:
        raise ValueError(f"{schema.name} frame lacks required columns: {', '.join(missing)}")
    columns = [c.name for c in schema.columns if c.name in frame.columns and c.name in table.c]
    values = [c for c in columns if c != key]
    incoming = frame.select(pl.col(c).cast(schema[c].type.polars) for c in columns)
    # NaN is no value: SQLite would store it as NULL, and a later comparison would differ.
    incoming = incoming.with_columns(pl.col(pl.Float64).fill_nan(None))
    if incoming.is_empty():
        return UpsertCounts()
    if incoming[key].null_count():
        raise ValueError(f"{schema.name} frame has {incoming[key].null_count()} rows without {key}")
    duplicated = incoming.filter(pl.col(key).is_duplicated())[key].unique().sort()
    if len(duplicated):
        shown = ", ".join(map(repr, duplicated.head(5).to_list()))
        raise ValueError(f"{schema.name} frame repeats {len(duplicated)} {key} values: {shown}")

    stored = _stored(session, table, key, values, incoming[key].to_list())
    stored = stored.cast({c: incoming.schema[c] for c in stored.columns}).rename(
        {c: c + _OLD for c in values}
    )
    joined = incoming.join(
        stored.with_columns(pl.lit(True).alias(_EXISTS)), on=key, how="left", nulls_equal=False
    )
    new = pl.col(_EXISTS).is_null()
    differs = (
        pl.any_horizontal(pl.col(c).ne_missing(pl.col(c + _OLD)) for c in values)
        if values
        else pl.lit(False)
    )
    flags = joined.select(new.alias("new"), (~new & differs).alias("changed"))
    added, updated = int(flags["new"].sum()), int(flags["changed"].sum())
    counts = UpsertCounts(added, updated, incoming.height - added - updated)
    if not counts.changed:
        return counts

    now = utcnow()
    records = joined.filter(flags["new"] | flags["changed"]).select(columns).to_dicts()
    for record in records:
        record[_UPDATED_AT] = now
    statement = _insert(session, table)
    if values:
        statement = statement.on_conflict_do_update(
            index_elements=[table.c[key]],
            set_={c: statement.excluded[c] for c in (*values, _UPDATED_AT)},
            # Rows changed by someone else since we read them are still updated; rows that
            # are already equal are not touched.
            where=sa.or_(*(table.c[c].is_distinct_from(statement.excluded[c]) for c in values)),
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=[table.c[key]])
    for chunk in _chunks(records, WRITE_CHUNK):
        session.execute(statement, list(chunk))
    return counts


def upsert_customers(session: Session, frame: pl.DataFrame) -> UpsertCounts:
    """Add or update customers from a canonical ``customers`` frame, by ``customer_id``.

    Idempotent: the same frame twice adds and updates nothing the second time. Extra columns
    are ignored; absent optional columns keep their stored values. Raises ValueError when
    ``customer_id`` is missing, null or repeated.
    """
    return _upsert_frame(session, _table(Customer), CUSTOMERS, frame)


def upsert_reps(session: Session, frame: pl.DataFrame) -> UpsertCounts:
    """Add or update reps from a canonical ``reps`` frame, by ``rep_id`` (as ``upsert_customers``).

    ``latitude``, ``longitude`` and ``capacity_minutes`` are required columns.
    """
    return _upsert_frame(session, _table(Rep), REPS, frame)


def ensure_regions(session: Session, codes: Iterable[str | None]) -> int:
    """Create the regions of ``codes`` that do not exist yet (named after their code).

    Empty and null codes are skipped. Returns how many regions were created.
    """
    wanted = sorted({code for code in codes if code})
    if not wanted:
        return 0
    existing: set[str] = set()
    for chunk in _chunks(wanted, READ_CHUNK):
        existing.update(session.scalars(sa.select(Region.code).where(Region.code.in_(chunk))))
    missing = [code for code in wanted if code not in existing]
    if missing:
        table = _table(Region)
        statement = _insert(session, table).on_conflict_do_nothing(index_elements=[table.c.code])
        for chunk in _chunks(missing, WRITE_CHUNK):
            session.execute(statement, [{"code": code, "name": code} for code in chunk])
    return len(missing)


def start_import(
    session: Session,
    *,
    source: str,
    files: Sequence[str],
    fingerprint: str,
    actor: str | None = None,
    started_at: datetime | None = None,
) -> ImportRun:
    """Record that an import of ``files`` (sha256 ``fingerprint``) from ``source`` started.

    The run is flushed, so its ``id`` is set. To keep a record of failed imports, start the run
    in its own transaction and finish it in another one.
    """
    run = ImportRun(
        source=source,
        files=list(files),
        fingerprint=fingerprint,
        actor=actor,
        started_at=started_at or utcnow(),
        status=ImportStatus.RUNNING.value,
        counts={},
    )
    session.add(run)
    session.flush()
    return run


def finish_import(
    session: Session,
    run: ImportRun | int,
    *,
    status: ImportStatus | str = ImportStatus.OK,
    counts: Mapping[str, Any] | None = None,
    message: str | None = None,
    finished_at: datetime | None = None,
) -> ImportRun:
    """Record how the import ``run`` (the object or its id) ended.

    ``counts`` (JSON-ready: rows kept and dropped per table with reasons, rows added, replaced
    and unchanged) replaces the stored counts when given.
    """
    final = ImportStatus(status)
    if final is ImportStatus.RUNNING:
        raise ValueError("finish_import needs a final status: ok or failed")
    run_id = run if isinstance(run, int) else run.id
    stored = session.get(ImportRun, run_id)
    if stored is None:
        raise LookupError(f"no import run with id {run_id}")
    stored.status = final.value
    stored.finished_at = finished_at or utcnow()
    if counts is not None:
        stored.counts = dict(counts)
    if message is not None:
        stored.message = message
    session.flush()
    return stored


def find_import(
    session: Session,
    fingerprint: str,
    *,
    source: str | None = None,
    status: ImportStatus | str | None = ImportStatus.OK,
) -> ImportRun | None:
    """The latest import run of inputs with this ``fingerprint`` (by default: a successful one).

    ``status=None`` finds a run whatever its status; ``source`` restricts to one source.
    """
    query = sa.select(ImportRun).where(ImportRun.fingerprint == fingerprint)
    if source is not None:
        query = query.where(ImportRun.source == source)
    if status is not None:
        query = query.where(ImportRun.status == ImportStatus(status).value)
    query = query.order_by(ImportRun.started_at.desc(), ImportRun.id.desc()).limit(1)
    return session.scalars(query).first()


def list_imports(session: Session, *, limit: int = 50) -> list[ImportRun]:
    """The latest import runs, newest first."""
    query = sa.select(ImportRun).order_by(ImportRun.started_at.desc(), ImportRun.id.desc())
    return list(session.scalars(query.limit(limit)))


def record_audit(
    session: Session,
    actor: str | None,
    action: str,
    entity_type: str | None = None,
    entity_id: str | int | None = None,
    details: Mapping[str, Any] | None = None,
    *,
    at: datetime | None = None,
) -> AuditEvent:
    """Append an event to the audit trail: ``actor`` did ``action`` (e.g. ``import.completed``)
    to the entity ``entity_type``/``entity_id``; ``details`` must be JSON-ready."""
    event = AuditEvent(
        at=at or utcnow(),
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=None if entity_id is None else str(entity_id),
        details=dict(details or {}),
    )
    session.add(event)
    session.flush()
    return event


def list_audit(
    session: Session,
    *,
    entity_type: str | None = None,
    entity_id: str | int | None = None,
    actor: str | None = None,
    action: str | None = None,
    action_prefix: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> list[AuditEvent]:
    """Audit events matching every filter given, in the order they were recorded.

    ``since`` is inclusive, ``until`` exclusive; ``action_prefix="import."`` matches every
    import action. ``newest_first`` reverses the order (with ``limit``: the latest events).
    """
    query = sa.select(AuditEvent)
    if entity_type is not None:
        query = query.where(AuditEvent.entity_type == entity_type)
    if entity_id is not None:
        query = query.where(AuditEvent.entity_id == str(entity_id))
    if actor is not None:
        query = query.where(AuditEvent.actor == actor)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if action_prefix is not None:
        query = query.where(AuditEvent.action.startswith(action_prefix, autoescape=True))
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if until is not None:
        query = query.where(AuditEvent.at < until)
    if newest_first:
        query = query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    else:
        query = query.order_by(AuditEvent.at, AuditEvent.id)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


# -- proposals, feedback, resting and acceptance calibration -------------------------------------
PROPOSAL_LINE_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.Int64(),
    "run_id": pl.Int64(),
    "customer_id": pl.String(),
    "order_date": pl.Date(),
    "rank": pl.Int64(),
    "product_id": pl.String(),
    "kind": pl.String(),
    "probability": pl.Float64(),
    "model_probability": pl.Float64(),
    "quantity": pl.Float64(),
    "promotion_id": pl.String(),
    "reason": pl.String(),
}
"""Columns of ``proposal_lines`` frames."""

FEEDBACK_OUTCOME_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.Int64(),
    **LINE_OUTCOMES,
    "recorded_at": pl.Datetime("us", "UTC"),
}
"""Columns of ``feedback_outcomes`` frames (``order_date`` is the date of the proposal)."""

RESTING_SCHEMA: dict[str, pl.DataType] = RESTING
"""Columns of ``resting_products`` frames."""

PROPOSAL_KEY = schemas.PROPOSAL_KEY
"""A proposal: the order proposed to one customer for one date."""
LINE_KEY = schemas.LINE_KEY
"""A line of a proposal, and the outcome of that line."""


def _rows_frame(rows: Iterable[Sequence[Any]], schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(
        [tuple(row) for row in rows], schema=dict(schema), orient="row", strict=False
    )


def _conform(frame: pl.DataFrame, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """``frame`` with exactly the ``schema`` columns, cast, absent ones null and NaN as null."""
    return frame.select(
        (pl.col(c) if c in frame.columns else pl.lit(None)).cast(t).alias(c)
        for c, t in schema.items()
    ).with_columns(pl.col(pl.Float64).fill_nan(None))


def _select_by_customers(
    session: Session,
    model: type[Base],
    schema: Mapping[str, pl.DataType],
    customers: Iterable[str] | None,
    *conditions: sa.ColumnElement[bool],
    distinct: bool = False,
) -> pl.DataFrame:
    """The ``schema`` columns of ``model``'s rows (of ``customers`` when given) that meet
    ``conditions``, as a frame."""
    table = _table(model)
    query = sa.select(*(table.c[c] for c in schema)).where(*conditions)
    if distinct:
        query = query.distinct()
    rows: list[Sequence[Any]] = []
    if customers is None:
        rows.extend(session.execute(query).all())
    else:
        wanted = sorted(set(customers))
        for chunk in _chunks(wanted, READ_CHUNK):
            rows.extend(session.execute(query.where(table.c.customer_id.in_(chunk))).all())
    return _rows_frame(rows, schema)


def _date_bounds(
    column: InstrumentedAttribute[date], since: date | None, until: date | None
) -> list[sa.ColumnElement[bool]]:
    """Conditions ``since <= column <= until`` for the bounds given."""
    bounds = [] if since is None else [column >= since]
    return bounds if until is None else [*bounds, column <= until]


def _insert_new(
    session: Session, table: sa.Table, records: Sequence[Mapping[str, Any]], key: Sequence[str]
) -> list[Sequence[Any]]:
    """Insert ``records``, skipping those whose ``key`` is already stored; return the keys of
    the rows really inserted (``RETURNING``, so concurrent writers are accounted for too)."""
    statement = (
        _insert(session, table)
        .on_conflict_do_nothing(index_elements=[table.c[c] for c in key])
        .returning(*(table.c[c] for c in key))
    )
    inserted: list[Sequence[Any]] = []
    for chunk in _chunks(records, WRITE_CHUNK):
        inserted.extend(session.execute(statement, list(chunk)).all())
    return inserted


def add_proposal_run(
    session: Session,
    *,
    source: str,
    fingerprint: str,
    actor: str | None = None,
    file_name: str | None = None,
    counts: Mapping[str, Any] | None = None,
) -> ProposalRun:
    """Record a batch of proposals (flushed, so its ``id`` is set)."""
    run = ProposalRun(
        source=source,
        fingerprint=fingerprint,
        actor=actor,
        file_name=file_name,
        counts=dict(counts or {}),
    )
    session.add(run)
    session.flush()
    return run


def find_proposal_run(session: Session, fingerprint: str) -> ProposalRun | None:
    """The first stored run of a proposals file with this sha256 ``fingerprint``, if any."""
    query = sa.select(ProposalRun).where(ProposalRun.fingerprint == fingerprint)
    return session.scalars(query.order_by(ProposalRun.id).limit(1)).first()


def add_proposal_lines(session: Session, run_id: int, frame: pl.DataFrame) -> int:
    """Store the lines of a canonical ``proposals`` frame under run ``run_id``; return how
    many lines were stored.

    A proposal (customer_id, order_date) is stored once, by the first run that brings it, and
    never replaced or extended: the lines of a proposal already stored are skipped, whatever
    they hold. Absent optional columns (``model_probability``, ``promotion_id``, ``reason``)
    are stored as NULL.
    """
    if frame.is_empty():
        return 0
    columns = {c: t for c, t in PROPOSAL_LINE_SCHEMA.items() if c not in ("id", "run_id")}
    incoming = _conform(frame, columns)
    stored = stored_proposals(session, incoming["customer_id"].unique().to_list())
    new = incoming.join(stored, on=list(PROPOSAL_KEY), how="anti")
    if new.is_empty():
        return 0
    records = new.with_columns(pl.lit(run_id, dtype=pl.Int64).alias("run_id")).to_dicts()
    return len(_insert_new(session, _table(ProposalLine), records, LINE_KEY))


def stored_proposals(session: Session, customers: Iterable[str] | None = None) -> pl.DataFrame:
    """The proposals stored (of ``customers`` when given): distinct ``customer_id,
    order_date``."""
    schema = {c: PROPOSAL_LINE_SCHEMA[c] for c in PROPOSAL_KEY}
    return _select_by_customers(session, ProposalLine, schema, customers, distinct=True)


def proposal_lines(
    session: Session,
    customers: Iterable[str] | None = None,
    *,
    since: date | None = None,
    until: date | None = None,
) -> pl.DataFrame:
    """The stored proposal lines (of ``customers`` when given; of proposals dated from
    ``since`` to ``until`` inclusive when given), sorted by customer, date, rank; columns
    ``PROPOSAL_LINE_SCHEMA``."""
    conditions = _date_bounds(ProposalLine.order_date, since, until)
    frame = _select_by_customers(
        session, ProposalLine, PROPOSAL_LINE_SCHEMA, customers, *conditions
    )
    return frame.sort("customer_id", "order_date", "rank", "product_id")


def add_feedback_outcomes(session: Session, frame: pl.DataFrame) -> pl.DataFrame:
    """Store outcome rows (the columns of ``FEEDBACK_OUTCOME_SCHEMA`` but ``id`` and
    ``recorded_at``; absent nullable ones are NULL); rows whose (customer_id, order_date,
    product_id) already has an outcome are skipped, so recording the same order twice
    duplicates nothing. Returns the keys (``customer_id, order_date, product_id``) of the rows
    really stored, so that what follows from an outcome (resting) happens once."""
    key_schema = {c: FEEDBACK_OUTCOME_SCHEMA[c] for c in LINE_KEY}
    if frame.is_empty():
        return pl.DataFrame(schema=key_schema)
    columns = {c: t for c, t in FEEDBACK_OUTCOME_SCHEMA.items() if c != "id"}
    records = (
        _conform(frame.drop("recorded_at", strict=False), columns)
        .with_columns(pl.lit(utcnow(), dtype=columns["recorded_at"]).alias("recorded_at"))
        .to_dicts()
    )
    inserted = _insert_new(session, _table(FeedbackOutcome), records, LINE_KEY)
    return _rows_frame(inserted, key_schema)


def feedback_outcomes(
    session: Session,
    since: date | None = None,
    *,
    until: date | None = None,
    customers: Iterable[str] | None = None,
) -> pl.DataFrame:
    """The recorded outcomes, for recalibration and reports: one row per line of a proposal
    answered by an order (and per product the customer added), with its kind, probabilities
    and promotion. ``since``/``until`` keep the proposals dated in that range (inclusive);
    ``customers`` restricts to those customers. Sorted by proposal date, customer, product;
    columns ``FEEDBACK_OUTCOME_SCHEMA``."""
    conditions = _date_bounds(FeedbackOutcome.order_date, since, until)
    frame = _select_by_customers(
        session, FeedbackOutcome, FEEDBACK_OUTCOME_SCHEMA, customers, *conditions
    )
    return frame.sort("order_date", "customer_id", "product_id")


def answered_proposals(
    session: Session,
    customers: Iterable[str] | None = None,
    *,
    since: date | None = None,
    until: date | None = None,
) -> pl.DataFrame:
    """The proposals that already have outcomes (an order answered them): distinct
    ``customer_id, order_date``, restricted as in ``feedback_outcomes``."""
    schema = {c: FEEDBACK_OUTCOME_SCHEMA[c] for c in PROPOSAL_KEY}
    conditions = _date_bounds(FeedbackOutcome.order_date, since, until)
    return _select_by_customers(
        session, FeedbackOutcome, schema, customers, *conditions, distinct=True
    )


def resting_products(session: Session, customers: Iterable[str] | None = None) -> pl.DataFrame:
    """Every stored resting row (of ``customers`` when given), expired or not; columns
    ``RESTING_SCHEMA``."""
    frame = _select_by_customers(session, RestingProduct, RESTING_SCHEMA, customers)
    return frame.sort("customer_id", "product_id")


def resting(session: Session, as_of: date, customers: Iterable[str] | None = None) -> pl.DataFrame:
    """The products resting at ``as_of`` (of ``customers`` when given), which the engine must
    not offer as novelties: ``customer_id, product_id, rest_until`` where ``as_of <
    rest_until`` (a product may be offered again on its ``rest_until``). Sorted by customer and
    product."""
    schema = {c: RESTING_SCHEMA[c] for c in ("customer_id", "product_id", "rest_until")}
    frame = _select_by_customers(
        session, RestingProduct, schema, customers, RestingProduct.rest_until > as_of
    )
    return frame.sort("customer_id", "product_id")


def upsert_resting(session: Session, frame: pl.DataFrame) -> UpsertCounts:
    """Write resting rows (``RESTING_SCHEMA`` columns) by (customer_id, product_id): new pairs
    are added, changed ones updated, equal ones left untouched (not even ``updated_at``)."""
    key = ["customer_id", "product_id"]
    values = [c for c in RESTING_SCHEMA if c not in key]
    incoming = frame.select(pl.col(c).cast(t) for c, t in RESTING_SCHEMA.items())
    if incoming.is_empty():
        return UpsertCounts()
    stored = resting_products(session, incoming["customer_id"].unique().to_list())
    joined = incoming.join(
        stored.rename({c: c + _OLD for c in values}).with_columns(pl.lit(True).alias(_EXISTS)),
        on=key,
        how="left",
    )
    new = pl.col(_EXISTS).is_null()
    differs = pl.any_horizontal(pl.col(c).ne_missing(pl.col(c + _OLD)) for c in values)
    flags = joined.select(new.alias("new"), (~new & differs).alias("changed"))
    added, updated = int(flags["new"].sum()), int(flags["changed"].sum())
    counts = UpsertCounts(added, updated, incoming.height - added - updated)
    if not counts.changed:
        return counts
    records = (
        joined.filter(flags["new"] | flags["changed"])
        .select(key + values)
        .with_columns(pl.lit(utcnow(), dtype=pl.Datetime("us", "UTC")).alias(_UPDATED_AT))
        .to_dicts()
    )
    table = _table(RestingProduct)
    statement = _insert(session, table)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c[c] for c in key],
        set_={c: statement.excluded[c] for c in (*values, _UPDATED_AT)},
    )
    for chunk in _chunks(records, WRITE_CHUNK):
        session.execute(statement, list(chunk))
    return counts


def add_calibration(
    session: Session,
    *,
    outcomes: int,
    parameters: Mapping[str, Any],
    ece_before: float | None = None,
    ece_after: float | None = None,
) -> AcceptanceCalibration:
    """Record a fit of the acceptance calibrator (flushed, so its ``id`` is set)."""
    fit = AcceptanceCalibration(
        outcomes=outcomes,
        parameters=dict(parameters),
        ece_before=ece_before,
        ece_after=ece_after,
    )
    session.add(fit)
    session.flush()
    return fit


def latest_calibration(session: Session) -> AcceptanceCalibration | None:
    """The newest fit of the acceptance calibrator, or None when none was recorded."""
    query = sa.select(AcceptanceCalibration).order_by(
        AcceptanceCalibration.fitted_at.desc(), AcceptanceCalibration.id.desc()
    )
    return session.scalars(query.limit(1)).first()


def add_held_out_lines(session: Session, rows: Sequence[Mapping[str, Any]]) -> int:
    """Store the novelties a holdout shop was not shown (``HeldOutLine`` columns but ``id``
    and ``created_at``); a line already stored is skipped. Returns how many were stored."""
    if not rows:
        return 0
    now = utcnow()
    records = [{**row, "created_at": now} for row in rows]
    return len(_insert_new(session, _table(HeldOutLine), records, LINE_KEY))
