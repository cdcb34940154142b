"""Automatic replenishment: for a shop in automatic mode, its proposal becomes an order at the
cut-off unless the shop edits or cancels it first.

The order for a delivery date is placed at ``Settings.auto_cutoff_hour`` (UTC) of the working
day before (``calendar.cutoff_of``). Until then the shop (or whoever may order for it) sees
what will be ordered and when, and may change the lines (kept as an ``AutoOrder`` in status
``edited``), cancel this delivery's order, or put it back. At the cut-off ``do_place_due``
(the scheduler of ``salescope serve`` every 30 s, and ``salescope orders place-automatic``
for cron) places it through the same service as every other order (channel ``automatic``,
matched against the proposal by the feedback service). Placing is idempotent: an order is
placed once per shop and date (its id is ``AUTO-<customer>-<date>``, and a shop that already
ordered for that date by another channel is skipped). Every change and every order placed is
in the audit trail.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from salescope.domain.errors import ConflictError, FieldError, SalescopeError, UnavailableError
from salescope.domain.statuses import AutoOrderStatus, InteractionMode, OrderChannel
from salescope.services.access import Permission, Scope, system_scope, visible_customer
from salescope.services.calendar import cutoff_of, delivery_dates
from salescope.services.ordering import (
    OrderIn,
    OrderLineIn,
    check_order,
    do_place_order,
    record_shown,
)
from salescope.services.serving import OrderEngine, Suggestion
from salescope.storage import repositories as repo
from salescope.storage.db import Database
from salescope.storage.models import AutoOrder, Customer, PlacedOrder

log = logging.getLogger("salescope.replenishment")

ACTOR = "automatic replenishment"
"""How the audit trail names the scheduler placing automatic orders."""
ACTIONS = ("save", "cancel", "resume")


def is_automatic(customer: Customer) -> bool:
    return customer.interaction_mode == InteractionMode.AUTOMATIC.value


def next_auto_date(now: dt.datetime, hour: int) -> dt.date:
    """The first delivery date whose cut-off is still ahead of ``now``."""
    for day in delivery_dates(now.date(), 4):
        if cutoff_of(day, hour) > now:
            return day
    raise AssertionError("four delivery dates without a cut-off ahead")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class AutoPlan:
    """What automatic replenishment will order for a shop and a date, and when."""

    customer_id: str
    order_date: dt.date
    cutoff_at: dt.datetime
    status: AutoOrderStatus
    lines: tuple[tuple[str, float], ...]  # the shop's edit (status edited), else empty
    placed_order_id: str | None
    updated_by: str | None
    open: bool  # may still be changed

    @property
    def will_order(self) -> bool:
        return self.status.open


def _row(session: Session, customer_id: str, order_date: dt.date) -> AutoOrder | None:
    return session.scalar(
        sa.select(AutoOrder).where(
            AutoOrder.customer_id == customer_id, AutoOrder.order_date == order_date
        )
    )


def _plan(
    row: AutoOrder | None,
    customer_id: str,
    day: dt.date,
    cutoff: dt.datetime,
    now: dt.datetime,
    placed_id: str | None,
) -> AutoPlan:
    status = AutoOrderStatus(row.status) if row is not None else AutoOrderStatus.SCHEDULED
    if placed_id is not None and status.open:
        status = AutoOrderStatus.PLACED
    lines = tuple(
        (str(x["product_id"]), float(x["quantity"]))
        for x in ((row.lines or []) if row is not None else [])
    )
    return AutoPlan(
        customer_id=customer_id,
        order_date=day,
        cutoff_at=cutoff,
        status=status,
        lines=lines if status is AutoOrderStatus.EDITED else (),
        placed_order_id=placed_id,
        updated_by=row.updated_by if row is not None else None,
        open=now < cutoff and status is not AutoOrderStatus.PLACED,
    )


def _placed_id(session: Session, customer_id: str, day: dt.date) -> str | None:
    return session.scalar(
        sa.select(PlacedOrder.order_id)
        .where(PlacedOrder.customer_id == customer_id, PlacedOrder.order_date == day)
        .order_by(PlacedOrder.id)
        .limit(1)
    )


def check_auto_plan(
    session: Session,
    scope: Scope,
    engine: OrderEngine,
    customer_id: str,
    order_date: dt.date | None = None,
) -> AutoPlan | None:
    """The automatic order of a customer in reach for ``order_date`` (default: the next one
    whose cut-off is ahead); None when the customer is not in automatic mode."""
    scope.require(Permission.ORDERS_READ)
    customer = visible_customer(session, scope, customer_id)
    if not is_automatic(customer):
        return None
    hour = engine.settings.auto_cutoff_hour
    now = engine.clock.now()
    day = order_date or next_auto_date(now, hour)
    return _plan(
        _row(session, customer_id, day),
        customer_id,
        day,
        cutoff_of(day, hour),
        now,
        _placed_id(session, customer_id, day),
    )


@dataclass(frozen=True, slots=True)
class AutoChange:
    """A validated change of an automatic order before its cut-off."""

    customer_id: str
    region: str | None
    order_date: dt.date
    cutoff_at: dt.datetime
    action: str  # save, cancel, resume
    lines: tuple[tuple[str, float], ...] = field(default=())


def check_auto_change(
    session: Session,
    scope: Scope,
    engine: OrderEngine,
    customer_id: str,
    order_date: dt.date,
    action: str,
    lines: Sequence[tuple[str, float]] = (),
) -> AutoChange:
    """A change the caller may make: ``orders.place`` on a customer in reach in automatic
    mode, before the cut-off of ``order_date``, the order not placed yet; ``save`` needs at
    least one line of a product we sell."""
    scope.require(Permission.ORDERS_PLACE)
    customer = visible_customer(session, scope, customer_id)
    plan = check_auto_plan(session, scope, engine, customer_id, order_date)
    if plan is None:
        raise FieldError(
            f"customer {customer_id} is not in automatic replenishment: its orders are placed "
            "by the shop or its rep",
            "customer_id",
        )
    if action not in ACTIONS:
        raise FieldError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})", "action")
    if plan.status is AutoOrderStatus.PLACED:
        raise ConflictError(
            f"the order for {order_date:%A %-d %B} is already placed ({plan.placed_order_id})"
        )
    if not plan.open:
        raise ConflictError(
            f"the cut-off for {order_date:%A %-d %B} was {plan.cutoff_at:%A at %H:%M} UTC: "
            "the order can no longer be changed"
        )
    catalogue = engine.catalogue()
    if action == "save":
        if not lines:
            raise FieldError(
                "an automatic order needs at least one line: cancel it to order nothing",
                "lines",
            )
        for product_id, quantity in lines:
            if product_id not in catalogue.offerable:
                raise FieldError(f"product {product_id} is not sold", "lines")
            if not 0 < quantity <= 1_000_000:
                raise FieldError("quantity must be more than 0 and at most 1,000,000", "lines")
    return AutoChange(
        customer_id, customer.region, order_date, plan.cutoff_at, action, tuple(lines)
    )


CHANGES = {
    "save": (AutoOrderStatus.EDITED, "auto_order.edited"),
    "cancel": (AutoOrderStatus.CANCELLED, "auto_order.cancelled"),
    "resume": (AutoOrderStatus.SCHEDULED, "auto_order.resumed"),
}


def do_auto_change(session: Session, scope: Scope, change: AutoChange) -> AutoOrder:
    """Record the change (``edited`` with its lines, ``cancelled``, or ``scheduled`` again)
    and audit it."""
    status, action = CHANGES[change.action]
    row = _row(session, change.customer_id, change.order_date)
    if row is None:
        row = AutoOrder(
            customer_id=change.customer_id,
            region=change.region,
            order_date=change.order_date,
            cutoff_at=change.cutoff_at,
            status=status.value,
        )
        session.add(row)
    row.status = status.value
    row.lines = (
        [{"product_id": p, "quantity": q} for p, q in change.lines]
        if status is AutoOrderStatus.EDITED
        else None
    )
    row.updated_by = scope.actor
    session.flush()
    repo.record_audit(
        session,
        scope.actor,
        action,
        "customer",
        change.customer_id,
        {"order_date": change.order_date, "lines": len(change.lines)},
    )
    return row


# -- at the cut-off ------------------------------------------------------------------------
@dataclass
class PlacedRun:
    """What one pass of ``do_place_due`` did."""

    placed: list[str] = field(default_factory=list)  # order ids
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> shops
    failed: dict[str, str] = field(default_factory=dict)  # customer -> message

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def due_dates(now: dt.datetime, hour: int) -> list[dt.date]:
    """Delivery dates after today whose cut-off has passed (normally none or one)."""
    return [d for d in delivery_dates(now.date(), 3) if cutoff_of(d, hour) <= now]


def do_place_due(database: Database, engine: OrderEngine, *, actor: str = ACTOR) -> PlacedRun:
    """Place the automatic orders whose cut-off has passed (see the module docstring). What
    is already settled (cancelled, placed, ordered by the shop) is read at once; each other
    shop's proposal is computed in a read-only transaction and its order placed in a short
    transaction of its own (so that the app's requests are not held behind the whole pass,
    and one failing shop does not stop the others)."""
    now = engine.clock.now()
    run = PlacedRun()
    days = due_dates(now, engine.settings.auto_cutoff_hour)
    if not days:
        return run
    scope = system_scope(actor)
    for day in days:

        def pending_of(session: Session, day: dt.date = day) -> tuple[list[str], list[str]]:
            return _pending(session, day)

        pending, settled = database.transaction(pending_of, readonly=True)
        for reason in settled:
            run.skip(reason)
        for customer_id in pending:

            def propose(session: Session, c: str = customer_id, d: dt.date = day) -> Suggestion:
                return engine.suggestion(session, c, d)

            try:
                suggestion = database.transaction(propose, readonly=True)

                def place(
                    session: Session,
                    c: str = customer_id,
                    d: dt.date = day,
                    g: Suggestion = suggestion,
                ) -> str:
                    return _place_one(session, scope, engine, c, d, now, g)

                outcome = database.transaction(place)
            except UnavailableError:
                run.skip("no model trained yet")
                continue
            except SalescopeError as error:
                run.failed[customer_id] = str(error)
                log.warning("automatic order of %s for %s: %s", customer_id, day, error)
                continue
            if outcome.startswith("placed:"):
                run.placed.append(outcome.removeprefix("placed:"))
            else:
                run.skip(outcome)
    return run


def _pending(session: Session, day: dt.date) -> tuple[list[str], list[str]]:
    """The shops in automatic mode whose order for ``day`` is still to place, and why each
    of the others is not."""
    customers = list(
        session.scalars(
            sa.select(Customer.customer_id)
            .where(
                Customer.interaction_mode == InteractionMode.AUTOMATIC.value,
                Customer.status == "served",
            )
            .order_by(Customer.customer_id)
        )
    )
    statuses = dict(
        session.execute(
            sa.select(AutoOrder.customer_id, AutoOrder.status).where(AutoOrder.order_date == day)
        ).all()
    )
    ordered = set(
        session.scalars(sa.select(PlacedOrder.customer_id).where(PlacedOrder.order_date == day))
    )
    pending, settled = [], []
    for customer in customers:
        reason = _settled(statuses.get(customer), customer in ordered)
        if reason is None:
            pending.append(customer)
        else:
            settled.append(reason)
    return pending, settled


def _settled(status: str | None, ordered: bool) -> str | None:
    """Why a shop's automatic order is not to place (None: it is)."""
    if status == AutoOrderStatus.CANCELLED.value:
        return "cancelled by the shop"
    if status == AutoOrderStatus.PLACED.value:
        return "already placed"
    if ordered:
        return "the shop already ordered for that date"
    return None


def _place_one(
    session: Session,
    scope: Scope,
    engine: OrderEngine,
    customer_id: str,
    day: dt.date,
    now: dt.datetime,
    suggestion: Suggestion,
) -> str:
    """Place one shop's automatic order for ``day`` (its proposal ``suggestion``, or the
    lines it saved); "placed:<order id>" or why not (settled meanwhile)."""
    row = _row(session, customer_id, day)
    reason = _settled(
        row.status if row is not None else None,
        _placed_id(session, customer_id, day) is not None,
    )
    if reason is not None:
        return reason
    catalogue = engine.catalogue()
    # the proposal the order answers (stored when first shown; here at the latest)
    record_shown(session, engine, suggestion, actor=scope.actor)
    if row is not None and row.status == AutoOrderStatus.EDITED.value and row.lines:
        lines = [
            OrderLineIn(str(x["product_id"]), float(x["quantity"]))
            for x in row.lines
            if x["product_id"] in catalogue.offerable
        ]
        source = "the shop's edit"
    else:
        lines = [OrderLineIn(x.product_id, x.quantity) for x in suggestion.lines]
        source = "the proposal"
    if not lines:
        return "nothing to order"
    order_id = f"AUTO-{customer_id}-{day:%Y%m%d}"
    request = check_order(
        session,
        scope,
        catalogue,
        OrderIn(customer_id, day, tuple(lines), order_id, OrderChannel.AUTOMATIC),
        f"auto:{customer_id}:{day.isoformat()}",
        today=now.date(),
    )
    try:
        placed, _ = do_place_order(session, scope, catalogue, request)
    except ConflictError:
        return "already placed"
    if row is None:
        row = AutoOrder(
            customer_id=customer_id,
            region=placed.region,
            order_date=day,
            cutoff_at=cutoff_of(day, engine.settings.auto_cutoff_hour),
            status=AutoOrderStatus.PLACED.value,
        )
        session.add(row)
    row.status = AutoOrderStatus.PLACED.value
    row.placed_order_id = placed.id
    row.updated_by = scope.actor
    session.flush()
    repo.record_audit(
        session,
        scope.actor,
        "auto_order.placed",
        "order",
        placed.order_id,
        {"customer_id": customer_id, "order_date": day, "lines": len(lines), "from": source},
    )
    return f"placed:{placed.order_id}"


def list_auto_plans(
    session: Session, scope: Scope, engine: OrderEngine, customers: Sequence[Customer]
) -> list[AutoPlan]:
    """The next automatic order of each of ``customers`` (already read within reach) that is
    in automatic mode."""
    scope.require(Permission.ORDERS_READ)
    hour = engine.settings.auto_cutoff_hour
    now = engine.clock.now()
    day = next_auto_date(now, hour)
    ids = [c.customer_id for c in customers if is_automatic(c)]
    rows = {
        r.customer_id: r
        for r in session.scalars(
            sa.select(AutoOrder).where(AutoOrder.order_date == day, AutoOrder.customer_id.in_(ids))
        )
    }
    placed: dict[str, Any] = dict(
        session.execute(
            sa.select(PlacedOrder.customer_id, PlacedOrder.order_id).where(
                PlacedOrder.order_date == day, PlacedOrder.customer_id.in_(ids)
            )
        ).all()
    )
    cutoff = cutoff_of(day, hour)
    return [_plan(rows.get(c), c, day, cutoff, now, placed.get(c)) for c in ids]
