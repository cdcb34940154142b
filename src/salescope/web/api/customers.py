"""``GET /api/v1/customers``: the customers the caller may see."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from salescope.services.dashboard import list_customers
from salescope.web.api.schemas import ERRORS, CustomerOut, CustomerPage
from salescope.web.deps import ApiScope, SessionDep

router = APIRouter(tags=["customers"], responses=ERRORS)


@router.get("/customers", response_model=CustomerPage, summary="Customers the caller may see")
def customers(
    session: SessionDep,
    scope: ApiScope,
    region: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> CustomerPage:
    rows, next_cursor = list_customers(
        session, scope, region=region, status=status, limit=limit, cursor=cursor
    )
    return CustomerPage(items=[CustomerOut.of(c) for c in rows], next_cursor=next_cursor)
