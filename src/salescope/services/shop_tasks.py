"""Shop tasks: what the business asks a shop to do online — confirm a delivery window,
answer a short shelf survey, accept a promotion — and the shop's answer.

An administrator or the region's manager (``shops.manage``) gives a task to a shop in reach
(``check_new_task`` / ``do_create_task``); the shop answers it on its ordering page
(``check_answer`` / ``do_answer``: ``tasks.answer``, its own tasks only, once); its rep and its
region's manager read the tasks and the answers (``list_tasks``, through the one access rule
of ``ShopTask``). Every task given and answered is in the audit trail.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from salescope.domain.errors import ConflictError, FieldError
from salescope.domain.statuses import ShopTaskKind, ShopTaskStatus
from salescope.services.access import Permission, Scope, get_visible, visible, visible_customer
from salescope.services.serving import Catalogue
from salescope.storage import repositories as repo
from salescope.storage.models import ShopTask, utcnow

MAX_OPTIONS = 6
MAX_QUESTIONS = 8
MAX_TEXT = 200
WINDOW = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")
"""A delivery window: ``HH:MM-HH:MM``."""


@dataclass(frozen=True, slots=True)
class NewTask:
    customer_id: str
    region: str | None
    kind: ShopTaskKind
    title: str
    details: dict[str, Any]
    due_date: dt.date | None


def _lines(text: str, what: str, most: int) -> list[str]:
    items = [x.strip() for x in re.split(r"[\n;]", text) if x.strip()]
    if not items:
        raise FieldError(f"give at least one {what}", "details")
    if len(items) > most:
        raise FieldError(f"at most {most} {what}s", "details")
    for item in items:
        if len(item) > MAX_TEXT:
            raise FieldError(f"a {what} has at most {MAX_TEXT} characters", "details")
    return items


def check_new_task(
    session: Session,
    scope: Scope,
    catalogue: Catalogue,
    customer_id: str,
    kind: str,
    details: str,
    *,
    title: str = "",
    due_date: dt.date | None = None,
    today: dt.date,
) -> NewTask:
    """A task for a shop in reach (``shops.manage``). ``details``: the delivery windows
    offered (``08:00-10:00``, one a line), the survey's questions (one a line), or the
    promotion's id."""
    scope.require(Permission.SHOPS_MANAGE)
    customer = visible_customer(session, scope, customer_id)
    try:
        task_kind = ShopTaskKind(kind)
    except ValueError:
        raise FieldError(f"unknown task {kind!r}", "kind") from None
    if due_date is not None and due_date < today:
        raise FieldError(f"the due date {due_date} is past", "due_date")
    content: dict[str, Any]
    if task_kind is ShopTaskKind.DELIVERY_WINDOW:
        options = _lines(details, "delivery window", MAX_OPTIONS)
        for option in options:
            if not WINDOW.match(option.replace(" ", "")):
                raise FieldError(f"{option!r} is not a window like 08:00-10:00", "details")
        content = {"options": [o.replace(" ", "") for o in options]}
        default = "Confirm your delivery window"
    elif task_kind is ShopTaskKind.SURVEY:
        content = {"questions": _lines(details, "question", MAX_QUESTIONS)}
        default = "A short shelf survey"
    else:
        promotion_id = details.strip()
        promotion = catalogue.promotions.get(promotion_id)
        if promotion is None:
            raise FieldError(f"unknown promotion {promotion_id!r}", "details")
        content = {"promotion_id": promotion_id, "promotion": promotion.text}
        default = f"Take part in promotion {promotion_id}"
    title = title.strip()[:MAX_TEXT] or default
    return NewTask(customer.customer_id, customer.region, task_kind, title, content, due_date)


def do_create_task(session: Session, scope: Scope, new: NewTask) -> ShopTask:
    task = ShopTask(
        customer_id=new.customer_id,
        region=new.region,
        kind=new.kind.value,
        title=new.title,
        details=new.details,
        status=ShopTaskStatus.OPEN.value,
        due_date=new.due_date,
        created_by=scope.actor,
        answer={},
    )
    session.add(task)
    session.flush()
    repo.record_audit(
        session,
        scope.actor,
        "shop_task.created",
        "shop_task",
        task.id,
        {"customer_id": new.customer_id, "kind": new.kind.value, "title": new.title},
    )
    return task


@dataclass(frozen=True, slots=True)
class Answer:
    task: ShopTask
    status: ShopTaskStatus
    answer: dict[str, Any] = field(default_factory=dict)


def check_answer(session: Session, scope: Scope, task_id: int, form: Mapping[str, str]) -> Answer:
    """The shop's answer to one of its open tasks: the window chosen, an answer to every
    question, or the promotion accepted (``accept`` = yes) or declined."""
    scope.require(Permission.TASKS_ANSWER)
    task = get_visible(session, scope, ShopTask, task_id, what=f"task {task_id}")
    if task.status != ShopTaskStatus.OPEN.value:
        raise ConflictError(
            f"task {task_id} is already {ShopTaskStatus(task.status).label.lower()}"
        )
    kind = ShopTaskKind(task.kind)
    if kind is ShopTaskKind.DELIVERY_WINDOW:
        window = form.get("window", "")
        if window not in task.details.get("options", []):
            raise FieldError("choose one of the windows offered", "window")
        return Answer(task, ShopTaskStatus.DONE, {"window": window})
    if kind is ShopTaskKind.SURVEY:
        questions: Sequence[str] = task.details.get("questions", [])
        answers = []
        for i, _question in enumerate(questions):
            text = form.get(f"q{i}", "").strip()
            if not text:
                raise FieldError("answer every question", f"q{i}")
            answers.append(text[:MAX_TEXT])
        return Answer(task, ShopTaskStatus.DONE, {"answers": answers})
    accept = form.get("accept", "")
    if accept not in ("yes", "no"):
        raise FieldError("say yes or no", "accept")
    return Answer(
        task,
        ShopTaskStatus.DONE if accept == "yes" else ShopTaskStatus.DECLINED,
        {"accepted": accept == "yes"},
    )


def do_answer(session: Session, scope: Scope, answer: Answer) -> ShopTask:
    task = answer.task
    task.status = answer.status.value
    task.answer = answer.answer
    task.answered_by = scope.actor
    task.answered_at = utcnow()
    session.flush()
    repo.record_audit(
        session,
        scope.actor,
        "shop_task.answered",
        "shop_task",
        task.id,
        {"customer_id": task.customer_id, "status": answer.status.value, **answer.answer},
    )
    return task


def list_tasks(
    session: Session,
    scope: Scope,
    *,
    customer_id: str | None = None,
    region: str | None = None,
    limit: int = 200,
) -> list[ShopTask]:
    """The tasks in the caller's reach (of a customer, of a region), open first, then the
    newest."""
    scope.require(Permission.ORDERS_READ)
    scope.require_region(region)
    query = sa.select(ShopTask).where(visible(scope, ShopTask))
    if customer_id:
        visible_customer(session, scope, customer_id)
        query = query.where(ShopTask.customer_id == customer_id)
    if region:
        query = query.where(ShopTask.region == region)
    query = query.order_by(
        (ShopTask.status != ShopTaskStatus.OPEN.value), ShopTask.id.desc()
    ).limit(limit)
    return list(session.scalars(query))


def describe_answer(task: ShopTask) -> str:
    """The answer in words, for the rep and the manager."""
    answer = task.answer or {}
    if "window" in answer:
        return f"delivery between {answer['window']}"
    if "answers" in answer:
        questions = task.details.get("questions", [])
        return "; ".join(f"{q} {a}" for q, a in zip(questions, answer["answers"], strict=False))
    if "accepted" in answer:
        return "accepted" if answer["accepted"] else "declined"
    return ""
