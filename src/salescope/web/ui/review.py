"""The manager's pages: the region's dashboard (map, KPI tiles, segments, the queue), a
recommendation with its evidence, actions and audit trail, bulk accept, the audit page."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import JSONResponse
from starlette.responses import RedirectResponse, Response

from salescope.domain.errors import FieldError, SalescopeError
from salescope.domain.lifecycle import allowed_actions
from salescope.domain.statuses import DecisionAction, RecommendationStatus
from salescope.services import dashboard
from salescope.services import recommendations as service
from salescope.services import visits as visit_service
from salescope.services.access import Permission, Scope
from salescope.web.deps import PageScope, SessionDep
from salescope.web.errors import classify
from salescope.web.ui.auth import home_of
from salescope.web.ui.render import is_htmx, render

router = APIRouter()

PAGE = 50


@router.get("/")
def home(scope: PageScope) -> Response:
    return RedirectResponse(home_of(scope.role), status_code=303)


@router.get("/account")
def account(request: Request, scope: PageScope) -> Response:
    return render(request, "account.html", {}, scope=scope)


def _filters(
    region: str | None, recommendation: str | None, status: str | None, q: str | None, sort: str
) -> service.RecommendationFilter:
    return service.RecommendationFilter(
        region=region or None,
        recommendation=recommendation or None,
        status=status or None,
        search=(q or "").strip()[:100] or None,
        open_only=not status,
        sort=sort or "potential",
    )


def _region(session: Any, scope: Scope, region: str | None) -> tuple[str | None, list[str]]:
    regions = dashboard.regions_of(session, scope)
    if region:
        scope.require_region(region)
        return region, regions
    if scope.role.all_regions:
        return None, regions
    return (regions[0] if regions else None), regions


@router.get("/dashboard")
def dashboard_page(
    request: Request,
    session: SessionDep,
    scope: PageScope,
    region: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    scope.require(Permission.RECOMMENDATIONS_READ)
    chosen, regions = _region(session, scope, region)
    kpis, segments = dashboard.region_kpis(session, scope, chosen)
    f = _filters(chosen, None, None, None, "potential")
    rows, cursor = service.list_recommendations(session, scope, f, limit=PAGE)
    return render(
        request,
        "dashboard.html",
        {
            "region": chosen,
            "regions": regions,
            "kpis": kpis,
            "segments": segments,
            "rows": rows,
            "cursor": cursor,
            "f": f,
            "run": service.latest_run(session),
            "statuses": list(RecommendationStatus),
            "words": service.RECOMMENDATIONS,
            "reps": service.region_reps(session, scope, chosen),
        },
        scope=scope,
    )


@router.get("/queue")
def queue(
    request: Request,
    session: SessionDep,
    scope: PageScope,
    region: Annotated[str | None, Query(max_length=64)] = None,
    recommendation: Annotated[str | None, Query(max_length=16)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    sort: Annotated[str, Query(max_length=16)] = "potential",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The queue's rows (htmx: the rows block; else the dashboard with these filters)."""
    f = _filters(region, recommendation, status, q, sort)
    rows, next_cursor = service.list_recommendations(session, scope, f, limit=PAGE, cursor=cursor)
    context = {"rows": rows, "cursor": next_cursor, "f": f, "region": f.region}
    if is_htmx(request):
        return render(request, "dashboard.html", context, scope=scope, block="rows")
    return RedirectResponse(f"/dashboard?region={f.region or ''}", status_code=303)


@router.get("/map-data")
def map_data(
    session: SessionDep,
    scope: PageScope,
    region: Annotated[str | None, Query(max_length=64)] = None,
) -> JSONResponse:
    return JSONResponse(dashboard.map_data(session, scope, region or None))


def _detail(session: Any, scope: Scope, rec_id: int) -> dict[str, Any]:
    rec = service.get_recommendation(session, scope, rec_id)
    visits = visit_service.visits_of_recommendation(session, scope, rec_id)
    return {
        "rec": rec,
        "trail": service.audit_trail(session, scope, rec_id),
        "actions": allowed_actions(RecommendationStatus(rec.status))
        if scope.may(Permission.RECOMMENDATIONS_DECIDE)
        else [],
        "reps": service.region_reps(session, scope, rec.region),
        "visits": visits,
        "summaries": {v.id: visit_service.report_summary(v) for v in visits},
        "today": dt.date.today(),
        "peers": service.peers(session, scope, rec),
    } | service.run_context(session, rec)


@router.get("/recommendations/{rec_id}")
def recommendation_page(
    rec_id: int, request: Request, session: SessionDep, scope: PageScope
) -> Response:
    return render(request, "recommendation.html", _detail(session, scope, rec_id), scope=scope)


def _number(value: str, field: str) -> float | None:
    if not value.strip():
        return None
    try:
        return float(value.replace(",", "."))
    except ValueError:
        raise FieldError(f"{value!r} is not a number", field) from None


def _date(value: str, field: str) -> dt.date | None:
    if not value.strip():
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise FieldError(f"{value!r} is not a date (YYYY-MM-DD)", field) from None


@router.post("/recommendations/{rec_id}/decision")
def decision(
    rec_id: int,
    request: Request,
    session: SessionDep,
    scope: PageScope,
    action: Annotated[str, Form(max_length=32)],
    version: Annotated[int, Form()],
    reason: Annotated[str, Form(max_length=2000)] = "",
    rep_id: Annotated[str, Form(max_length=64)] = "",
    visits_per_month: Annotated[str, Form(max_length=16)] = "",
    due_date: Annotated[str, Form(max_length=16)] = "",
    interaction_mode: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Decide from the recommendation's page; a refusal is shown in the panel, nothing
    changes."""
    try:
        try:
            kind = DecisionAction(action)
        except ValueError:
            raise FieldError(f"unknown action {action!r}", "action") from None
        with session.begin_nested():
            service.decide(
                session,
                scope,
                rec_id,
                service.DecisionInput(
                    action=kind,
                    reason=reason,
                    rep_id=rep_id or None,
                    visits_per_month=_number(visits_per_month, "visits_per_month"),
                    due_date=_date(due_date, "due_date"),
                    interaction_mode=interaction_mode or None,
                ),
                expected_version=version,
            )
        message, status = None, 200
    except SalescopeError as error:
        status, _ = classify(error)
        if status in (403, 404):
            raise
        message = str(error)
    context = _detail(session, scope, rec_id) | {"message": message}
    if is_htmx(request):
        return render(
            request, "recommendation.html", context, scope=scope, block="panel", status=status
        )
    return render(request, "recommendation.html", context, scope=scope, status=status)


@router.post("/recommendations/bulk")
async def bulk(request: Request, session: SessionDep, scope: PageScope) -> Response:
    """Accept the ticked recommendations with their proposed plans."""
    form = await request.form()
    ids: list[int] = []
    for value in form.getlist("ids"):
        if isinstance(value, str) and value.isdigit():
            ids.append(int(value))
    if not ids:
        raise FieldError("tick at least one recommendation", "ids")
    result = service.decide_many(
        session, scope, ids[:200], service.DecisionInput(DecisionAction.ACCEPT)
    )
    return render(
        request,
        "bulk.html",
        {"result": result},
        scope=scope,
        block="result" if is_htmx(request) else None,
    )


@router.get("/audit")
def audit_page(request: Request, session: SessionDep, scope: PageScope) -> Response:
    events = service.recent_audit(session, scope, limit=200)
    return render(request, "audit.html", {"events": events}, scope=scope)
