"""The shops served online: their automatic orders and the tasks the business gives them
(given here by an administrator or the region's manager; answered by the shop on its
ordering page)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from salescope.domain.errors import SalescopeError
from salescope.domain.statuses import ShopTaskKind
from salescope.services import dashboard, online, shop_tasks
from salescope.web.deps import EngineDep, PageScope, SessionDep
from salescope.web.errors import classify
from salescope.web.ui.render import render

router = APIRouter()


def _page(
    request: Request,
    session: Any,
    scope: Any,
    engine: Any,
    region: str | None,
    extra: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    shops = online.online_shops(session, scope, engine, region)
    context = {
        "o": shops,
        "regions": dashboard.regions_of(session, scope),
        "kinds": list(ShopTaskKind),
        "describe_answer": shop_tasks.describe_answer,
        "today": engine.clock.today(),
        **(extra or {}),
    }
    return render(request, "online.html", context, scope=scope, status=status)


@router.get("/online")
def online_page(
    request: Request,
    session: SessionDep,
    scope: PageScope,
    engine: EngineDep,
    region: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    return _page(request, session, scope, engine, region or None)


@router.post("/online/tasks")
def give_task(
    request: Request,
    session: SessionDep,
    scope: PageScope,
    engine: EngineDep,
    customer_id: Annotated[str, Form(max_length=64)],
    kind: Annotated[str, Form(max_length=32)],
    details: Annotated[str, Form(max_length=2000)] = "",
    title: Annotated[str, Form(max_length=200)] = "",
    due_date: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Give a shop a task; the page again with what was done or what is wrong."""
    message, failed, status = None, False, 200
    try:
        with session.begin_nested():
            due = dt.date.fromisoformat(due_date) if due_date.strip() else None
            new = shop_tasks.check_new_task(
                session,
                scope,
                engine.catalogue(),
                customer_id.strip(),
                kind,
                details,
                title=title,
                due_date=due,
                today=engine.clock.today(),
            )
            task = shop_tasks.do_create_task(session, scope, new)
        message = f"Task {task.id} given to {task.customer_id}: {task.title}."
    except ValueError:
        message, failed, status = f"{due_date!r} is not a date", True, 422
    except SalescopeError as error:
        status, _ = classify(error)
        if status in (403, 404):
            raise
        message, failed = str(error), True
    return _page(
        request, session, scope, engine, None, {"message": message, "failed": failed}, status
    )


@router.post("/shop-tasks/{task_id}/answer")
async def answer_task(
    task_id: int, request: Request, session: SessionDep, scope: PageScope
) -> Response:
    """The shop's answer; back to its ordering page."""
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    answer = shop_tasks.check_answer(session, scope, task_id, values)
    task = shop_tasks.do_answer(session, scope, answer)
    return RedirectResponse(f"/customers/{task.customer_id}/order#task-{task.id}", 303)
