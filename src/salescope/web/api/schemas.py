"""The API's JSON shapes (OpenAPI at /openapi.json)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from salescope.services.ordering import describe_outcomes
from salescope.services.serving import SuggestedLine, Suggestion
from salescope.services.visits import VisitReport
from salescope.storage.models import (
    AuditEvent,
    CoverageRecommendation,
    Customer,
    PlacedOrder,
    Visit,
)


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        401: "No valid API key",
        403: "Outside the key's scopes or the user's regions and customers",
        404: "Not found",
        422: "Invalid value (``field`` names it)",
    }.items()
}


class CustomerOut(BaseModel):
    customer_id: str
    name: str | None
    region: str | None
    status: str | None
    rep_id: str | None
    interaction_mode: str | None

    @classmethod
    def of(cls, c: Customer) -> CustomerOut:
        return cls(
            customer_id=c.customer_id,
            name=c.name,
            region=c.region,
            status=c.status,
            rep_id=c.rep_id,
            interaction_mode=c.interaction_mode,
        )


class CustomerPage(BaseModel):
    items: list[CustomerOut]
    next_cursor: str | None


class Plan(BaseModel):
    rep_id: str | None
    interaction_mode: str | None
    visits_per_month: float | None


class AuditOut(BaseModel):
    at: dt.datetime
    actor: str | None
    action: str
    details: dict[str, Any]

    @classmethod
    def of(cls, e: AuditEvent) -> AuditOut:
        return cls(at=e.at, actor=e.actor, action=e.action, details=e.details)


class RecommendationOut(BaseModel):
    id: int
    customer_id: str
    name: str | None
    region: str | None
    recommendation: str
    status: str
    reason: str
    evidence: dict[str, Any]
    proposed: Plan
    decided: Plan | None
    decision_reason: str | None
    decided_by: str | None
    decided_at: dt.datetime | None
    rerun: dict[str, Any] | None = Field(
        description="A later coverage run's proposal for a decided recommendation"
    )
    version: int

    @classmethod
    def of(cls, r: CoverageRecommendation) -> RecommendationOut:
        decided = (
            Plan(
                rep_id=r.decided_rep_id,
                interaction_mode=r.decided_mode,
                visits_per_month=r.decided_visits_per_month,
            )
            if r.decided_at is not None
            else None
        )
        return cls(
            id=r.id,
            customer_id=r.customer_id,
            name=r.name,
            region=r.region,
            recommendation=r.recommendation,
            status=r.status,
            reason=r.reason,
            evidence=r.evidence,
            proposed=Plan(
                rep_id=r.proposed_rep_id,
                interaction_mode=r.proposed_mode,
                visits_per_month=r.proposed_visits_per_month,
            ),
            decided=decided,
            decision_reason=r.decision_reason,
            decided_by=r.decided_by,
            decided_at=r.decided_at,
            rerun=r.rerun,
            version=r.version,
        )


class RecommendationDetail(RecommendationOut):
    audit: list[AuditOut]


class RecommendationPage(BaseModel):
    items: list[RecommendationOut]
    next_cursor: str | None


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["accept", "reject", "request_verification", "change_mode"]
    reason: str | None = Field(default=None, max_length=2000)
    rep_id: str | None = Field(default=None, max_length=64)
    visits_per_month: float | None = Field(default=None, ge=0, le=31)
    due_date: dt.date | None = None
    interaction_mode: str | None = Field(default=None, max_length=16)


class PhotoOut(BaseModel):
    id: int
    content_type: str
    width: int
    height: int
    name: str
    url: str


class VisitOut(BaseModel):
    id: int
    customer_id: str
    region: str | None
    recommendation_id: int | None
    rep_id: str
    purpose: str
    status: str
    due_date: dt.date | None
    visit_date: dt.date | None
    note: str | None
    requested_by: str | None
    report: dict[str, Any]
    reported_by: str | None
    reported_at: dt.datetime | None
    photos: list[PhotoOut]
    version: int

    @classmethod
    def of(cls, v: Visit) -> VisitOut:
        return cls(
            id=v.id,
            customer_id=v.customer_id,
            region=v.region,
            recommendation_id=v.recommendation_id,
            rep_id=v.rep_id,
            purpose=v.purpose,
            status=v.status,
            due_date=v.due_date,
            visit_date=v.visit_date,
            note=v.note,
            requested_by=v.requested_by,
            report=v.report,
            reported_by=v.reported_by,
            reported_at=v.reported_at,
            photos=[
                PhotoOut(
                    id=p.id,
                    content_type=p.content_type,
                    width=p.width,
                    height=p.height,
                    name=p.original_name,
                    url=f"/api/v1/photos/{p.id}",
                )
                for p in v.photos
            ],
            version=v.version,
        )


class VisitPage(BaseModel):
    items: list[VisitOut]
    next_cursor: str | None


class ReportIn(VisitReport):
    """A visit report; ``draft: true`` keeps it as a draft instead of filing it."""

    draft: bool = False


# -- orders (issue 16) -------------------------------------------------------------------------
class SuggestedLineOut(BaseModel):
    rank: int
    product_id: str
    kind: Literal["usual", "development", "extension", "objective"]
    probability: float = Field(description="Chance the line is ordered (novelties: accepted)")
    quantity: float
    promotion_id: str | None
    reason: str = Field(description="One sentence a rep can read aloud")
    name: str
    unit_price: float | None
    promotion: str | None = Field(description="The promotion's terms, e.g. '10 % off until …'")

    @classmethod
    def of(cls, line: SuggestedLine) -> SuggestedLineOut:
        return cls(
            rank=line.rank,
            product_id=line.product_id,
            kind=line.kind,
            probability=round(line.probability, 6),
            quantity=line.quantity,
            promotion_id=line.promotion_id,
            reason=line.reason,
            name=line.name,
            unit_price=line.unit_price,
            promotion=line.promotion,
        )


class ModelOut(BaseModel):
    run_id: int
    cutoff: dt.date | None = Field(description="The model learned from the orders before this date")


class SuggestedOrderOut(BaseModel):
    customer_id: str
    order_date: dt.date
    lapsed: bool = Field(description="Has not ordered for much longer than its rhythm")
    lines: list[SuggestedLineOut]
    model: ModelOut

    @classmethod
    def of(cls, s: Suggestion) -> SuggestedOrderOut:
        return cls(
            customer_id=s.customer_id,
            order_date=s.order_date,
            lapsed=s.lapsed,
            lines=[SuggestedLineOut.of(line) for line in s.lines],
            model=ModelOut(run_id=s.run_id, cutoff=s.model_cutoff),
        )


class OrderLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: str = Field(min_length=1, max_length=64)
    quantity: float = Field(gt=0, le=1_000_000)
    unit_price: float | None = Field(default=None, ge=0, le=1_000_000)


class OrderIn(BaseModel):
    """The order a customer placed (CONTRACTS.md); send it with an ``Idempotency-Key``."""

    model_config = ConfigDict(extra="forbid")

    order_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:/-]+$")
    customer_id: str = Field(min_length=1, max_length=64)
    order_date: dt.date
    lines: list[OrderLineIn] = Field(min_length=1, max_length=500)


class OrderLineOut(BaseModel):
    product_id: str
    quantity: float
    unit_price: float | None
    promotion_id: str | None
    kind: str | None = Field(description="The kind of the proposal line it answered")
    outcome: str | None = Field(
        description="accepted, quantity_changed or added (none when no proposal was shown)"
    )


class RemovedOut(BaseModel):
    product_id: str
    kind: str | None
    quantity: float | None = Field(description="The quantity proposed")


class OrderOut(BaseModel):
    order_id: str
    customer_id: str
    order_date: dt.date
    channel: str
    placed_at: dt.datetime
    placed_by: str | None
    proposal_date: dt.date | None = Field(description="The date of the proposal it answered")
    lines: list[OrderLineOut]
    removed: list[RemovedOut] = Field(description="Proposed lines the order left out")
    outcomes: dict[str, int]
    total_amount: float | None

    @classmethod
    def of(cls, o: PlacedOrder) -> OrderOut:
        return cls(
            order_id=o.order_id,
            customer_id=o.customer_id,
            order_date=o.order_date,
            channel=o.channel,
            placed_at=o.placed_at,
            placed_by=o.placed_by,
            proposal_date=o.proposal_date,
            lines=[
                OrderLineOut(
                    product_id=line.product_id,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    promotion_id=line.promotion_id,
                    kind=line.kind,
                    outcome=line.outcome,
                )
                for line in o.lines
            ],
            removed=[RemovedOut(**r) for r in o.outcomes.get("removed", [])],
            outcomes=describe_outcomes(o),
            total_amount=o.total_amount,
        )


class OrderPage(BaseModel):
    items: list[OrderOut]
    next_cursor: str | None
