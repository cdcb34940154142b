"""The ordering pages: the shop's pre-filled order for its next delivery (also the order a rep
takes at a visit), edited with htmx — quantities, novelties removed, products added by search,
prices and the total with the promotions — and sent through the same service as the API;
then the order placed."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from salescope.domain.errors import FieldError, PermissionDeniedError, SalescopeError
from salescope.domain.statuses import OrderChannel, UserRole
from salescope.services import drafts, ordering, replenishment, shop_tasks
from salescope.services.access import Permission, Scope, visible_customer
from salescope.services.calendar import delivery_dates
from salescope.services.serving import OrderEngine
from salescope.web.deps import EngineDep, PageScope, SessionDep
from salescope.web.errors import classify
from salescope.web.ui.render import is_htmx, render

router = APIRouter()


def channel_of(scope: Scope) -> OrderChannel:
    """A shop orders online; anyone of the sales force takes the order for it."""
    return OrderChannel.ONLINE if scope.role is UserRole.SHOP else OrderChannel.REP


def _context(
    session: Any,
    scope: Scope,
    engine: OrderEngine,
    draft: drafts.Draft,
    key: str,
    plan: replenishment.AutoPlan | None = None,
) -> dict[str, Any]:
    customer = visible_customer(session, scope, draft.customer_id)
    dates = delivery_dates(engine.clock.today())
    if plan is not None:
        first = plan.order_date if plan.order_date in dates else None
        dates = [d for d in dates if first is None or d >= first]
    return {
        "draft": draft,
        "customer": customer,
        "key": key,
        "dates": dates,
        "recent": ordering.list_orders(session, scope, customer_id=draft.customer_id, limit=5)[0],
        "shop": scope.role is UserRole.SHOP,
        "plan": plan,
        "describe_answer": shop_tasks.describe_answer,
        "tasks": shop_tasks.list_tasks(session, scope, customer_id=draft.customer_id, limit=20)
        if scope.role is UserRole.SHOP
        else [],
    }


def _first_draft(
    session: Any,
    scope: Scope,
    engine: OrderEngine,
    customer_id: str,
    date: dt.date | None,
) -> tuple[drafts.Draft, replenishment.AutoPlan | None]:
    """The draft a page opens with: the suggestion, or for a shop in automatic mode the order
    that will be placed at the cut-off (the shop's edit when it made one)."""
    plan = replenishment.check_auto_plan(session, scope, engine, customer_id, date)
    day = plan.order_date if plan is not None else date
    suggestion = ordering.check_suggested(
        session, scope, engine, customer_id, day, empty_without_model=True
    )
    catalogue = engine.catalogue()
    if plan is not None and plan.lines:
        rows = [(p, f"{q:g}") for p, q in plan.lines]
        return drafts.draft_from_form(suggestion, catalogue, rows), plan
    return drafts.draft_of(suggestion, catalogue), plan


@router.get("/order")
def my_order(scope: PageScope) -> Response:
    """A shop's own ordering page."""
    if scope.role is not UserRole.SHOP or scope.customer_id is None:
        raise PermissionDeniedError(
            "only a shop has its own ordering page; the sales force takes orders from the "
            "customer's page or the rep's day"
        )
    return RedirectResponse(f"/customers/{scope.customer_id}/order", status_code=303)


@router.get("/customers/{customer_id}/order")
def order_page(
    customer_id: str,
    request: Request,
    session: SessionDep,
    scope: PageScope,
    engine: EngineDep,
    date: dt.date | None = None,
) -> Response:
    scope.require(Permission.ORDERS_PLACE)
    draft, plan = _first_draft(session, scope, engine, customer_id, date)
    context = _context(session, scope, engine, draft, secrets.token_urlsafe(16), plan)
    return render(request, "order.html", context, scope=scope)


def _date(value: object) -> dt.date | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise FieldError(f"{value!r} is not a date", "order_date") from None


@router.post("/customers/{customer_id}/order")
async def order_post(
    customer_id: str,
    request: Request,
    session: SessionDep,
    scope: PageScope,
    engine: EngineDep,
) -> Response:
    """A change of the draft (``op``: update, ``remove:<product>``, ``add:<product>``) answered
    with the redrawn order, or ``send``: the order placed; for a shop in automatic mode also
    ``auto:save`` (this order at the cut-off), ``auto:cancel`` and ``auto:resume``."""
    scope.require(Permission.ORDERS_PLACE)
    form = await request.form()
    order_date = _date(form.get("order_date"))
    suggestion = ordering.check_suggested(
        session, scope, engine, customer_id, order_date, empty_without_model=True
    )
    op = form.get("op")
    op = op if isinstance(op, str) else "update"
    verb, _, product = op.partition(":")
    catalogue = engine.catalogue()
    draft = drafts.draft_from_form(
        suggestion,
        catalogue,
        drafts.form_rows(form),
        remove=product if verb == "remove" else None,
        add=product if verb == "add" else None,
    )
    key = form.get("key")
    key = key if isinstance(key, str) and key else secrets.token_urlsafe(16)
    message, status = None, 200
    if verb == "send":
        try:
            with session.begin_nested():
                drafts.check_sendable(draft)
                checked = ordering.check_order(
                    session,
                    scope,
                    catalogue,
                    draft.order(channel_of(scope)),
                    key,
                    today=engine.clock.today(),
                )
                row, _ = ordering.do_place_order(session, scope, catalogue, checked)
        except SalescopeError as error:
            status, _ = classify(error)
            if status in (403, 404):
                raise
            message = str(error)
        else:
            target = f"/orders/{row.order_id}"
            if is_htmx(request):
                return Response(status_code=204, headers={"HX-Redirect": target})
            return RedirectResponse(target, status_code=303)
    plan = replenishment.check_auto_plan(session, scope, engine, customer_id, draft.order_date)
    notice = None
    if verb == "auto":
        said, status, plan = _auto_change(session, scope, engine, draft, product, plan)
        if status != 200:
            message = said
        else:
            notice = said
            if product == "resume":
                draft = drafts.draft_of(suggestion, catalogue)
    context = _context(session, scope, engine, draft, key, plan)
    context |= {"message": message, "notice": notice}
    block = "body" if is_htmx(request) else None
    return render(request, "order.html", context, scope=scope, block=block, status=status)


def _auto_change(
    session: Any,
    scope: Scope,
    engine: OrderEngine,
    draft: drafts.Draft,
    action: str,
    plan: replenishment.AutoPlan | None,
) -> tuple[str, int, replenishment.AutoPlan | None]:
    """Apply a change of the automatic order; (message, status, the plan after)."""
    try:
        with session.begin_nested():
            if action == "save":
                drafts.check_sendable(draft)
            change = replenishment.check_auto_change(
                session,
                scope,
                engine,
                draft.customer_id,
                draft.order_date,
                action,
                [(line.product_id, line.quantity) for line in draft.lines],
            )
            replenishment.do_auto_change(session, scope, change)
    except SalescopeError as error:
        status, _ = classify(error)
        if status in (403, 404):
            raise
        return str(error), status, plan
    after = replenishment.check_auto_plan(
        session, scope, engine, draft.customer_id, draft.order_date
    )
    when = f"{change.cutoff_at:%A %-d %B at %H:%M} UTC"
    message = {
        "save": f"Saved: these {len(change.lines)} lines will be ordered on {when}.",
        "cancel": f"Cancelled: nothing will be ordered for {draft.order_date:%A %-d %B}.",
        "resume": f"Back on: the suggested order will be placed on {when}.",
    }[action]
    return message, 200, after


@router.get("/customers/{customer_id}/order/products")
def product_search(
    customer_id: str,
    request: Request,
    session: SessionDep,
    scope: PageScope,
    engine: EngineDep,
    q: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    """Products to add (htmx: the results under the search box)."""
    scope.require(Permission.ORDERS_PLACE)
    visible_customer(session, scope, customer_id)
    found = engine.catalogue().search(q, limit=15) if q.strip() else []
    return render(
        request,
        "order.html",
        {"found": found, "q": q},
        scope=scope,
        block="results",
    )


@router.get("/orders/{order_id}")
def order_placed(
    order_id: str, request: Request, session: SessionDep, scope: PageScope, engine: EngineDep
) -> Response:
    row = ordering.get_order(session, scope, order_id)
    catalogue = engine.catalogue()
    return render(
        request,
        "order_placed.html",
        {"order": row, "name": catalogue.name, "promotions": catalogue.promotions},
        scope=scope,
    )
