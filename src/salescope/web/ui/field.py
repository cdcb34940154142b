"""The rep's pages (phone first): the task list, the visit report with its shelf grid, a
draft saved at every change, photos; and the photos' files for whoever may see them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, UploadFile
from fastapi.responses import FileResponse
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from salescope.domain.errors import FieldError, SalescopeError
from salescope.services import visits as service
from salescope.services.access import Permission
from salescope.web.deps import PageScope, SessionDep, SettingsDep
from salescope.web.errors import classify
from salescope.web.ui.render import is_htmx, render

router = APIRouter()

MAX_ROWS = 100


@router.get("/tasks")
def tasks(
    request: Request,
    session: SessionDep,
    scope: PageScope,
    show: Annotated[str, Query(max_length=8)] = "open",
) -> Response:
    rows, _ = service.list_visits(session, scope, open_only=show != "all", limit=200)
    return render(request, "tasks.html", {"visits": rows, "show": show}, scope=scope)


def report_from_form(form: FormData) -> service.VisitReport:
    """The visit report of the form's fields (``shelf-<i>-<field>`` rows)."""

    def text(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    shelf: list[dict[str, Any]] = []
    for i in range(MAX_ROWS):
        product = text(f"shelf-{i}-product_id")
        if not product:
            if f"shelf-{i}-product_id" not in form:
                break
            continue
        price = text(f"shelf-{i}-price").replace(",", ".")
        facings = text(f"shelf-{i}-facings")
        shelf.append(
            {
                "product_id": product,
                "name": text(f"shelf-{i}-name"),
                "own": text(f"shelf-{i}-own") == "1",
                "present": text(f"shelf-{i}-present") in ("1", "on"),
                "facings": facings or 0,
                "price": price or None,
            }
        )
    raw = {
        "visit_date": text("visit_date") or None,
        "readiness": text("readiness") or None,
        "interview_notes": text("interview_notes"),
        "notes": text("notes"),
        "shelf": shelf,
    }
    try:
        return service.VisitReport.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise FieldError(f"{where}: {first['msg']}", where) from None


def _visit_context(session: Any, scope: Any, settings: Any, visit_id: int) -> dict[str, Any]:
    visit = service.get_visit(session, scope, visit_id)
    return {
        "visit": visit,
        "shelf": service.shelf_template(session, settings, visit),
        "report": visit.report,
        "editable": scope.may(Permission.VISITS_REPORT)
        and visit.status in ("requested", "draft")
        and (not scope.role.field or visit.rep_id == scope.rep_id),
        "today": dt.date.today(),
    }


@router.get("/visits/{visit_id}")
def visit_page(
    visit_id: int, request: Request, session: SessionDep, scope: PageScope, settings: SettingsDep
) -> Response:
    return render(
        request, "visit.html", _visit_context(session, scope, settings, visit_id), scope=scope
    )


@router.post("/visits/{visit_id}/draft")
async def save_draft(
    visit_id: int, request: Request, session: SessionDep, scope: PageScope
) -> Response:
    """Autosave (htmx, on every change): answers the 'saved' line."""
    form = await request.form()
    version = form.get("version")
    report = report_from_form(form)
    visit = service.save_draft(
        session,
        scope,
        visit_id,
        report,
        expected_version=int(version) if isinstance(version, str) and version.isdigit() else None,
    )
    return render(
        request,
        "visit.html",
        {"visit": visit, "saved_at": dt.datetime.now().strftime("%H:%M:%S")},
        scope=scope,
        block="saved",
    )


@router.post("/visits/{visit_id}/report")
async def file_report(
    visit_id: int, request: Request, session: SessionDep, scope: PageScope, settings: SettingsDep
) -> Response:
    form = await request.form()
    version = form.get("version")
    try:
        with session.begin_nested():
            report = report_from_form(form)
            service.submit_report(
                session,
                scope,
                visit_id,
                report,
                expected_version=int(version)
                if isinstance(version, str) and version.isdigit()
                else None,
            )
    except SalescopeError as error:
        status, _ = classify(error)
        if status in (403, 404):
            raise
        context = _visit_context(session, scope, settings, visit_id) | {"message": str(error)}
        return render(request, "visit.html", context, scope=scope, status=status)
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": "/tasks?filed=1"})
    return RedirectResponse("/tasks?filed=1", status_code=303)


@router.post("/visits/{visit_id}/photos")
async def upload_photo(
    visit_id: int,
    request: Request,
    photo: UploadFile,
    session: SessionDep,
    scope: PageScope,
    settings: SettingsDep,
) -> Response:
    from salescope.web.api.visits import read_upload

    message = None
    status = 200
    try:
        with session.begin_nested():
            data = await read_upload(photo, settings.upload_max_bytes)
            service.add_photo(session, scope, settings, visit_id, data, photo.filename)
    except SalescopeError as error:
        status, _ = classify(error)
        if status in (403, 404):
            raise
        message = str(error)
    context = _visit_context(session, scope, settings, visit_id) | {"photo_message": message}
    if is_htmx(request):
        return render(request, "visit.html", context, scope=scope, block="photos", status=status)
    return render(request, "visit.html", context, scope=scope, status=status)


@router.get("/photos/{photo_id}")
def photo(
    photo_id: int,
    session: SessionDep,
    scope: PageScope,
    settings: SettingsDep,
    thumb: bool = False,
) -> FileResponse:
    found = service.photo_file(session, scope, settings, photo_id, thumb=thumb)
    return FileResponse(
        found.path, media_type=found.content_type, content_disposition_type="inline"
    )
