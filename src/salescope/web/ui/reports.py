"""The orders report: acceptance of the pre-filled lines and of the novelties, orders placed
online, the uplift of the novelties against the holdout."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from salescope.services import dashboard, uplift
from salescope.web.deps import ClockDep, PageScope, SessionDep, SettingsDep
from salescope.web.ui.render import render

router = APIRouter()


@router.get("/reports/orders")
def orders_report(
    request: Request,
    session: SessionDep,
    scope: PageScope,
    settings: SettingsDep,
    clock: ClockDep,
    region: Annotated[str | None, Query(max_length=64)] = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> Response:
    until = until or clock.today() + dt.timedelta(days=7)
    since = since or until - dt.timedelta(days=35)
    report = uplift.orders_report(
        session, scope, settings, since=since, until=until, region=region or None
    )
    regions = dashboard.regions_of(session, scope)
    return render(
        request,
        "reports_orders.html",
        {"r": report, "regions": regions, "bootstrap": f"{uplift.BOOTSTRAP:,}"},
        scope=scope,
    )
