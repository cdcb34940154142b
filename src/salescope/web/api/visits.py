"""Visits: a rep's tasks, one visit, its report (draft or filed), its photos."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, UploadFile
from fastapi.responses import FileResponse

from salescope.domain.errors import FieldError
from salescope.services import visits as service
from salescope.web.api.recommendations import parse_if_match
from salescope.web.api.schemas import ERRORS, ErrorBody, PhotoOut, ReportIn, VisitOut, VisitPage
from salescope.web.deps import ApiScope, SessionDep, SettingsDep

IdPath = Annotated[int, Path(ge=1, le=2**31 - 1)]

router = APIRouter(tags=["visits"], responses=ERRORS)


@router.get("/visits", response_model=VisitPage, summary="Visits in reach (a rep: its own)")
def list_visits(
    session: SessionDep,
    scope: ApiScope,
    rep_id: Annotated[str | None, Query(max_length=64)] = None,
    date: dt.date | None = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> VisitPage:
    rows, next_cursor = service.list_visits(
        session, scope, rep_id=rep_id, date=date, status=status, limit=limit, cursor=cursor
    )
    return VisitPage(items=[VisitOut.of(v) for v in rows], next_cursor=next_cursor)


@router.get("/visits/{visit_id}", response_model=VisitOut, summary="One visit and its report")
def get_visit(visit_id: int, session: SessionDep, scope: ApiScope) -> VisitOut:
    return VisitOut.of(service.get_visit(session, scope, visit_id))


@router.post(
    "/visits/{visit_id}/report",
    response_model=VisitOut,
    summary="Save a draft or file the visit report",
    responses={409: {"model": ErrorBody, "description": "Already filed, or changed meanwhile"}},
)
def report(
    visit_id: IdPath,
    body: ReportIn,
    session: SessionDep,
    scope: ApiScope,
    if_match: Annotated[str | None, Header(max_length=40)] = None,
) -> VisitOut:
    data = service.VisitReport.model_validate(body.model_dump(exclude={"draft"}))
    version = parse_if_match(if_match)
    if body.draft:
        visit = service.save_draft(session, scope, visit_id, data, expected_version=version)
    else:
        visit = service.submit_report(session, scope, visit_id, data, expected_version=version)
    return VisitOut.of(visit)


@router.post(
    "/visits/{visit_id}/photos",
    response_model=PhotoOut,
    status_code=201,
    summary="Add a photo (JPEG, PNG or WebP) to an open visit",
)
async def add_photo(
    visit_id: IdPath,
    photo: UploadFile,
    request: Request,
    session: SessionDep,
    scope: ApiScope,
    settings: SettingsDep,
) -> PhotoOut:
    data = await read_upload(photo, settings.upload_max_bytes)
    row = service.add_photo(session, scope, settings, visit_id, data, photo.filename)
    return PhotoOut(
        id=row.id,
        content_type=row.content_type,
        width=row.width,
        height=row.height,
        name=row.original_name,
        url=f"/api/v1/photos/{row.id}",
    )


async def read_upload(upload: UploadFile, limit: int) -> bytes:
    """The upload's bytes, refusing it as soon as it passes ``limit``."""
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise FieldError(f"the photo is larger than {limit / 1e6:.1f} MB", "photo")
    return data


@router.get(
    "/photos/{photo_id}",
    response_class=FileResponse,
    summary="A photo of a visit the caller may see",
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}},
)
def photo(
    photo_id: IdPath,
    session: SessionDep,
    scope: ApiScope,
    settings: SettingsDep,
    thumb: bool = False,
) -> FileResponse:
    found = service.photo_file(session, scope, settings, photo_id, thumb=thumb)
    return FileResponse(found.path, media_type=found.content_type)
