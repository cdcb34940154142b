"""Use cases of the coverage review: publish a coverage run as recommendations, list and read
them within the caller's reach, and decide (accept, reject, request verification, change the
interaction mode) under the state machine of ``domain.lifecycle`` with optimistic locking and
an audit record per step.

Publishing reads ``DIR/customers.csv`` of ``salescope coverage`` by column name (extra columns
are kept as evidence, missing optional ones are simply absent), ``assignments.csv`` and
``summary.json``. A new run never loses a decision: an open recommendation is refreshed (the
audit trail says what changed), a decided one keeps its decision and gets the new run's
proposal beside it (``rerun``).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from salescope.domain.errors import FieldError, InputError, StaleError
from salescope.domain.lifecycle import REPORT, transition
from salescope.domain.statuses import (
    CustomerStatus,
    DecisionAction,
    InteractionMode,
    RecommendationStatus,
    RepRole,
    VisitPurpose,
    VisitStatus,
)
from salescope.services.access import Permission, Scope, get_visible, scoped, visible
from salescope.storage.models import (
    AuditEvent,
    CoverageRecommendation,
    CoverageRun,
    Customer,
    Rep,
    Visit,
    utcnow,
)
from salescope.storage.repositories import record_audit

RECOMMENDATIONS = ("add", "keep", "grow", "reduce", "drop", "change_mode", "not_now")
"""The words ``salescope coverage`` writes (CONTRACTS.md)."""
NO_ACTION = ("keep", "not_now")
"""Recommendations that leave the shop as it is: nothing for the manager to decide."""
REQUIRED = ("customer_id", "recommendation")
PLAN_COLUMNS = {
    "rep_id": "proposed_rep_id",
    "interaction_mode": "proposed_mode",
    "visits_per_month": "proposed_visits_per_month",
}
ENTITY = "recommendation"


# -- publish a coverage run ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CoverageOutput:
    """A coverage output folder, read and checked."""

    folder: Path
    customers: pl.DataFrame
    assignments: pl.DataFrame | None
    summary: dict[str, Any]
    fingerprint: str
    reps: dict[str, dict[str, Any]] = field(default_factory=dict)


def check_coverage_output(folder: Path) -> CoverageOutput:
    """Read ``folder``'s customers.csv (required columns ``customer_id``, ``recommendation``;
    every recommendation a known word), assignments.csv and summary.json when present."""
    path = folder / "customers.csv"
    if not path.is_file():
        raise InputError.single(
            str(folder), "holds no customers.csv (a `salescope coverage` output?)"
        )
    raw = path.read_bytes()
    try:
        frame = pl.read_csv(raw, infer_schema_length=10_000)
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as error:
        raise InputError.single(str(path), f"cannot be read as CSV: {error}") from None
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise InputError.single(str(path), "required column is missing", column=missing[0])
    frame = frame.with_columns(pl.col("customer_id").cast(pl.String))
    bad = frame.with_row_index("row", offset=2).filter(
        ~pl.col("recommendation").is_in(RECOMMENDATIONS) | pl.col("customer_id").is_null()
    )
    if bad.height:
        first = bad.row(0, named=True)
        raise InputError.single(
            str(path),
            f"is not a recommendation ({', '.join(RECOMMENDATIONS)}); {bad.height} such rows",
            row=int(first["row"]),
            column="recommendation",
            value=str(first["recommendation"]),
        )
    repeated = frame.filter(pl.col("customer_id").is_duplicated())
    if repeated.height:
        raise InputError.single(
            str(path), "repeats a customer", column="customer_id", value=repeated["customer_id"][0]
        )
    assignments = None
    if (folder / "assignments.csv").is_file():
        assignments = pl.read_csv(folder / "assignments.csv", infer_schema_length=10_000)
    summary: dict[str, Any] = {}
    if (folder / "summary.json").is_file():
        try:
            summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise InputError.single(str(folder / "summary.json"), "is not JSON") from None
    reps: dict[str, dict[str, Any]] = {}
    if (folder / "reps.csv").is_file():
        loads = pl.read_csv(folder / "reps.csv", infer_schema_length=10_000)
        if "rep_id" in loads.columns:
            for row in loads.iter_rows(named=True):
                reps[str(row["rep_id"])] = {
                    k: _clean(v) for k, v in row.items() if k != "rep_id" and _clean(v) is not None
                }
    return CoverageOutput(
        folder, frame, assignments, summary, hashlib.sha256(raw).hexdigest(), reps
    )


@dataclass(frozen=True, slots=True)
class PublishReport:
    run_id: int
    already: bool = False
    added: int = 0
    refreshed: int = 0
    unchanged: int = 0
    decided_kept: int = 0
    without_region: int = 0
    by_recommendation: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        if self.already:
            return [f"This coverage output is already published (run {self.run_id}): no change."]
        counts = ", ".join(f"{k} {v:,}" for k, v in sorted(self.by_recommendation.items()))
        out = [
            f"Published coverage run {self.run_id}: {self.added:,} new recommendations, "
            f"{self.refreshed:,} refreshed, {self.unchanged:,} unchanged, "
            f"{self.decided_kept:,} decided ones kept (the new proposal is shown beside them).",
            f"Recommendations: {counts}.",
        ]
        if self.without_region:
            out.append(
                f"{self.without_region:,} shops have no region (not in the customers table): "
                "only admins and directors see them."
            )
        return out


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _proposal(row: Mapping[str, Any]) -> dict[str, Any]:
    """What a run proposes for one shop: recommendation, reason, plan, evidence."""
    evidence = {
        k: _clean(v)
        for k, v in row.items()
        if k not in ("customer_id", "recommendation", "reason", *PLAN_COLUMNS)
        and _clean(v) is not None
    }
    visits = _clean(row.get("visits_per_month"))
    mode = row.get("interaction_mode")
    potential = evidence.get("potential")
    return {
        "recommendation": str(row["recommendation"]),
        "reason": str(row.get("reason") or ""),
        "proposed_rep_id": None if row.get("rep_id") is None else str(row["rep_id"]),
        "proposed_mode": mode if mode in InteractionMode.__members__.values() else None,
        "proposed_visits_per_month": float(visits) if isinstance(visits, int | float) else None,
        "potential": float(potential) if isinstance(potential, int | float) else None,
        "evidence": evidence,
    }


PLAN_FIELDS = ("recommendation", "proposed_rep_id", "proposed_mode", "proposed_visits_per_month")


def do_publish(session: Session, output: CoverageOutput, *, actor: str | None) -> PublishReport:
    """Store the run and its recommendations (see the module's docstring); idempotent: the
    same customers.csv twice changes nothing."""
    existing_run = session.scalar(
        sa.select(CoverageRun).where(CoverageRun.fingerprint == output.fingerprint)
    )
    if existing_run is not None:
        return PublishReport(existing_run.id, already=True)
    as_of = output.summary.get("as_of")
    run = CoverageRun(
        actor=actor,
        source=str(output.folder),
        fingerprint=output.fingerprint,
        as_of=dt.date.fromisoformat(as_of) if isinstance(as_of, str) else None,
        summary={k: _clean(v) for k, v in output.summary.items() if k != "counts"}
        | ({"reps": output.reps} if output.reps else {}),
        counts=dict(output.customers.group_by("recommendation").len().iter_rows()),
    )
    session.add(run)
    session.flush()
    ids = output.customers["customer_id"].to_list()
    known: dict[str, tuple[str | None, str | None]] = {}
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        for cid, region, name in session.execute(
            sa.select(Customer.customer_id, Customer.region, Customer.name).where(
                Customer.customer_id.in_(chunk)
            )
        ):
            known[cid] = (region, name)
    current = {
        r.customer_id: r
        for start in range(0, len(ids), 5000)
        for r in session.scalars(
            sa.select(CoverageRecommendation).where(
                CoverageRecommendation.customer_id.in_(ids[start : start + 5000])
            )
        )
    }
    added = refreshed = unchanged = decided = no_region = 0
    for row in output.customers.iter_rows(named=True):
        cid = str(row["customer_id"])
        proposal = _proposal(row)
        region, name = known.get(cid, (None, None))
        no_region += region is None
        actionable = proposal["recommendation"] not in NO_ACTION
        rec = current.get(cid)
        if rec is None:
            status = RecommendationStatus.PROPOSED if actionable else RecommendationStatus.NO_ACTION
            session.add(
                CoverageRecommendation(
                    customer_id=cid,
                    name=name,
                    region=region,
                    run_id=run.id,
                    status=status.value,
                    **proposal,
                )
            )
            added += 1
            continue
        status = RecommendationStatus(rec.status)
        if status.decided:
            rec.rerun_id = run.id
            rec.rerun = {**proposal, "run_id": run.id, "as_of": run.as_of}
            decided += 1
            continue
        before = {f: getattr(rec, f) for f in PLAN_FIELDS}
        after = {f: proposal[f] for f in PLAN_FIELDS}
        rec.run_id, rec.name, rec.region = run.id, name, region
        rec.reason, rec.evidence, rec.potential = (
            proposal["reason"],
            proposal["evidence"],
            proposal["potential"],
        )
        for f in PLAN_FIELDS:
            setattr(rec, f, proposal[f])
        if status is RecommendationStatus.NO_ACTION and actionable:
            rec.status = RecommendationStatus.PROPOSED.value
        elif status is RecommendationStatus.PROPOSED and not actionable:
            rec.status = RecommendationStatus.NO_ACTION.value
        if before != after or rec.status != status.value:
            refreshed += 1
            record_audit(
                session,
                actor,
                "recommendation.refreshed",
                ENTITY,
                rec.id,
                {
                    "run_id": run.id,
                    "before": before | {"status": status.value},
                    "after": after | {"status": rec.status},
                    "reason": f"coverage run {run.id} ({run.as_of or 'no date'})",
                },
            )
        else:
            unchanged += 1
    session.flush()
    record_audit(
        session,
        actor,
        "coverage.published",
        "coverage_run",
        run.id,
        {"source": run.source, "added": added, "refreshed": refreshed, "decided_kept": decided},
    )
    return PublishReport(
        run.id, False, added, refreshed, unchanged, decided, no_region, dict(run.counts)
    )


ASSUMPTIONS = {
    "as_of": "date of the analysis",
    "margin_rate": "margin rate on sales",
    "potential_method": "how potential is estimated",
    "potential_cv": "potential, cross-validated",
    "assignment": "how new shops get a rep",
    "today_service": "today's service",
    "economics": "economics",
}
"""summary.json keys shown as the assumptions of a run (when the run wrote them)."""


def run_context(session: Session, rec: CoverageRecommendation) -> dict[str, Any]:
    """The run behind a recommendation: its assumptions and the proposed rep's load."""
    run = session.get(CoverageRun, rec.run_id)
    if run is None:
        return {"run": None, "assumptions": [], "rep_load": None}
    summary = run.summary
    assumptions = [
        (label, summary[key])
        for key, label in ASSUMPTIONS.items()
        if summary.get(key) not in (None, "")
    ]
    rep_id = rec.decided_rep_id or rec.proposed_rep_id
    load = (summary.get("reps") or {}).get(rep_id) if rep_id else None
    return {"run": run, "assumptions": assumptions, "rep_load": load, "load_rep": rep_id}


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def peers(session: Session, scope: Scope, rec: CoverageRecommendation) -> dict[str, Any] | None:
    """The served shops of the same segment in the same region (the caller may see): how
    many, and their median potential, sales and share of wallet, to read the shop against."""
    segment = rec.evidence.get("segment")
    if segment is None or rec.region is None:
        return None
    rows = session.scalars(
        scoped(scope, CoverageRecommendation).where(
            CoverageRecommendation.region == rec.region, CoverageRecommendation.id != rec.id
        )
    )
    same = [
        r.evidence
        for r in rows
        if r.evidence.get("segment") == segment and r.evidence.get("status") == "served"
    ]
    if not same:
        return None

    def numbers(key: str) -> list[float]:
        return [float(e[key]) for e in same if isinstance(e.get(key), int | float)]

    return {
        "segment": rec.evidence.get("segment_name") or segment,
        "shops": len(same),
        "potential": _median(numbers("potential")),
        "revenue_12m": _median(numbers("revenue_12m")),
        "share_of_wallet": _median(numbers("share_of_wallet")),
    }


def latest_run(session: Session) -> CoverageRun | None:
    return session.scalar(sa.select(CoverageRun).order_by(CoverageRun.id.desc()).limit(1))


# -- reading ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RecommendationFilter:
    region: str | None = None
    recommendation: str | None = None
    status: str | None = None
    search: str | None = None
    open_only: bool = False
    sort: str = "id"  # id | potential | customer | status


SORTS = {
    "id": (CoverageRecommendation.id,),
    "potential": (
        CoverageRecommendation.potential.desc().nulls_last(),
        CoverageRecommendation.id,
    ),
    "customer": (CoverageRecommendation.customer_id,),
    "status": (CoverageRecommendation.status, CoverageRecommendation.id),
}


def encode_cursor(value: int) -> str:
    return base64.urlsafe_b64encode(f"o:{value}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The offset a cursor stands for (0 without one); ``FieldError`` if it is not ours."""
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, number = text.partition(":")
        offset = int(number)
    except (ValueError, UnicodeDecodeError):
        raise FieldError("not a cursor this API gave", "cursor") from None
    if kind != "o" or not 0 <= offset < 2**31:
        raise FieldError("not a cursor this API gave", "cursor")
    return offset


def _filtered(scope: Scope, f: RecommendationFilter) -> sa.Select[Any]:
    query = scoped(scope, CoverageRecommendation)
    if f.region:
        scope.require_region(f.region)
        query = query.where(CoverageRecommendation.region == f.region)
    if f.recommendation:
        if f.recommendation not in RECOMMENDATIONS:
            raise FieldError(f"unknown recommendation {f.recommendation!r}", "recommendation")
        query = query.where(CoverageRecommendation.recommendation == f.recommendation)
    if f.status:
        if f.status not in RecommendationStatus.__members__.values():
            raise FieldError(f"unknown status {f.status!r}", "status")
        query = query.where(CoverageRecommendation.status == f.status)
    elif f.open_only:
        query = query.where(
            CoverageRecommendation.status.in_([s.value for s in RecommendationStatus if s.open])
        )
    if f.search:
        like = f"%{f.search.strip().lower()}%"
        query = query.where(
            sa.or_(
                sa.func.lower(CoverageRecommendation.customer_id).like(like),
                sa.func.lower(CoverageRecommendation.name).like(like),
            )
        )
    return query


def list_recommendations(
    session: Session,
    scope: Scope,
    f: RecommendationFilter,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[CoverageRecommendation], str | None]:
    """A page of the recommendations ``scope`` may see, and the cursor of the next page."""
    scope.require(Permission.RECOMMENDATIONS_READ)
    if not 1 <= limit <= 500:
        raise FieldError("limit must be between 1 and 500", "limit")
    if f.sort not in SORTS:
        raise FieldError(f"unknown sort {f.sort!r}: one of {', '.join(SORTS)}", "sort")
    offset = decode_cursor(cursor)
    rows = list(
        session.scalars(
            _filtered(scope, f).order_by(*SORTS[f.sort]).offset(offset).limit(limit + 1)
        )
    )
    more = len(rows) > limit
    return rows[:limit], encode_cursor(offset + limit) if more else None


def count_by(
    session: Session, scope: Scope, f: RecommendationFilter, column: str
) -> dict[str, int]:
    """How many visible recommendations per value of ``column`` (status, recommendation)."""
    scope.require(Permission.RECOMMENDATIONS_READ)
    sub = _filtered(scope, f).subquery()
    rows = session.execute(sa.select(sub.c[column], sa.func.count()).group_by(sub.c[column]))
    return {str(k): int(n) for k, n in rows if k is not None}


def get_recommendation(session: Session, scope: Scope, rec_id: int) -> CoverageRecommendation:
    scope.require(Permission.RECOMMENDATIONS_READ)
    return get_visible(
        session, scope, CoverageRecommendation, rec_id, what=f"recommendation {rec_id}"
    )


def audit_trail(session: Session, scope: Scope, rec_id: int) -> list[AuditEvent]:
    """The audit events of a recommendation, oldest first (after an access check)."""
    get_recommendation(session, scope, rec_id)
    return list(
        session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.entity_type == ENTITY, AuditEvent.entity_id == str(rec_id))
            .order_by(AuditEvent.at, AuditEvent.id)
        )
    )


def recent_audit(session: Session, scope: Scope, *, limit: int = 100) -> list[AuditEvent]:
    """The latest events about recommendations ``scope`` may see, newest first."""
    scope.require(Permission.AUDIT_READ)
    return list(
        session.scalars(
            sa.select(AuditEvent)
            .where(visible(scope, AuditEvent))
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .limit(limit)
        )
    )


def region_reps(session: Session, scope: Scope, region: str | None) -> list[Rep]:
    """The reps and merchandisers of ``region`` the caller may see (choices in forms)."""
    query = scoped(scope, Rep).order_by(Rep.rep_id)
    if region is not None:
        query = query.where(Rep.region == region)
    return list(session.scalars(query))


# -- deciding --------------------------------------------------------------------------------
def flush_or_conflict(session: Session, what: str) -> None:
    """Flush; a row changed by a concurrent transaction (the version did not match, or
    SQLite's snapshot is stale) is a ``StaleError``."""
    try:
        session.flush()
    except StaleDataError:
        raise StaleError(
            f"{what} was changed by someone else at the same time: reload it"
        ) from None
    except OperationalError as error:
        if "locked" not in str(error.orig):
            raise
        raise StaleError(
            f"{what} was changed by someone else at the same time: reload it"
        ) from None


@dataclass(frozen=True, slots=True)
class DecisionInput:
    action: DecisionAction
    reason: str | None = None
    rep_id: str | None = None
    visits_per_month: float | None = None
    due_date: dt.date | None = None
    interaction_mode: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """A decision checked against the recommendation's state and the caller's rights."""

    rec: CoverageRecommendation
    action: DecisionAction
    next_status: RecommendationStatus
    reason: str | None
    rep: Rep | None
    visits_per_month: float | None
    mode: str | None
    due_date: dt.date | None


MAX_TEXT = 2000


def _region_rep(session: Session, rec: CoverageRecommendation, rep_id: str, *, field: str) -> Rep:
    rep = session.scalar(sa.select(Rep).where(Rep.rep_id == rep_id))
    if rep is None:
        raise FieldError(f"unknown rep {rep_id!r}", field)
    if rec.region is not None and rep.region is not None and rep.region != rec.region:
        raise FieldError(f"rep {rep_id!r} works in {rep.region}, not in {rec.region}", field)
    return rep


def check_decision(
    session: Session,
    scope: Scope,
    rec_id: int,
    request: DecisionInput,
    *,
    expected_version: int | None = None,
    today: dt.date | None = None,
) -> Decision:
    """Check a manager's decision: right to decide, access to the recommendation, the version
    the caller read (``If-Match``), the state machine, and the values the action needs."""
    scope.require(Permission.RECOMMENDATIONS_DECIDE)
    rec = get_visible(
        session, scope, CoverageRecommendation, rec_id, what=f"recommendation {rec_id}"
    )
    if expected_version is not None and expected_version != rec.version:
        raise StaleError(
            f"recommendation {rec_id} changed since you read it (version {rec.version} now, "
            f"you had {expected_version}): reload it and decide again"
        )
    next_status = transition(RecommendationStatus(rec.status), request.action)
    today = today or dt.date.today()
    reason = (request.reason or "").strip() or None
    if reason is not None and len(reason) > MAX_TEXT:
        raise FieldError(f"the reason is longer than {MAX_TEXT} characters", "reason")
    visits = request.visits_per_month
    if (visits is not None and not (0 <= visits <= 31)) or (
        visits is not None and math.isnan(visits)
    ):
        raise FieldError("visits per month must be between 0 and 31", "visits_per_month")
    mode = request.interaction_mode or None
    if mode is not None and mode not in InteractionMode.__members__.values():
        modes = ", ".join(m.value for m in InteractionMode)
        raise FieldError(f"unknown interaction mode {mode!r}: one of {modes}", "interaction_mode")
    rep: Rep | None = None
    due: dt.date | None = None
    action = request.action
    if action is DecisionAction.REJECT:
        if reason is None:
            raise FieldError("say why the recommendation is rejected", "reason")
    elif action is DecisionAction.REQUEST_VERIFICATION:
        if not request.rep_id:
            raise FieldError("choose the rep or merchandiser who verifies", "rep_id")
        rep = _region_rep(session, rec, request.rep_id, field="rep_id")
        if rep.role not in (None, RepRole.REP.value, RepRole.MERCHANDISER.value):
            raise FieldError(
                f"{rep.rep_id} is a {rep.role}: field verification needs a rep or a merchandiser",
                "rep_id",
            )
        if request.due_date is None:
            raise FieldError("give a due date", "due_date")
        if not today <= request.due_date <= today + dt.timedelta(days=366):
            raise FieldError("the due date must be between today and a year from now", "due_date")
        due = request.due_date
    elif action is DecisionAction.CHANGE_MODE:
        if mode is None:
            raise FieldError("choose the new interaction mode", "interaction_mode")
        if request.rep_id:
            rep = _region_rep(session, rec, request.rep_id, field="rep_id")
    elif rec.recommendation == "drop":
        rep, visits, mode = None, 0.0, None
    else:
        rep_id = request.rep_id or rec.proposed_rep_id
        if rep_id:
            rep = _region_rep(session, rec, rep_id, field="rep_id")
        elif rec.recommendation == "add" and (mode or rec.proposed_mode) in (None, "field"):
            raise FieldError("choose the rep who takes this shop", "rep_id")
        visits = visits if visits is not None else rec.proposed_visits_per_month
        mode = mode or rec.proposed_mode
    return Decision(rec, action, next_status, reason, rep, visits, mode, due)


def _snapshot(rec: CoverageRecommendation) -> dict[str, Any]:
    return {
        "status": rec.status,
        "rep_id": rec.decided_rep_id,
        "interaction_mode": rec.decided_mode,
        "visits_per_month": rec.decided_visits_per_month,
        "version": rec.version,
    }


def do_decision(
    session: Session, scope: Scope, decision: Decision, *, today: dt.date | None = None
) -> CoverageRecommendation:
    """Apply a checked decision: the recommendation's new status and plan, the rep's task
    (request verification) or its cancellation, the customer's coverage (accept, change
    mode), and the audit record. ``StaleError`` if someone else changed it meanwhile."""
    rec, action = decision.rec, decision.action
    before = _snapshot(rec)
    now = utcnow()
    customer_changes: dict[str, Any] = {}
    visit_id: int | None = None
    if action is DecisionAction.REQUEST_VERIFICATION:
        assert decision.rep is not None
        visit = Visit(
            customer_id=rec.customer_id,
            region=rec.region,
            recommendation_id=rec.id,
            rep_id=decision.rep.rep_id,
            purpose=VisitPurpose.VERIFICATION.value,
            status=VisitStatus.REQUESTED.value,
            due_date=decision.due_date,
            note=decision.reason,
            requested_by=scope.actor,
            report={},
        )
        session.add(visit)
        session.flush()
        visit_id = visit.id
    else:
        with session.no_autoflush:  # one UPDATE of the recommendation: one version step
            cancelled = _cancel_open_visits(session, rec.id)
            if cancelled:
                customer_changes["visits_cancelled"] = cancelled
            rec.decided_by, rec.decided_at = scope.actor, now
            rec.decision_reason = decision.reason
            if action is not DecisionAction.REJECT:
                rec.decided_rep_id = decision.rep.rep_id if decision.rep else None
                rec.decided_mode = decision.mode
                rec.decided_visits_per_month = decision.visits_per_month
                customer_changes |= _apply_to_customer(session, rec, action)
    rec.status = decision.next_status.value
    flush_or_conflict(session, f"recommendation {rec.id}")
    details: dict[str, Any] = {
        "action": action.value,
        "reason": decision.reason,
        "before": before,
        "after": _snapshot(rec),
    }
    if visit_id is not None:
        details |= {
            "visit_id": visit_id,
            "assigned_to": decision.rep.rep_id if decision.rep else None,
            "due_date": decision.due_date,
        }
    if customer_changes:
        details["customer"] = customer_changes
    record_audit(session, scope.actor, f"recommendation.{action.value}", ENTITY, rec.id, details)
    return rec


def _cancel_open_visits(session: Session, rec_id: int) -> list[int]:
    visits = list(
        session.scalars(
            sa.select(Visit).where(
                Visit.recommendation_id == rec_id,
                Visit.status.in_([s.value for s in VisitStatus if s.open]),
            )
        )
    )
    for visit in visits:
        visit.status = VisitStatus.CANCELLED.value
    return [v.id for v in visits]


def _apply_to_customer(
    session: Session, rec: CoverageRecommendation, action: DecisionAction
) -> dict[str, Any]:
    """Put the decided plan on the customer row (the operational customers table)."""
    customer = session.scalar(sa.select(Customer).where(Customer.customer_id == rec.customer_id))
    if customer is None:
        return {}
    before = {
        "status": customer.status,
        "rep_id": customer.rep_id,
        "interaction_mode": customer.interaction_mode,
        "visits_per_month": customer.visits_per_month,
    }
    if action is DecisionAction.ACCEPT and rec.recommendation == "drop":
        customer.status = CustomerStatus.PROSPECT.value
        customer.rep_id = None
        customer.visits_per_month = 0.0
    else:
        if action is DecisionAction.ACCEPT and rec.recommendation == "add":
            customer.status = CustomerStatus.SERVED.value
        if rec.decided_rep_id is not None:
            customer.rep_id = rec.decided_rep_id
        if rec.decided_mode is not None:
            customer.interaction_mode = rec.decided_mode
        if rec.decided_visits_per_month is not None:
            customer.visits_per_month = rec.decided_visits_per_month
    after = {
        "status": customer.status,
        "rep_id": customer.rep_id,
        "interaction_mode": customer.interaction_mode,
        "visits_per_month": customer.visits_per_month,
    }
    return {"before": before, "after": after} if before != after else {}


def decide(
    session: Session,
    scope: Scope,
    rec_id: int,
    request: DecisionInput,
    *,
    expected_version: int | None = None,
    today: dt.date | None = None,
) -> CoverageRecommendation:
    """Check and apply one decision (the use case behind the API and the pages)."""
    decision = check_decision(
        session, scope, rec_id, request, expected_version=expected_version, today=today
    )
    return do_decision(session, scope, decision, today=today)


@dataclass(frozen=True, slots=True)
class BulkResult:
    done: list[int]
    refused: dict[int, str]


def decide_many(
    session: Session, scope: Scope, rec_ids: Sequence[int], request: DecisionInput
) -> BulkResult:
    """The same decision on several recommendations; each one that is refused (state, rep,
    access) is reported and leaves the others done. A caller who may decide nothing (a rep,
    a shop, the read-only director) is refused as a whole."""
    from salescope.domain.errors import SalescopeError

    scope.require(Permission.RECOMMENDATIONS_DECIDE)
    done: list[int] = []
    refused: dict[int, str] = {}
    for rec_id in dict.fromkeys(rec_ids):
        try:
            with session.begin_nested():
                decide(session, scope, rec_id, request)
            done.append(rec_id)
        except SalescopeError as error:
            refused[rec_id] = str(error)
    return BulkResult(done, refused)


def mark_visit_reported(session: Session, rec: CoverageRecommendation, *, actor: str) -> None:
    """The state change a filed verification report makes (called by the visits service)."""
    before = _snapshot(rec)
    rec.status = transition(RecommendationStatus(rec.status), REPORT).value
    session.flush()
    record_audit(
        session,
        actor,
        "recommendation.visit_reported",
        ENTITY,
        rec.id,
        {"before": before, "after": _snapshot(rec)},
    )
