"""The rep's day: today's visits, each with the customer's probable order.

Whom a rep visits today: the customers it serves in person (field visits, a merchandiser's
visits) whose next visit is due — the last visit (the visits table, or a visit reported in
the app) plus a month divided by their visits a month is today or past —, those whose order
is overdue (their usual interval since the last order has passed), and the customers of its
open visit tasks due by today; the most overdue first, as many as a day holds
(``capacity_minutes`` over 21 working days, at ``VISIT_MINUTES`` a visit).

Each visit carries the suggestion for the next delivery date (the order taken today is
delivered then): usual lines with quantities, then the novelties with their promotion and
reason; the customer is flagged lapsed (it has stopped ordering) or its order overdue.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from salescope.domain.errors import FieldError, UnavailableError
from salescope.domain.statuses import InteractionMode, UserRole
from salescope.services.access import Permission, Scope, get_visible, visible
from salescope.services.calendar import next_delivery_date
from salescope.services.ordering import record_shown
from salescope.services.serving import OrderEngine, Rhythm, Suggestion
from salescope.storage.models import Customer, PlacedOrder, Rep, Visit

VISIT_MINUTES = 30.0
WORKING_DAYS_A_MONTH = 21.0
IN_PERSON = (InteractionMode.FIELD.value, InteractionMode.MERCHANDISER.value, None)
OVERDUE_FACTOR = 1.25
"""An order is overdue once this many usual intervals have passed since the last one."""


@dataclass(frozen=True, slots=True)
class PlannedVisit:
    customer: Customer
    reason: str  # why today, in words
    overdue_days: int
    order_overdue: bool
    task_id: int | None
    suggestion: Suggestion | None
    taken: str | None  # the order id already taken for the delivery date

    @property
    def lapsed(self) -> bool:
        return self.suggestion is not None and self.suggestion.lapsed


@dataclass(frozen=True, slots=True)
class Day:
    rep: Rep
    today: dt.date
    delivery: dt.date
    visits: list[PlannedVisit]
    capacity: int
    model_ready: bool


def _rep_of(session: Session, scope: Scope, rep_id: str | None) -> Rep:
    if scope.role.field:
        if rep_id and rep_id != scope.rep_id:
            raise FieldError("a rep sees its own day", "rep_id")
        rep_id = scope.rep_id
    if not rep_id:
        first = session.scalar(
            sa.select(Rep.rep_id).where(visible(scope, Rep)).order_by(Rep.rep_id).limit(1)
        )
        if first is None:
            raise FieldError("no rep in your reach", "rep_id")
        rep_id = first
    row = session.scalar(sa.select(Rep).where(Rep.rep_id == rep_id))
    if row is None:
        raise FieldError(f"unknown rep {rep_id!r}", "rep_id")
    return get_visible(session, scope, Rep, row.id, what=f"rep {rep_id}")


def plan_day(session: Session, scope: Scope, engine: OrderEngine, rep_id: str | None = None) -> Day:
    """The day of ``rep_id`` (a rep: its own) with each visit's probable order."""
    scope.require(Permission.VISITS_READ)
    scope.require(Permission.ORDERS_READ)
    rep = _rep_of(session, scope, rep_id)
    today = engine.clock.today()
    delivery = next_delivery_date(today)
    catalogue = engine.catalogue()
    customers = list(
        session.scalars(
            sa.select(Customer)
            .where(
                Customer.rep_id == rep.rep_id,
                Customer.status == "served",
                visible(scope, Customer),
            )
            .order_by(Customer.customer_id)
        )
    )
    tasks = {
        v.customer_id: v
        for v in session.scalars(
            sa.select(Visit).where(
                Visit.rep_id == rep.rep_id,
                Visit.status.in_(("requested", "draft")),
                sa.or_(Visit.due_date.is_(None), Visit.due_date <= today),
            )
        )
    }
    reported = dict(
        session.execute(
            sa.select(Visit.customer_id, sa.func.max(Visit.visit_date))
            .where(Visit.rep_id == rep.rep_id, Visit.visit_date.is_not(None))
            .group_by(Visit.customer_id)
        ).all()
    )
    placed = dict(
        session.execute(
            sa.select(PlacedOrder.customer_id, sa.func.max(PlacedOrder.order_date))
            .where(
                PlacedOrder.customer_id.in_([c.customer_id for c in customers]),
                PlacedOrder.order_date <= today,  # not the order taken today
            )
            .group_by(PlacedOrder.customer_id)
        ).all()
    )
    taken = dict(
        session.execute(
            sa.select(PlacedOrder.customer_id, PlacedOrder.order_id).where(
                PlacedOrder.order_date == delivery,
                PlacedOrder.customer_id.in_([c.customer_id for c in customers]),
            )
        ).all()
    )
    candidates: list[tuple[int, Customer, str, bool]] = []
    for c in customers:
        score, reasons, order_overdue = _why_visit(
            c,
            tasks.get(c.customer_id),
            catalogue.rhythm.get(c.customer_id),
            last_visit=max(
                (
                    d
                    for d in (catalogue.last_visit.get(c.customer_id), reported.get(c.customer_id))
                    if d
                ),
                default=None,
            ),
            last_order=placed.get(c.customer_id),
            taken=c.customer_id in taken,
            today=today,
        )
        if reasons:
            candidates.append((score, c, "; ".join(reasons), order_overdue))
    capacity = max(4, round(rep.capacity_minutes / WORKING_DAYS_A_MONTH / VISIT_MINUTES))
    candidates.sort(key=lambda t: (-t[0], t[1].customer_id))
    visits: list[PlannedVisit] = []
    model_ready = True
    for score, c, reason, order_overdue in candidates[:capacity]:
        suggestion = None
        if model_ready:
            try:
                suggestion = engine.suggestion(session, c.customer_id, delivery)
                record_shown(session, engine, suggestion, actor=scope.actor)
            except UnavailableError:
                model_ready = False
        task = tasks.get(c.customer_id)
        visits.append(
            PlannedVisit(
                c,
                reason,
                max(score, 0),
                order_overdue,
                task.id if task else None,
                suggestion,
                taken.get(c.customer_id),
            )
        )
    return Day(rep, today, delivery, visits, capacity, model_ready)


def _why_visit(
    customer: Customer,
    task: Visit | None,
    rhythm: Rhythm | None,
    *,
    last_visit: dt.date | None,
    last_order: dt.date | None,
    taken: bool,
    today: dt.date,
) -> tuple[int, list[str], bool]:
    """Why the rep would visit the customer today (a visit task, an order overdue for its
    rhythm, a visit due, an order taken), how urgent (days late), and whether the order is
    overdue."""
    reasons: list[str] = []
    score = -10_000
    if task is not None:
        reasons.append(f"visit task {task.id} ({task.purpose})")
        score = max(score, (today - (task.due_date or today)).days)
    order_overdue = False
    last_order = max(
        (d for d in (rhythm.last_order if rhythm else None, last_order) if d), default=None
    )
    if rhythm is not None and rhythm.interval_days and last_order is not None:
        late = (today - last_order).days - rhythm.interval_days
        if late >= (OVERDUE_FACTOR - 1) * rhythm.interval_days:
            order_overdue = True
            reasons.append(f"order overdue by {late:.0f} days")
        score = max(score, int(late))
    if customer.interaction_mode in IN_PERSON and customer.visits_per_month:
        every = 30.4 / customer.visits_per_month
        late_visit = (today - last_visit).days - every if last_visit else every
        if late_visit >= 0:
            reasons.append(
                "visit due"
                if last_visit is None
                else f"last visit {(today - last_visit).days} days ago"
            )
        score = max(score, int(late_visit))
    if taken and not reasons:
        reasons.append("order taken")
        score = max(score, 0)
    return score, reasons, order_overdue


def reps_in_reach(session: Session, scope: Scope) -> list[Rep]:
    """The reps whose day the caller may open (a rep: itself)."""
    if scope.role is UserRole.SHOP:
        return []
    return list(session.scalars(sa.select(Rep).where(visible(scope, Rep)).order_by(Rep.rep_id)))
