"""Coverage recommendations: list, one with its audit trail, decide (``If-Match``: version)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response

from salescope.domain.errors import FieldError
from salescope.domain.statuses import DecisionAction
from salescope.services import recommendations as service
from salescope.web.api.schemas import (
    ERRORS,
    AuditOut,
    DecisionIn,
    ErrorBody,
    RecommendationDetail,
    RecommendationOut,
    RecommendationPage,
)
from salescope.web.deps import ApiScope, SessionDep

IdPath = Annotated[int, Path(ge=1, le=2**31 - 1)]

router = APIRouter(tags=["recommendations"], responses=ERRORS)


def parse_if_match(value: str | None) -> int | None:
    """The version in an ``If-Match`` header: ``3``, ``"3"`` or ``W/"3"``; None if absent."""
    if value is None or value.strip() in ("", "*"):
        return None
    match = re.fullmatch(r'\s*(?:W/)?"?(\d{1,9})"?\s*', value)
    if match is None:
        raise FieldError("If-Match must be the version read (a number)", "If-Match")
    return int(match.group(1))


@router.get(
    "/recommendations", response_model=RecommendationPage, summary="Recommendations in reach"
)
def list_recommendations(
    session: SessionDep,
    scope: ApiScope,
    region: Annotated[str | None, Query(max_length=64)] = None,
    recommendation: Annotated[str | None, Query(max_length=16)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> RecommendationPage:
    rows, next_cursor = service.list_recommendations(
        session,
        scope,
        service.RecommendationFilter(region=region, recommendation=recommendation, status=status),
        limit=limit,
        cursor=cursor,
    )
    return RecommendationPage(
        items=[RecommendationOut.of(r) for r in rows], next_cursor=next_cursor
    )


@router.get(
    "/recommendations/{rec_id}",
    response_model=RecommendationDetail,
    summary="One recommendation with its audit trail",
)
def get_recommendation(
    rec_id: IdPath, session: SessionDep, scope: ApiScope, response: Response
) -> RecommendationDetail:
    rec = service.get_recommendation(session, scope, rec_id)
    trail = service.audit_trail(session, scope, rec_id)
    response.headers["ETag"] = f'"{rec.version}"'
    return RecommendationDetail(
        **RecommendationOut.of(rec).model_dump(), audit=[AuditOut.of(e) for e in trail]
    )


@router.post(
    "/recommendations/{rec_id}/decision",
    response_model=RecommendationOut,
    summary="Accept, reject, request verification or change the mode",
    responses={409: {"model": ErrorBody, "description": "State or version conflict"}},
)
def decide(
    rec_id: IdPath,
    body: DecisionIn,
    session: SessionDep,
    scope: ApiScope,
    response: Response,
    if_match: Annotated[str | None, Header(max_length=40)] = None,
) -> RecommendationOut:
    rec = service.decide(
        session,
        scope,
        rec_id,
        service.DecisionInput(
            action=DecisionAction(body.action),
            reason=body.reason,
            rep_id=body.rep_id,
            visits_per_month=body.visits_per_month,
            due_date=body.due_date,
            interaction_mode=body.interaction_mode,
        ),
        expected_version=parse_if_match(if_match),
    )
    response.headers["ETag"] = f'"{rec.version}"'
    return RecommendationOut.of(rec)
