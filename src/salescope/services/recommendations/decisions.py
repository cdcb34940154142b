"""Deciding on recommendations: accept, reject, request verification, change the interaction
mode, under the state machine of ``domain.lifecycle`` with optimistic locking and an audit
record per step."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from salescope.domain.errors import FieldError, StaleError
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
from salescope.services.access import Permission, Scope, get_visible
from salescope.services.recommendations.words import ENTITY
from salescope.storage.models import (
    CoverageRecommendation,
    Customer,
    Rep,
    Visit,
    utcnow,
)
from salescope.storage.repositories import record_audit


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
    reason, visits, mode = _checked_values(request)
    plan = _plan(session, rec, request, reason, visits, mode, today or dt.date.today())
    return Decision(rec, request.action, next_status, reason, *plan)


def _checked_values(request: DecisionInput) -> tuple[str | None, float | None, str | None]:
    """The request's reason, visits a month and mode, each checked whatever the action."""
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
    return reason, visits, mode


Plan = tuple[Rep | None, float | None, str | None, dt.date | None]
"""What a decision sets: the rep, visits a month, mode and the verification's due date."""


def _plan(
    session: Session,
    rec: CoverageRecommendation,
    request: DecisionInput,
    reason: str | None,
    visits: float | None,
    mode: str | None,
    today: dt.date,
) -> Plan:
    """What the action needs, checked: a reason to reject, a rep and a due date to verify, a
    mode to change to, a rep for a new shop served in the field."""
    action = request.action
    if action is DecisionAction.REJECT:
        if reason is None:
            raise FieldError("say why the recommendation is rejected", "reason")
        return None, visits, mode, None
    if action is DecisionAction.REQUEST_VERIFICATION:
        return _verifier(session, rec, request, today), visits, mode, request.due_date
    if action is DecisionAction.CHANGE_MODE:
        if mode is None:
            raise FieldError("choose the new interaction mode", "interaction_mode")
        chosen = (
            _region_rep(session, rec, request.rep_id, field="rep_id") if request.rep_id else None
        )
        return chosen, visits, mode, None
    if rec.recommendation == "drop":
        return None, 0.0, None, None
    rep: Rep | None = None
    rep_id = request.rep_id or rec.proposed_rep_id
    if rep_id:
        rep = _region_rep(session, rec, rep_id, field="rep_id")
    elif rec.recommendation == "add" and (mode or rec.proposed_mode) in (None, "field"):
        raise FieldError("choose the rep who takes this shop", "rep_id")
    visits = visits if visits is not None else rec.proposed_visits_per_month
    return rep, visits, mode or rec.proposed_mode, None


def _verifier(
    session: Session, rec: CoverageRecommendation, request: DecisionInput, today: dt.date
) -> Rep:
    """The rep or merchandiser of the region who verifies, by a due date within a year."""
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
    return rep


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
