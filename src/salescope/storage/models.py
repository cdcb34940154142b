"""The operational database: SQLAlchemy 2 typed models of the foundation tables.

Portable across SQLite and PostgreSQL:

* timestamps are timezone-aware in Python and stored as UTC (``UTCDateTime``);
* JSON columns are ``JSON`` (``JSONB`` on PostgreSQL);
* closed vocabularies are strings with a named CHECK constraint, not database enums, so adding
  a value is a one-line migration on both databases;
* every constraint and index is named by ``NAMING_CONVENTION``, so Alembic autogenerate is
  stable and batch migrations on SQLite can find constraints by name.

External keys (``Customer.customer_id``, ``Rep.rep_id``) are the identifiers of the canonical
tables; a customer refers to its rep by that string, not by a foreign key, so tables can be
imported in any order. Later migrations add recommendations, decisions, verification requests,
visit reports, proposals and feedback on top of this base.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from salescope.domain.statuses import (
    AutoOrderStatus,
    CustomerStatus,
    InteractionMode,
    LineKind,
    LineOutcome,
    ModelRunStatus,
    OrderChannel,
    RecommendationStatus,
    RepRole,
    ShopTaskKind,
    ShopTaskStatus,
    UserRole,
    VisitPurpose,
    VisitStatus,
)

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as UTC.

    PostgreSQL stores ``timestamp with time zone``; SQLite, which has no time zones, stores the
    UTC wall time. Reading always gives an aware datetime in UTC. Naive datetimes are refused:
    they are ambiguous, and a bug wherever they come from.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = sa.JSON(none_as_null=True).with_variant(
    postgresql.JSONB(none_as_null=True), "postgresql"
)
"""JSON everywhere, JSONB on PostgreSQL (comparable, indexable). Python ``None`` is SQL NULL."""


class ImportStatus(StrEnum):
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"


def one_of(column: str, values: type[StrEnum], *, name: str | None = None) -> sa.CheckConstraint:
    """A named CHECK constraint: ``column`` is NULL or one of the enum's values."""
    allowed = ", ".join(f"'{member.value}'" for member in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=name or column)


class Base(DeclarativeBase):
    """Base of every model; its metadata carries the constraint naming convention."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads this class attribute)
        datetime: UTCDateTime(),
        float: sa.Double(),
        str: sa.String(),
        dict[str, Any]: JSONType,
        list[str]: JSONType,
    }


user_regions = sa.Table(
    "user_regions",
    Base.metadata,
    sa.Column(
        "user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, nullable=False
    ),
    sa.Column(
        "region_id",
        sa.ForeignKey("regions.id", ondelete="CASCADE"),
        primary_key=True,
        nullable=False,
        index=True,
    ),
)
"""Which regions a user (a regional manager) manages."""


class Region(Base):
    """A sales region, by the code the canonical tables use in their ``region`` column."""

    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(unique=True)
    name: Mapped[str]

    managers: Mapped[list[User]] = relationship(secondary=user_regions, back_populates="regions")

    def __repr__(self) -> str:
        return f"Region(code={self.code!r}, name={self.name!r})"


class User(Base):
    """Someone who logs in: admin, director, regional manager, rep, merchandiser or a shop.

    ``username`` is the e-mail address (lower case). A rep or merchandiser is linked to its
    ``reps`` row by ``rep_id``, a shop to its customer by ``customer_id``.
    """

    __tablename__ = "users"
    __table_args__ = (one_of("role", UserRole),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(150), unique=True)
    full_name: Mapped[str] = mapped_column(default="", server_default="")
    role: Mapped[str] = mapped_column(sa.String(16))
    password_hash: Mapped[str | None]
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    rep_id: Mapped[str | None] = mapped_column(index=True)
    customer_id: Mapped[str | None]

    regions: Mapped[list[Region]] = relationship(
        secondary=user_regions, back_populates="managers", order_by=Region.code
    )

    def __repr__(self) -> str:
        return f"User(username={self.username!r}, role={self.role!r})"


class Rep(Base):
    """A sales rep or merchandiser (the canonical ``reps`` table)."""

    __tablename__ = "reps"
    __table_args__ = (one_of("role", RepRole),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rep_id: Mapped[str] = mapped_column(unique=True)
    name: Mapped[str | None]
    region: Mapped[str | None] = mapped_column(index=True)
    role: Mapped[str | None] = mapped_column(sa.String(32))
    latitude: Mapped[float]
    longitude: Mapped[float]
    capacity_minutes: Mapped[float]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"Rep(rep_id={self.rep_id!r}, name={self.name!r})"


class Customer(Base):
    """A shop: a served customer or a prospect of the market universe (``customers`` table)."""

    __tablename__ = "customers"
    __table_args__ = (
        one_of("status", CustomerStatus),
        one_of("interaction_mode", InteractionMode),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(unique=True)
    name: Mapped[str | None]
    address: Mapped[str | None]
    city: Mapped[str | None]
    region: Mapped[str | None] = mapped_column(index=True)
    channel: Mapped[str | None]
    chain: Mapped[str | None]
    status: Mapped[str | None] = mapped_column(sa.String(16), index=True)
    # Rep.rep_id by value, not a foreign key: customers and reps are imported in any order.
    rep_id: Mapped[str | None] = mapped_column(index=True)
    interaction_mode: Mapped[str | None] = mapped_column(sa.String(16))
    visits_per_month: Mapped[float | None]
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"Customer(customer_id={self.customer_id!r}, name={self.name!r})"


class ImportRun(Base):
    """One import of input files: what came in, what it did, how it ended."""

    __tablename__ = "import_runs"
    __table_args__ = (one_of("status", ImportStatus),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(64))
    files: Mapped[list[str]] = mapped_column(default=list)
    fingerprint: Mapped[str] = mapped_column(sa.String(64), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(sa.String(16), default=ImportStatus.RUNNING.value)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    actor: Mapped[str | None] = mapped_column(sa.String(150))
    message: Mapped[str | None] = mapped_column(sa.Text)

    def __repr__(self) -> str:
        return f"ImportRun(id={self.id!r}, source={self.source!r}, status={self.status!r})"


class AuditEvent(Base):
    """One entry of the audit trail: who did what, to which entity, when, with which details."""

    __tablename__ = "audit_events"
    __table_args__ = (sa.Index(None, "entity_type", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str | None] = mapped_column(sa.String(150))
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    entity_type: Mapped[str | None] = mapped_column(sa.String(64))
    entity_id: Mapped[str | None]
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)

    def __repr__(self) -> str:
        return f"AuditEvent(id={self.id!r}, action={self.action!r}, actor={self.actor!r})"


class ProposalRun(Base):
    """One batch of proposals (a ``next-orders`` proposal file) stored for feedback.

    A run holds the proposal lines it stored first: a proposal (customer, order date) is
    stored once, by the first run that brings it, and never replaced.
    """

    __tablename__ = "proposal_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str | None] = mapped_column(sa.String(150))
    source: Mapped[str] = mapped_column(sa.String(32))  # cli, api, demo, ...
    file_name: Mapped[str | None]
    fingerprint: Mapped[str] = mapped_column(sa.String(64), index=True)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)

    lines: Mapped[list[ProposalLine]] = relationship(
        back_populates="run", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"ProposalRun(id={self.id!r}, source={self.source!r})"


class ProposalLine(Base):
    """A line of the order proposed to a customer for a date (``proposals`` table)."""

    __tablename__ = "proposal_lines"
    __table_args__ = (
        sa.UniqueConstraint("customer_id", "order_date", "product_id"),
        one_of("kind", LineKind),
        sa.CheckConstraint("probability >= 0 AND probability <= 1", name="probability"),
        sa.CheckConstraint(
            "model_probability >= 0 AND model_probability <= 1", name="model_probability"
        ),
        sa.CheckConstraint("quantity > 0", name="quantity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(
        sa.ForeignKey("proposal_runs.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[str]
    order_date: Mapped[date]
    rank: Mapped[int]
    product_id: Mapped[str]
    kind: Mapped[str] = mapped_column(sa.String(16))
    probability: Mapped[float]
    # The engine's probability before acceptance calibration (novelties; the calibrator is
    # fitted on it, never on an already recalibrated probability).
    model_probability: Mapped[float | None]
    quantity: Mapped[float]
    promotion_id: Mapped[str | None]
    reason: Mapped[str | None] = mapped_column(sa.Text)

    run: Mapped[ProposalRun] = relationship(back_populates="lines")

    def __repr__(self) -> str:
        return (
            f"ProposalLine(customer_id={self.customer_id!r}, order_date={self.order_date!r}, "
            f"product_id={self.product_id!r}, kind={self.kind!r})"
        )


class FeedbackOutcome(Base):
    """What the order a customer placed did with one line of its proposal.

    One row per (customer, proposal date, product): a proposed line is ``accepted``,
    ``quantity_changed`` or ``removed``; a product ordered but not proposed is ``added`` (no
    proposal line, no kind). Recording the same order again adds nothing.
    """

    __tablename__ = "feedback_outcomes"
    __table_args__ = (
        sa.UniqueConstraint("customer_id", "order_date", "product_id"),
        one_of("outcome", LineOutcome),
        one_of("kind", LineKind),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_line_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("proposal_lines.id", ondelete="SET NULL"), index=True
    )
    customer_id: Mapped[str]
    order_date: Mapped[date] = mapped_column(index=True)  # the date of the proposal
    order_id: Mapped[str] = mapped_column(index=True)
    ordered_on: Mapped[date]  # the date of the order that answered the proposal
    product_id: Mapped[str]
    kind: Mapped[str | None] = mapped_column(sa.String(16))
    outcome: Mapped[str] = mapped_column(sa.String(16))
    proposed_quantity: Mapped[float | None]
    ordered_quantity: Mapped[float | None]
    probability: Mapped[float | None]  # as shown
    model_probability: Mapped[float | None]  # before acceptance calibration
    promotion_id: Mapped[str | None]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return (
            f"FeedbackOutcome(customer_id={self.customer_id!r}, order_date={self.order_date!r}, "
            f"product_id={self.product_id!r}, outcome={self.outcome!r})"
        )


class RestingProduct(Base):
    """A product a customer turned down as a novelty: how often in a row, and until when it
    rests (is not offered as a novelty). It may be offered again on ``rest_until``."""

    __tablename__ = "resting_products"
    __table_args__ = (sa.UniqueConstraint("customer_id", "product_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str]
    product_id: Mapped[str]
    rejections_in_a_row: Mapped[int] = mapped_column(default=0)
    last_rejected_on: Mapped[date | None]
    rest_until: Mapped[date | None] = mapped_column(index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return (
            f"RestingProduct(customer_id={self.customer_id!r}, product_id={self.product_id!r}, "
            f"rest_until={self.rest_until!r})"
        )


class AcceptanceCalibration(Base):
    """A fit of the acceptance calibrator (``salescope.orders.acceptance``) on the recorded
    outcomes of shown novelties; the newest one is what next orders apply.

    ``parameters`` is ``AcceptanceCalibrator.to_dict()``; the calibration errors are those of
    the probabilities as shown and as recalibrated, on the ``outcomes`` it was fitted on.
    """

    __tablename__ = "acceptance_calibrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    fitted_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    outcomes: Mapped[int]
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ece_before: Mapped[float | None]
    ece_after: Mapped[float | None]

    def __repr__(self) -> str:
        return f"AcceptanceCalibration(id={self.id!r}, outcomes={self.outcomes!r})"


# -- web app and API (migration 0003) -------------------------------------------------------
class WebSession(Base):
    """A signed-in browser: the cookie holds a random token, only its SHA-256 is stored.

    Revocable (``revoked_at``), expiring (``expires_at``); signing in always makes a new one.
    """

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(255))

    user: Mapped[User] = relationship()


class ApiKey(Base):
    """An API key of a user, with scopes. The key is ``slk_<key_id>_<secret>``; only the
    SHA-256 of the secret is stored (it has 256 random bits: a slow hash adds nothing)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(sa.String(64))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(default="", server_default="")
    scopes: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


class LoginAttempt(Base):
    """A sign-in attempt, for rate limiting (and the security log)."""

    __tablename__ = "login_attempts"
    __table_args__ = (sa.Index(None, "email", "at"), sa.Index(None, "ip", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    email: Mapped[str] = mapped_column(sa.String(254))
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    success: Mapped[bool]


class CoverageRun(Base):
    """One coverage output (``salescope coverage --out DIR``) published as recommendations."""

    __tablename__ = "coverage_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str | None] = mapped_column(sa.String(150))
    source: Mapped[str]
    fingerprint: Mapped[str] = mapped_column(sa.String(64), index=True)
    as_of: Mapped[date | None]
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)


class CoverageRecommendation(Base):
    """The current coverage recommendation of one shop and the manager's review of it.

    One row per customer. A new run refreshes an open row (and says what changed in the audit
    trail); a decided row keeps its decision, and the new run's proposal is kept beside it in
    ``rerun`` to be shown against it. ``version`` is the optimistic lock: an update that does
    not find the version it read changes nothing and raises.
    """

    __tablename__ = "recommendations"
    __table_args__ = (
        one_of("status", RecommendationStatus),
        sa.Index(None, "region", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(unique=True)
    name: Mapped[str | None]  # the customer's, copied for lists and search
    region: Mapped[str | None] = mapped_column(index=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("coverage_runs.id"), index=True)
    potential: Mapped[float | None]  # copied from the evidence, to sort by
    recommendation: Mapped[str] = mapped_column(sa.String(16), index=True)
    status: Mapped[str] = mapped_column(sa.String(24))
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    proposed_rep_id: Mapped[str | None]
    proposed_mode: Mapped[str | None] = mapped_column(sa.String(16))
    proposed_visits_per_month: Mapped[float | None]
    decided_rep_id: Mapped[str | None]
    decided_mode: Mapped[str | None] = mapped_column(sa.String(16))
    decided_visits_per_month: Mapped[float | None]
    decision_reason: Mapped[str | None] = mapped_column(sa.Text)
    decided_by: Mapped[str | None] = mapped_column(sa.String(150))
    decided_at: Mapped[datetime | None]
    rerun_id: Mapped[int | None] = mapped_column(sa.ForeignKey("coverage_runs.id"))
    rerun: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    def __repr__(self) -> str:
        return (
            f"CoverageRecommendation(customer_id={self.customer_id!r}, "
            f"recommendation={self.recommendation!r}, status={self.status!r})"
        )


class Visit(Base):
    """A visit task of a rep or merchandiser and its report (``report``: the draft until it is
    filed). ``region`` and ``customer_id`` are copied from the customer for access checks."""

    __tablename__ = "visits"
    __table_args__ = (one_of("status", VisitStatus), one_of("purpose", VisitPurpose))

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(index=True)
    region: Mapped[str | None] = mapped_column(index=True)
    recommendation_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("recommendations.id", ondelete="SET NULL"), index=True
    )
    rep_id: Mapped[str] = mapped_column(index=True)
    purpose: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16))
    due_date: Mapped[date | None]
    note: Mapped[str | None] = mapped_column(sa.Text)
    requested_by: Mapped[str | None] = mapped_column(sa.String(150))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    visit_date: Mapped[date | None]
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reported_by: Mapped[str | None] = mapped_column(sa.String(150))
    reported_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    photos: Mapped[list[Photo]] = relationship(
        back_populates="visit", order_by="Photo.id", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Photo(Base):
    """A photo of a visit report: re-encoded, stored under a random name in the data
    directory (``photos/``) with a thumbnail; served only to users who may see the customer."""

    __tablename__ = "photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(
        sa.ForeignKey("visits.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[str] = mapped_column(index=True)
    region: Mapped[str | None] = mapped_column(index=True)
    file_name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    thumb_name: Mapped[str] = mapped_column(sa.String(64))
    content_type: Mapped[str] = mapped_column(sa.String(32))
    width: Mapped[int]
    height: Mapped[int]
    size_bytes: Mapped[int]
    original_name: Mapped[str] = mapped_column(sa.String(255), default="")
    uploaded_by: Mapped[str | None] = mapped_column(sa.String(150))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)

    visit: Mapped[Visit] = relationship(back_populates="photos")


# -- the optimal order in the app (migration 0004) -------------------------------------------
class ModelRun(Base):
    """A training of the next-order engine for the app (``services.serving``): the folder it
    was written to, what it learned from and how it validated. The newest ready run is the
    model in use."""

    __tablename__ = "model_runs"
    __table_args__ = (one_of("status", ModelRunStatus),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    source: Mapped[str] = mapped_column(sa.String(32))  # admin, schedule, cli, demo
    actor: Mapped[str | None] = mapped_column(sa.String(150))
    folder: Mapped[str | None]
    cutoff: Mapped[date | None]  # learned from the orders before this date
    table_version: Mapped[str | None] = mapped_column(sa.String(16))
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    message: Mapped[str | None] = mapped_column(sa.Text)

    def __repr__(self) -> str:
        return f"ModelRun(id={self.id!r}, status={self.status!r}, cutoff={self.cutoff!r})"


class PlacedOrder(Base):
    """An order placed through Salescope (the API, the shop's page, the rep at a visit,
    automatic replenishment), matched against its proposal by the feedback service and stored
    as order lines; ``merged_version`` names the table-store version that holds its lines
    (NULL: not yet, the next training takes it in).

    ``idempotency_key`` is unique per user: a retried request with the same key answers the
    stored order instead of placing it again (``request_hash`` tells a replay from another
    request reusing the key)."""

    __tablename__ = "placed_orders"
    __table_args__ = (
        one_of("channel", OrderChannel),
        sa.UniqueConstraint("user_id", "idempotency_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    customer_id: Mapped[str] = mapped_column(index=True)
    region: Mapped[str | None] = mapped_column(index=True)
    order_date: Mapped[date] = mapped_column(index=True)
    channel: Mapped[str] = mapped_column(sa.String(16))
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    placed_by: Mapped[str | None] = mapped_column(sa.String(150))
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(200))
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    proposal_date: Mapped[date | None]  # the proposal it answered
    outcomes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    total_amount: Mapped[float | None]
    merged_version: Mapped[str | None] = mapped_column(sa.String(16), index=True)

    lines: Mapped[list[PlacedOrderLine]] = relationship(
        back_populates="order",
        order_by="PlacedOrderLine.line_no",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    def __repr__(self) -> str:
        return f"PlacedOrder(order_id={self.order_id!r}, customer_id={self.customer_id!r})"


class PlacedOrderLine(Base):
    """A line of a placed order, with what feedback made of it (``outcome``) and the kind
    and promotion of the proposal line it answered."""

    __tablename__ = "placed_order_lines"
    __table_args__ = (
        sa.UniqueConstraint("order_id", "product_id"),
        sa.CheckConstraint("quantity > 0", name="quantity"),
        one_of("kind", LineKind),
        one_of("outcome", LineOutcome),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(
        sa.ForeignKey("placed_orders.id", ondelete="CASCADE"), index=True
    )
    line_no: Mapped[int]
    product_id: Mapped[str]
    quantity: Mapped[float]
    unit_price: Mapped[float | None]
    promotion_id: Mapped[str | None]
    kind: Mapped[str | None] = mapped_column(sa.String(16))
    outcome: Mapped[str | None] = mapped_column(sa.String(16))

    order: Mapped[PlacedOrder] = relationship(back_populates="lines")


class HeldOutLine(Base):
    """A novelty that would have been shown to a shop of the uplift holdout, and was not:
    what the shown novelties are measured against."""

    __tablename__ = "held_out_lines"
    __table_args__ = (
        sa.UniqueConstraint("customer_id", "order_date", "product_id"),
        one_of("kind", LineKind),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str]
    order_date: Mapped[date] = mapped_column(index=True)
    product_id: Mapped[str]
    kind: Mapped[str] = mapped_column(sa.String(16))
    probability: Mapped[float]
    quantity: Mapped[float]
    promotion_id: Mapped[str | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AutoOrder(Base):
    """The order automatic replenishment will place for a shop's delivery date at its
    cut-off, unless the shop edits (``lines``) or cancels it first."""

    __tablename__ = "auto_orders"
    __table_args__ = (
        one_of("status", AutoOrderStatus),
        sa.UniqueConstraint("customer_id", "order_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(index=True)
    region: Mapped[str | None] = mapped_column(index=True)
    order_date: Mapped[date]
    cutoff_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(sa.String(16))
    lines: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)  # the shop's edit
    placed_order_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("placed_orders.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(sa.String(150))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class ShopTask(Base):
    """Something the business asks a shop to do online (confirm a delivery window, answer a
    short shelf survey, accept a promotion), and the shop's answer; seen by its rep and its
    region's manager."""

    __tablename__ = "shop_tasks"
    __table_args__ = (one_of("kind", ShopTaskKind), one_of("status", ShopTaskStatus))

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(index=True)
    region: Mapped[str | None] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    title: Mapped[str]
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(sa.String(16))
    due_date: Mapped[date | None]
    created_by: Mapped[str | None] = mapped_column(sa.String(150))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    answer: Mapped[dict[str, Any]] = mapped_column(default=dict)
    answered_by: Mapped[str | None] = mapped_column(sa.String(150))
    answered_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Invitation(Base):
    """A one-time link that lets an invited shop user choose its password; only the SHA-256
    of the token is stored."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_by: Mapped[str | None] = mapped_column(sa.String(150))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()
