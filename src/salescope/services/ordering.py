"""Use cases of orders in the app: the suggested order of a customer the caller may see, and
an order placed (by the shop's systems over the API, on the shop's ordering page, by the rep
at a visit, by automatic replenishment).

* ``check_suggested`` enforces access (``orders.read`` on a customer in reach), computes the
  suggestion (``services.serving``) and records it the first time it is shown: the proposal
  the order will be matched against (``services.feedback``), and for a shop of the uplift
  holdout the novelties it was not shown.
* ``check_order`` validates an order (``orders.place`` on a customer in reach, products we
  sell, each once, positive quantities, a date near today, an ``Idempotency-Key``) and
  ``do_place_order`` stores it — unless the same key already placed it (a retry: the stored
  order is answered, nothing is placed twice) — then runs it through the feedback service as
  ``salescope feedback`` does (accepted, quantity changed, removed, added; resting;
  recalibration), and writes the audit record. Its lines join the table store at the next
  training (``services.models.merge_placed_orders``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from salescope.domain.errors import (
    ConflictError,
    FieldError,
    NotFoundError,
    PermissionDeniedError,
    UnavailableError,
)
from salescope.domain.statuses import LineOutcome, OrderChannel
from salescope.services.access import Permission, Scope, visible, visible_customer
from salescope.services.feedback import FeedbackRequest, do_feedback
from salescope.services.serving import (
    PROPOSAL_SCHEMA,
    Catalogue,
    OrderEngine,
    Suggestion,
    empty_suggestion,
)
from salescope.storage import repositories as repo
from salescope.storage.db import Database
from salescope.storage.models import (
    FeedbackOutcome,
    HeldOutLine,
    PlacedOrder,
    PlacedOrderLine,
    ProposalLine,
)

MAX_LINES = 500
PAST_DAYS = 14
"""An order may be dated up to this many days before today (an order keyed in late)."""
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,200}$")
ORDER_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:/-]{1,64}$")


# -- suggested orders --------------------------------------------------------------------------
def check_suggested(
    session: Session,
    scope: Scope,
    engine: OrderEngine,
    customer_id: str,
    order_date: dt.date | None,
    *,
    empty_without_model: bool = False,
    writer: Database | None = None,
) -> Suggestion:
    """The suggested order of a customer in the caller's reach for ``order_date`` (default:
    the next delivery date), recorded as shown the first time. Without a trained model:
    UnavailableError, or with ``empty_without_model`` (the ordering pages) an empty order.

    With ``writer`` (``session`` is read-only: the API's reads), the first showing is
    recorded in a transaction of its own on ``writer``."""
    scope.require(Permission.ORDERS_READ)
    customer = visible_customer(session, scope, customer_id)
    day = engine.check_date(order_date)
    try:
        suggestion = engine.suggestion(session, customer.customer_id, day)
    except UnavailableError:
        if not empty_without_model:
            raise
        return empty_suggestion(customer.customer_id, day)
    if writer is None:
        record_shown(session, engine, suggestion, actor=scope.actor)
    elif not engine.was_shown((suggestion.customer_id, suggestion.order_date)):
        with writer.session() as write:
            record_shown(write, engine, suggestion, actor=scope.actor)
    return suggestion


def record_shown(
    session: Session, engine: OrderEngine, suggestion: Suggestion, *, actor: str
) -> bool:
    """Store the suggestion as the proposal of (customer, date) the first time it is shown
    (a proposal is stored once: what the customer saw first is what its order answers), and
    the novelties a holdout shop was not shown; True when stored now."""
    key = (suggestion.customer_id, suggestion.order_date)
    if engine.was_shown(key):
        return False
    stored = session.scalar(
        sa.select(sa.literal(True))
        .where(ProposalLine.customer_id == key[0], ProposalLine.order_date == key[1])
        .limit(1)
    ) or session.scalar(
        sa.select(sa.literal(True))
        .where(HeldOutLine.customer_id == key[0], HeldOutLine.order_date == key[1])
        .limit(1)
    )
    made = False
    if not stored and (suggestion.lines or suggestion.held_out):
        day = engine.clock.today().isoformat()
        fingerprint = hashlib.sha256(f"shown:{suggestion.run_id}:{day}".encode()).hexdigest()
        run = repo.find_proposal_run(session, fingerprint) or repo.add_proposal_run(
            session, source="app", fingerprint=fingerprint, actor="app", file_name=f"shown {day}"
        )
        lines = repo.add_proposal_lines(session, run.id, suggestion.proposal_frame())
        held = _add_held_out(session, suggestion)
        repo.record_audit(
            session,
            actor,
            "proposal.shown",
            "customer",
            suggestion.customer_id,
            {
                "order_date": suggestion.order_date,
                "lines": lines,
                "novelties": len(suggestion.novelties),
                "held_out": held,
                "model_run": suggestion.run_id,
            },
        )
        made = True
    engine.mark_shown(key)
    return made


def _add_held_out(session: Session, suggestion: Suggestion) -> int:
    return repo.add_held_out_lines(
        session,
        [
            {
                "customer_id": suggestion.customer_id,
                "order_date": suggestion.order_date,
                "product_id": line.product_id,
                "kind": line.kind,
                "probability": line.probability,
                "quantity": line.quantity,
                "promotion_id": line.promotion_id,
            }
            for line in suggestion.held_out
        ],
    )


# -- placing an order ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class OrderLineIn:
    product_id: str
    quantity: float
    unit_price: float | None = None


@dataclass(frozen=True, slots=True)
class OrderIn:
    """An order as a caller sends it (API body, the ordering page's form)."""

    customer_id: str
    order_date: dt.date
    lines: tuple[OrderLineIn, ...]
    order_id: str | None = None
    channel: OrderChannel = OrderChannel.API

    def digest(self) -> str:
        """sha256 of what the order says (a replay has the same)."""
        payload = {
            "order_id": self.order_id,
            "customer_id": self.customer_id,
            "order_date": self.order_date.isoformat(),
            "lines": sorted(
                [line.product_id, line.quantity, line.unit_price] for line in self.lines
            ),
            "channel": self.channel.value,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A validated order: what ``do_place_order`` stores."""

    order: OrderIn
    key: str
    digest: str
    region: str | None
    prices: dict[str, float | None] = field(default_factory=dict)


def check_order(
    session: Session,
    scope: Scope,
    catalogue: Catalogue,
    order: OrderIn,
    idempotency_key: str | None,
    *,
    today: dt.date,
) -> OrderRequest:
    """Validate ``order`` for the caller (see the module docstring); FieldError naming the
    field, 403/404 for a customer out of reach."""
    scope.require(Permission.ORDERS_PLACE)
    if idempotency_key is None or not idempotency_key.strip():
        raise FieldError(
            "send an Idempotency-Key header (a unique value per order, e.g. a UUID), so that "
            "a retried request never places the order twice",
            "Idempotency-Key",
        )
    key = idempotency_key.strip()
    if not KEY_PATTERN.match(key):
        raise FieldError(
            "Idempotency-Key must be 1 to 200 visible ASCII characters", "Idempotency-Key"
        )
    customer = visible_customer(session, scope, order.customer_id)
    if order.order_id is not None and not ORDER_ID_PATTERN.match(order.order_id):
        raise FieldError("order_id must be 1 to 64 letters, digits or . _ : / -", "order_id")
    if not order.lines:
        raise FieldError("an order needs at least one line", "lines")
    if len(order.lines) > MAX_LINES:
        raise FieldError(f"an order holds at most {MAX_LINES} lines", "lines")
    if (
        not today - dt.timedelta(days=PAST_DAYS)
        <= order.order_date
        <= today + dt.timedelta(days=366)
    ):
        raise FieldError(
            f"order_date {order.order_date} must be within {PAST_DAYS} days before today "
            f"({today}) and a year after it",
            "order_date",
        )
    seen: set[str] = set()
    prices: dict[str, float | None] = {}
    for i, line in enumerate(order.lines):
        where = f"lines.{i}"
        if line.product_id in seen:
            raise FieldError(f"product {line.product_id} is listed twice", f"{where}.product_id")
        seen.add(line.product_id)
        if line.product_id not in catalogue.products:
            raise FieldError(f"unknown product {line.product_id!r}", f"{where}.product_id")
        if line.product_id not in catalogue.offerable:
            raise FieldError(
                f"product {line.product_id} is not sold (not ours or no longer active)",
                f"{where}.product_id",
            )
        if not 0 < line.quantity <= 1_000_000:
            raise FieldError(
                "quantity must be more than 0 and at most 1,000,000", f"{where}.quantity"
            )
        if line.unit_price is not None and not 0 <= line.unit_price <= 1_000_000:
            raise FieldError("unit_price must be between 0 and 1,000,000", f"{where}.unit_price")
        prices[line.product_id] = (
            line.unit_price if line.unit_price is not None else catalogue.price(line.product_id)
        )
    return OrderRequest(order, key, order.digest(), customer.region, prices)


def _replay(session: Session, scope: Scope, request: OrderRequest) -> PlacedOrder | None:
    """The order this caller already placed with this key (the same request), or None;
    ConflictError when the key was used for another request."""
    found = session.scalar(
        sa.select(PlacedOrder)
        .where(PlacedOrder.user_id == scope.user_id, PlacedOrder.idempotency_key == request.key)
        .options(selectinload(PlacedOrder.lines))
    )
    if found is None:
        return None
    if found.request_hash != request.digest:
        raise ConflictError(
            "this Idempotency-Key was already used for another order: use a new key for a new order"
        )
    return found


def do_place_order(
    session: Session,
    scope: Scope,
    catalogue: Catalogue,
    request: OrderRequest,
) -> tuple[PlacedOrder, bool]:
    """Store the order and record its feedback (see the module docstring); returns the
    order and whether it was placed now (False: a replay of the same request)."""
    previous = _replay(session, scope, request)
    if previous is not None:
        return previous, False
    order = request.order
    order_id = order.order_id or f"SC-{request.digest[:16].upper()}"
    if session.scalar(sa.select(PlacedOrder.id).where(PlacedOrder.order_id == order_id)):
        raise ConflictError(
            f"order {order_id} was already placed (with another Idempotency-Key): it is not "
            "placed twice"
        )
    try:
        with session.begin_nested():
            row = _store(session, scope, catalogue, request, order_id)
    except IntegrityError:
        # another request got there first: the same key (a concurrent retry) or the same
        # order id (another key)
        again = _replay(session, scope, request)
        if again is not None:
            return again, False
        raise ConflictError(
            f"order {order_id} was already placed (with another Idempotency-Key): it is not "
            "placed twice"
        ) from None
    _feedback(session, scope, row, catalogue)
    repo.record_audit(
        session,
        scope.actor,
        "order.placed",
        "order",
        row.order_id,
        {
            "customer_id": row.customer_id,
            "order_date": row.order_date,
            "channel": row.channel,
            "lines": len(row.lines),
            "total_amount": row.total_amount,
            "proposal_date": row.proposal_date,
            "outcomes": row.outcomes.get("counts", {}),
        },
    )
    return row, True


def _store(
    session: Session, scope: Scope, catalogue: Catalogue, request: OrderRequest, order_id: str
) -> PlacedOrder:
    order = request.order
    row = PlacedOrder(
        order_id=order_id,
        customer_id=order.customer_id,
        region=request.region,
        order_date=order.order_date,
        channel=order.channel.value,
        user_id=scope.user_id or None,  # 0: the business itself (``system_scope``)
        placed_by=scope.actor,
        idempotency_key=request.key,
        request_hash=request.digest,
        outcomes={},
    )
    row.lines = [
        PlacedOrderLine(
            line_no=i + 1,
            product_id=line.product_id,
            quantity=float(line.quantity),
            unit_price=request.prices.get(line.product_id),
        )
        for i, line in enumerate(order.lines)
    ]
    session.add(row)
    session.flush()
    return row


def _feedback(session: Session, scope: Scope, row: PlacedOrder, catalogue: Catalogue) -> None:
    """Match the order against the stored proposals (``do_feedback``, as the command does)
    and keep each line's outcome, kind and promotion on the order."""
    orders = pl.DataFrame(
        {
            "customer_id": [row.customer_id] * len(row.lines),
            "order_id": [row.order_id] * len(row.lines),
            "order_date": [row.order_date] * len(row.lines),
            "product_id": [line.product_id for line in row.lines],
            "quantity": [line.quantity for line in row.lines],
        },
        schema={
            "customer_id": pl.String,
            "order_id": pl.String,
            "order_date": pl.Date,
            "product_id": pl.String,
            "quantity": pl.Float64,
        },
    )
    do_feedback(
        FeedbackRequest(
            pl.DataFrame(schema=PROPOSAL_SCHEMA),
            orders,
            "proposals shown in the app",
            f"order {row.order_id} ({row.channel})",
        ),
        session,
        actor=scope.actor,
        source=row.channel,
    )
    outcomes = list(
        session.scalars(
            sa.select(FeedbackOutcome).where(
                FeedbackOutcome.customer_id == row.customer_id,
                FeedbackOutcome.order_id == row.order_id,
            )
        )
    )
    by_product = {o.product_id: o for o in outcomes}
    for line in row.lines:
        found = by_product.get(line.product_id)
        if found is not None:
            line.outcome = found.outcome
            line.kind = found.kind
            line.promotion_id = found.promotion_id
    counts = {o.value: 0 for o in LineOutcome}
    for o in outcomes:
        counts[o.outcome] += 1
    removed = [
        {"product_id": o.product_id, "kind": o.kind, "quantity": o.proposed_quantity}
        for o in sorted(outcomes, key=lambda o: o.product_id)
        if o.outcome == LineOutcome.REMOVED.value
    ]
    row.proposal_date = outcomes[0].order_date if outcomes else None
    row.outcomes = {"counts": counts if outcomes else {}, "removed": removed}
    row.total_amount = order_total(row, catalogue)
    session.flush()


def order_total(row: PlacedOrder, catalogue: Catalogue) -> float | None:
    """The order's amount at its lines' prices, less the promotions its lines carry (None
    when no line has a price)."""
    total, priced = 0.0, False
    for line in row.lines:
        if line.unit_price is None:
            continue
        priced = True
        promo = catalogue.promotions.get(line.promotion_id) if line.promotion_id else None
        discount = promo.discount(line.quantity, line.unit_price) if promo else 0.0
        total += line.quantity * line.unit_price - discount
    return round(total, 2) if priced else None


# -- reading placed orders -----------------------------------------------------------------
def get_order(session: Session, scope: Scope, order_id: str) -> PlacedOrder:
    """One placed order in the caller's reach (404 / 403 otherwise)."""
    scope.require(Permission.ORDERS_READ)
    row = session.scalar(
        sa.select(PlacedOrder)
        .where(PlacedOrder.order_id == order_id)
        .options(selectinload(PlacedOrder.lines))
    )
    if row is None:
        raise NotFoundError(f"order {order_id!r} does not exist")
    allowed = session.scalar(
        sa.select(sa.literal(True)).where(PlacedOrder.id == row.id, visible(scope, PlacedOrder))
    )
    if not allowed:
        raise PermissionDeniedError(f"order {order_id!r} is outside your regions or customers")
    return row


def list_orders(
    session: Session,
    scope: Scope,
    *,
    customer_id: str | None = None,
    region: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[Sequence[PlacedOrder], str | None]:
    """The placed orders in the caller's reach (of a customer, of a region), newest first
    (``cursor``: the id to go on below)."""
    scope.require(Permission.ORDERS_READ)
    scope.require_region(region)
    query = (
        sa.select(PlacedOrder)
        .where(visible(scope, PlacedOrder))
        .options(selectinload(PlacedOrder.lines))
        .order_by(PlacedOrder.id.desc())
    )
    if customer_id:
        visible_customer(session, scope, customer_id)
        query = query.where(PlacedOrder.customer_id == customer_id)
    if region:
        query = query.where(PlacedOrder.region == region)
    if cursor:
        if not cursor.isdigit() or len(cursor) > 10:
            raise FieldError("cursor is not one this API gave", "cursor")
        query = query.where(PlacedOrder.id < int(cursor))
    rows = list(session.scalars(query.limit(limit + 1)))
    next_cursor = str(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


def describe_outcomes(row: PlacedOrder) -> dict[str, Any]:
    """The order's outcome counts by name (zero where none)."""
    counts = row.outcomes.get("counts") or {}
    return {o.value: int(counts.get(o.value, 0)) for o in LineOutcome}
