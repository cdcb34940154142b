"""Reading the recommendations within the caller's reach: lists with filters and cursors,
one recommendation, its run, peers and audit trail, the region's reps."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from salescope.domain.errors import FieldError
from salescope.domain.statuses import (
    RecommendationStatus,
)
from salescope.services.access import Permission, Scope, get_visible, scoped, visible
from salescope.services.recommendations.words import ENTITY, RECOMMENDATIONS
from salescope.storage.models import (
    AuditEvent,
    CoverageRecommendation,
    CoverageRun,
    Rep,
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
