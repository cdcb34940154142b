"""What a manager's dashboard shows of a region: customers, KPI tiles, segments, the map.

Everything is read through ``services.access``: a manager's dashboard holds its regions only.
The map needs no tile server: the region's outline and each rep's territory are the convex
hulls of their shops' positions, drawn by Leaflet over a blank background.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from salescope.domain.errors import FieldError
from salescope.domain.statuses import CustomerStatus, RecommendationStatus
from salescope.services.access import Permission, Scope, scoped
from salescope.services.recommendations import decode_cursor, encode_cursor
from salescope.storage.models import CoverageRecommendation, Customer, Rep


def list_customers(
    session: Session,
    scope: Scope,
    *,
    region: str | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Customer], str | None]:
    """A page of the customers the caller may see."""
    scope.require(Permission.CUSTOMERS_READ)
    if not 1 <= limit <= 500:
        raise FieldError("limit must be between 1 and 500", "limit")
    query = scoped(scope, Customer)
    if region:
        if not scope.role.field and scope.role.value != "shop":
            scope.require_region(region)
        query = query.where(Customer.region == region)
    if status:
        if status not in CustomerStatus.__members__.values():
            raise FieldError(f"unknown status {status!r}: served or prospect", "status")
        query = query.where(Customer.status == status)
    offset = decode_cursor(cursor)
    rows = list(
        session.scalars(query.order_by(Customer.customer_id).offset(offset).limit(limit + 1))
    )
    more = len(rows) > limit
    return rows[:limit], encode_cursor(offset + limit) if more else None


def regions_of(session: Session, scope: Scope) -> list[str]:
    """The regions the caller may look at (a dashboard per region)."""
    if scope.role.all_regions:
        return sorted(
            r for r in session.scalars(sa.select(Customer.region).distinct()) if r is not None
        )
    return sorted(scope.regions)


@dataclass(frozen=True, slots=True)
class Kpis:
    served: int
    prospects: int
    to_review: int
    verifying: int
    decided: int
    by_recommendation: dict[str, int]
    potential_total: float
    potential_served: float
    revenue_12m: float

    @property
    def covered_share(self) -> float:
        return self.potential_served / self.potential_total if self.potential_total else 0.0


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def region_kpis(
    session: Session, scope: Scope, region: str | None
) -> tuple[Kpis, list[dict[str, Any]]]:
    """KPI tiles and the segments (name, shops, served, potential, revenue) of a region."""
    scope.require(Permission.RECOMMENDATIONS_READ)
    scope.require_region(region)
    customers = scoped(scope, Customer)
    recs = scoped(scope, CoverageRecommendation)
    if region is not None:
        customers = customers.where(Customer.region == region)
        recs = recs.where(CoverageRecommendation.region == region)
    statuses = Counter(c.status for c in session.scalars(customers))
    rows = list(session.scalars(recs))
    by_status = Counter(r.status for r in rows)
    segments: dict[str, dict[str, Any]] = {}
    potential_total = potential_served = revenue = 0.0
    for r in rows:
        ev = r.evidence
        served = ev.get("status") == "served"
        potential = _num(r.potential)
        potential_total += potential
        potential_served += potential if served else 0.0
        revenue += _num(ev.get("revenue_12m"))
        name = str(ev.get("segment_name") or ev.get("segment") or "—")
        seg = segments.setdefault(
            name, {"segment": name, "shops": 0, "served": 0, "potential": 0.0, "revenue_12m": 0.0}
        )
        seg["shops"] += 1
        seg["served"] += served
        seg["potential"] += potential
        seg["revenue_12m"] += _num(ev.get("revenue_12m"))
    kpis = Kpis(
        served=statuses.get("served", 0),
        prospects=statuses.get("prospect", 0),
        to_review=by_status.get(RecommendationStatus.PROPOSED.value, 0),
        verifying=by_status.get(RecommendationStatus.VERIFICATION_REQUESTED.value, 0)
        + by_status.get(RecommendationStatus.VISIT_REPORTED.value, 0),
        decided=sum(by_status.get(s.value, 0) for s in RecommendationStatus if s.decided),
        by_recommendation=dict(Counter(r.recommendation for r in rows)),
        potential_total=potential_total,
        potential_served=potential_served,
        revenue_12m=revenue,
    )
    return kpis, sorted(segments.values(), key=lambda s: -s["potential"])


def _hull(points: list[tuple[float, float]]) -> list[list[float]]:
    """The convex hull of (lat, lon) points as a closed ring, or [] for fewer than 3."""
    unique = sorted(set(points))
    if len(unique) < 3:
        return []
    from scipy.spatial import ConvexHull, QhullError

    array = np.asarray(unique)
    try:
        hull = ConvexHull(array)
    except QhullError:
        return []
    ring = [array[i].tolist() for i in hull.vertices]
    return [*ring, ring[0]]


def map_data(session: Session, scope: Scope, region: str | None) -> dict[str, Any]:
    """Shops (served, prospects, to add, to drop), reps with their territories, the outline."""
    scope.require(Permission.RECOMMENDATIONS_READ)
    scope.require_region(region)
    customers = scoped(scope, Customer).where(Customer.latitude.is_not(None))
    reps = scoped(scope, Rep)
    recs = scoped(scope, CoverageRecommendation)
    if region is not None:
        customers = customers.where(Customer.region == region)
        reps = reps.where(Rep.region == region)
        recs = recs.where(CoverageRecommendation.region == region)
    rec_of = {r.customer_id: r for r in session.scalars(recs)}
    shops = []
    by_rep: dict[str, list[tuple[float, float]]] = {}
    points: list[tuple[float, float]] = []
    for c in session.scalars(customers):
        assert c.latitude is not None and c.longitude is not None
        rec = rec_of.get(c.customer_id)
        kind = "served" if c.status == "served" else "prospect"
        if (
            rec is not None
            and rec.recommendation in ("add", "drop")
            and RecommendationStatus(rec.status).open
        ):
            kind = "add" if rec.recommendation == "add" else "drop"
        shops.append(
            {
                "id": c.customer_id,
                "name": c.name or c.customer_id,
                "lat": c.latitude,
                "lon": c.longitude,
                "kind": kind,
                "rec_id": rec.id if rec else None,
                "recommendation": rec.recommendation if rec else None,
            }
        )
        points.append((c.latitude, c.longitude))
        if c.status == "served" and c.rep_id:
            by_rep.setdefault(c.rep_id, []).append((c.latitude, c.longitude))
    rep_rows = [
        {
            "id": r.rep_id,
            "name": r.name or r.rep_id,
            "role": r.role,
            "lat": r.latitude,
            "lon": r.longitude,
            "territory": _hull(by_rep.get(r.rep_id, [])),
        }
        for r in session.scalars(reps.order_by(Rep.rep_id))
    ]
    return {"region": region, "outline": _hull(points), "shops": shops, "reps": rep_rows}
