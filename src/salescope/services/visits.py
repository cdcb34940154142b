"""Use cases of field verification: a rep's tasks, the visit report (a draft saved at every
step, then filed), its photos.

The report is structured: the shelf (own and competitors' products present, facings, price),
the store manager's interview (readiness 1–5, notes) and free notes. Filing it moves the
recommendation it verifies to ``visit_reported`` and writes the audit record.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from salescope.config import Settings
from salescope.domain.errors import ConflictError, FieldError, NotFoundError, StaleError
from salescope.domain.statuses import VisitStatus
from salescope.services.access import Permission, Scope, get_visible, scoped
from salescope.services.photos import store_image
from salescope.services.recommendations import (
    decode_cursor,
    encode_cursor,
    flush_or_conflict,
    mark_visit_reported,
)
from salescope.storage.models import CoverageRecommendation, Photo, Visit, utcnow
from salescope.storage.repositories import record_audit
from salescope.storage.tables import TableStore

MAX_PHOTOS = 12
SHELF_OWN = 8
SHELF_COMPETITORS = 6


class ShelfLine(BaseModel):
    """One product on the shop's shelf."""

    model_config = ConfigDict(extra="forbid")

    product_id: str = Field(min_length=1, max_length=64)
    name: str = Field(default="", max_length=200)
    own: bool = False
    present: bool = False
    facings: int = Field(default=0, ge=0, le=500)
    price: float | None = Field(default=None, ge=0, le=1_000_000)


class VisitReport(BaseModel):
    """What a rep reports from a verification visit."""

    model_config = ConfigDict(extra="forbid")

    visit_date: dt.date | None = None
    shelf: list[ShelfLine] = Field(default_factory=list, max_length=100)
    readiness: int | None = Field(default=None, ge=1, le=5)
    interview_notes: str = Field(default="", max_length=4000)
    notes: str = Field(default="", max_length=4000)


# -- reading ---------------------------------------------------------------------------------
def list_visits(
    session: Session,
    scope: Scope,
    *,
    rep_id: str | None = None,
    date: dt.date | None = None,
    status: str | None = None,
    open_only: bool = False,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Visit], str | None]:
    """A page of the visits the caller may see (a rep: its own), due soonest first."""
    scope.require(Permission.VISITS_READ)
    if not 1 <= limit <= 500:
        raise FieldError("limit must be between 1 and 500", "limit")
    query = scoped(scope, Visit)
    if rep_id:
        query = query.where(Visit.rep_id == rep_id)
    if date is not None:
        query = query.where(sa.or_(Visit.due_date == date, Visit.visit_date == date))
    if status:
        if status not in VisitStatus.__members__.values():
            raise FieldError(f"unknown status {status!r}", "status")
        query = query.where(Visit.status == status)
    elif open_only:
        query = query.where(Visit.status.in_([s.value for s in VisitStatus if s.open]))
    offset = decode_cursor(cursor)
    rows = list(
        session.scalars(
            query.order_by(Visit.due_date.asc().nulls_last(), Visit.id)
            .offset(offset)
            .limit(limit + 1)
        )
    )
    more = len(rows) > limit
    return rows[:limit], encode_cursor(offset + limit) if more else None


def get_visit(session: Session, scope: Scope, visit_id: int) -> Visit:
    scope.require(Permission.VISITS_READ)
    return get_visible(session, scope, Visit, visit_id, what=f"visit {visit_id}")


def visits_of_recommendation(session: Session, scope: Scope, rec_id: int) -> list[Visit]:
    """The visits of a recommendation the caller may see, newest first."""
    if not scope.may(Permission.VISITS_READ):
        return []
    return list(
        session.scalars(
            scoped(scope, Visit)
            .where(Visit.recommendation_id == rec_id)
            .order_by(Visit.requested_at.desc(), Visit.id.desc())
        )
    )


@lru_cache(maxsize=4)
def _catalogue(tables_dir: str, version: str | None) -> pl.DataFrame:
    """Products ranked for the shelf grid: own products by sales, then competitors'."""
    store = TableStore(tables_dir)
    products = store.read("products")
    if products is None:
        return pl.DataFrame(schema={"product_id": pl.String, "name": pl.String, "own": pl.Boolean})
    products = products.with_columns(
        (pl.col("own") if "own" in products.columns else pl.lit(True)).fill_null(True).alias("own"),
        (pl.col("name") if "name" in products.columns else pl.col("product_id")).alias("name"),
    )
    sales = None
    if store.path("orders") is not None:
        sales = (
            store.scan("orders")
            .group_by("product_id")
            .agg(pl.col("quantity").sum().alias("_sold"))
            .collect()
        )
    if sales is not None:
        products = products.join(sales, on="product_id", how="left")
    else:
        products = products.with_columns(pl.lit(0.0).alias("_sold"))
    ranked = products.sort(
        ["own", "_sold", "product_id"], descending=[True, True, False], nulls_last=True
    )
    own = ranked.filter(pl.col("own")).head(SHELF_OWN)
    other = ranked.filter(~pl.col("own")).sort("product_id").head(SHELF_COMPETITORS)
    return pl.concat([own, other]).select("product_id", pl.col("name").cast(pl.String), "own")


def shelf_template(session: Session, settings: Settings, visit: Visit) -> list[ShelfLine]:
    """The shelf grid to start from: the visit's draft, else the customer's last reported
    shelf, else the catalogue (best-selling own products, then competitors')."""
    if visit.report.get("shelf"):
        return [ShelfLine.model_validate(x) for x in visit.report["shelf"]]
    last = session.scalar(
        sa.select(Visit)
        .where(
            Visit.customer_id == visit.customer_id,
            Visit.status == VisitStatus.REPORTED.value,
            Visit.id != visit.id,
        )
        .order_by(Visit.reported_at.desc())
        .limit(1)
    )
    if last is not None and last.report.get("shelf"):
        return [ShelfLine.model_validate(x) for x in last.report["shelf"]]
    store = TableStore(settings.tables_dir)
    catalogue = _catalogue(str(settings.tables_dir), store.version)
    return [
        ShelfLine(product_id=str(r["product_id"]), name=str(r["name"] or ""), own=bool(r["own"]))
        for r in catalogue.iter_rows(named=True)
    ]


# -- reporting -------------------------------------------------------------------------------
def _open_visit(
    session: Session, scope: Scope, visit_id: int, expected_version: int | None
) -> Visit:
    scope.require(Permission.VISITS_REPORT)
    visit = get_visible(session, scope, Visit, visit_id, what=f"visit {visit_id}")
    if scope.role.field and visit.rep_id != scope.rep_id:
        from salescope.domain.errors import PermissionDeniedError

        raise PermissionDeniedError(f"visit {visit_id} is assigned to {visit.rep_id}")
    if not VisitStatus(visit.status).open:
        raise ConflictError(
            f"visit {visit_id} is {VisitStatus(visit.status).label.lower()}: it can no longer "
            "be changed"
        )
    if expected_version is not None and expected_version != visit.version:
        raise StaleError(
            f"visit {visit_id} changed since you opened it (version {visit.version} now, you had "
            f"{expected_version}): reload it"
        )
    return visit


def _flush(session: Session, what: str) -> None:
    flush_or_conflict(session, what)


def save_draft(
    session: Session,
    scope: Scope,
    visit_id: int,
    report: VisitReport,
    *,
    expected_version: int | None = None,
) -> Visit:
    """Keep what the rep entered so far (nothing is lost with the connection)."""
    visit = _open_visit(session, scope, visit_id, expected_version)
    visit.report = report.model_dump(mode="json")
    visit.status = VisitStatus.DRAFT.value
    _flush(session, f"visit {visit_id}")
    return visit


def submit_report(
    session: Session,
    scope: Scope,
    visit_id: int,
    report: VisitReport,
    *,
    expected_version: int | None = None,
    today: dt.date | None = None,
) -> Visit:
    """File the report: it needs the store manager's readiness; the visit date defaults to
    today and cannot be in the future. The recommendation verified moves to visit reported."""
    visit = _open_visit(session, scope, visit_id, expected_version)
    today = today or dt.date.today()
    if report.readiness is None:
        raise FieldError("give the store manager's readiness (1 to 5)", "readiness")
    visit_date = report.visit_date or today
    if visit_date > today:
        raise FieldError("the visit date is in the future", "visit_date")
    report = report.model_copy(update={"visit_date": visit_date})
    visit.report = report.model_dump(mode="json")
    visit.visit_date = visit_date
    visit.status = VisitStatus.REPORTED.value
    visit.reported_by, visit.reported_at = scope.actor, utcnow()
    _flush(session, f"visit {visit_id}")
    present = [line for line in report.shelf if line.present]
    record_audit(
        session,
        scope.actor,
        "visit.reported",
        "visit",
        visit.id,
        {
            "customer_id": visit.customer_id,
            "recommendation_id": visit.recommendation_id,
            "readiness": report.readiness,
            "own_present": sum(1 for line in present if line.own),
            "competitors_present": sum(1 for line in present if not line.own),
            "photos": len(visit.photos),
        },
    )
    if visit.recommendation_id is not None:
        rec = session.get(CoverageRecommendation, visit.recommendation_id)
        if rec is not None:
            mark_visit_reported(session, rec, actor=scope.actor)
            record_audit(
                session,
                scope.actor,
                "recommendation.report_filed",
                "recommendation",
                rec.id,
                {
                    "visit_id": visit.id,
                    "readiness": report.readiness,
                    "reason": report.interview_notes[:200] or None,
                },
            )
    return visit


def report_summary(visit: Visit) -> dict[str, Any]:
    """Counts for lists and the recommendation's page."""
    shelf = visit.report.get("shelf") or []
    present = [x for x in shelf if x.get("present")]
    return {
        "readiness": visit.report.get("readiness"),
        "own_present": sum(1 for x in present if x.get("own")),
        "competitors_present": sum(1 for x in present if not x.get("own")),
        "own_facings": sum(int(x.get("facings") or 0) for x in present if x.get("own")),
        "competitor_facings": sum(int(x.get("facings") or 0) for x in present if not x.get("own")),
        "photos": len(visit.photos),
    }


# -- photos ----------------------------------------------------------------------------------
def add_photo(
    session: Session,
    scope: Scope,
    settings: Settings,
    visit_id: int,
    data: bytes,
    original_name: str | None,
) -> Photo:
    """Check, re-encode and store a photo of an open visit (see ``services.photos``)."""
    visit = _open_visit(session, scope, visit_id, None)
    if len(visit.photos) >= MAX_PHOTOS:
        raise FieldError(f"a visit holds at most {MAX_PHOTOS} photos", "photo")
    stored = store_image(
        settings.photos_dir,
        data,
        original_name,
        max_bytes=settings.upload_max_bytes,
        max_pixels=settings.upload_max_pixels,
    )
    photo = Photo(
        visit_id=visit.id,
        customer_id=visit.customer_id,
        region=visit.region,
        file_name=stored.file_name,
        thumb_name=stored.thumb_name,
        content_type=stored.content_type,
        width=stored.width,
        height=stored.height,
        size_bytes=stored.size_bytes,
        original_name=stored.original_name,
        uploaded_by=scope.actor,
    )
    visit.photos.append(photo)
    if visit.status == VisitStatus.REQUESTED.value:
        visit.status = VisitStatus.DRAFT.value
    _flush(session, f"visit {visit_id}")
    return photo


@dataclass(frozen=True, slots=True)
class PhotoFile:
    path: Path
    content_type: str
    name: str


def photo_file(
    session: Session, scope: Scope, settings: Settings, photo_id: int, *, thumb: bool = False
) -> PhotoFile:
    """The stored file of a photo, for a caller who may see its visit."""
    scope.require(Permission.VISITS_READ)
    photo = get_visible(session, scope, Photo, photo_id, what=f"photo {photo_id}")
    path = settings.photos_dir / (photo.thumb_name if thumb else photo.file_name)
    if not path.is_file():
        raise NotFoundError(f"the file of photo {photo_id} is missing")
    return PhotoFile(path, photo.content_type, photo.original_name)
