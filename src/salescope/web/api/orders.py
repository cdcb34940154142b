"""Orders: a customer's suggested order for a date, the orders placed (``Idempotency-Key``:
a retried request never places an order twice), and reading them back."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response

from salescope.domain.statuses import OrderChannel
from salescope.services import ordering as service
from salescope.web.api.schemas import (
    ERRORS,
    ErrorBody,
    OrderIn,
    OrderOut,
    OrderPage,
    SuggestedOrderOut,
)
from salescope.web.deps import ApiReadScope, ApiScope, EngineDep, ReadSessionDep, SessionDep

router = APIRouter(tags=["orders"], responses=ERRORS)

CustomerPath = Annotated[str, Path(min_length=1, max_length=64)]


@router.get(
    "/customers/{customer_id}/suggested-order",
    response_model=SuggestedOrderOut,
    summary="The suggested order of a customer for a date (default: the next delivery date)",
    responses={503: {"model": ErrorBody, "description": "No model trained yet"}},
)
def suggested_order(
    customer_id: CustomerPath,
    session: ReadSessionDep,
    scope: ApiReadScope,
    engine: EngineDep,
    date: dt.date | None = None,
) -> SuggestedOrderOut:
    suggestion = service.check_suggested(
        session, scope, engine, customer_id, date, writer=engine.database
    )
    return SuggestedOrderOut.of(suggestion)


@router.post(
    "/orders",
    response_model=OrderOut,
    status_code=201,
    summary="The order a customer placed: stored, matched against its proposal",
    responses={
        200: {"model": OrderOut, "description": "A replay: the order stored by this key"},
        409: {"model": ErrorBody, "description": "Key or order id used for another order"},
    },
)
def place_order(
    body: OrderIn,
    session: SessionDep,
    scope: ApiScope,
    engine: EngineDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> OrderOut:
    order = service.OrderIn(
        customer_id=body.customer_id,
        order_date=body.order_date,
        lines=tuple(
            service.OrderLineIn(line.product_id, line.quantity, line.unit_price)
            for line in body.lines
        ),
        order_id=body.order_id,
        channel=OrderChannel.API,
    )
    catalogue = engine.catalogue()
    request = service.check_order(
        session, scope, catalogue, order, idempotency_key, today=engine.clock.today()
    )
    row, created = service.do_place_order(session, scope, catalogue, request)
    if not created:
        response.status_code = 200
    return OrderOut.of(row)


@router.get("/orders", response_model=OrderPage, summary="Orders placed, in reach")
def list_orders(
    session: SessionDep,
    scope: ApiScope,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    region: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> OrderPage:
    rows, next_cursor = service.list_orders(
        session, scope, customer_id=customer_id, region=region, limit=limit, cursor=cursor
    )
    return OrderPage(items=[OrderOut.of(r) for r in rows], next_cursor=next_cursor)


@router.get("/orders/{order_id}", response_model=OrderOut, summary="One order placed")
def get_order(
    order_id: Annotated[str, Path(min_length=1, max_length=64)],
    session: SessionDep,
    scope: ApiScope,
) -> OrderOut:
    return OrderOut.of(service.get_order(session, scope, order_id))
