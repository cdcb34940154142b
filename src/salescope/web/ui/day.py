"""The rep's day (phone-sized, printable): today's visits with each customer's probable
order, and the button that takes it as the order of the visit."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from salescope.services import day as service
from salescope.web.deps import EngineDep, PageScope, SessionDep
from salescope.web.ui.render import render

router = APIRouter()


@router.get("/day")
def day_page(
    request: Request,
    session: SessionDep,
    scope: PageScope,
    engine: EngineDep,
    rep_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    plan = service.plan_day(session, scope, engine, rep_id)
    reps = [] if scope.role.field else service.reps_in_reach(session, scope)
    return render(request, "day.html", {"day": plan, "reps": reps}, scope=scope)
