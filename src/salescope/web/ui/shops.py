"""Shop users: the administrator's or the region's manager's list and invitations, and the
invitation link where a shop chooses its password."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from salescope.domain.errors import SalescopeError
from salescope.services import invitations, users
from salescope.web.deps import HasherDep, PageScope, SessionDep, SettingsDep
from salescope.web.errors import classify
from salescope.web.security import (
    PRE_COOKIE,
    SESSION_COOKIE,
    csrf_for,
    set_pre_cookie,
    set_session_cookie,
)
from salescope.web.ui.render import render

router = APIRouter()


@router.get("/shops")
def shops_page(request: Request, session: SessionDep, scope: PageScope) -> Response:
    rows = invitations.list_shop_users(session, scope)
    return render(request, "shops.html", {"rows": rows}, scope=scope)


@router.post("/shops/invite")
def invite(
    request: Request,
    session: SessionDep,
    scope: PageScope,
    hasher: HasherDep,
    customer_id: Annotated[str, Form(max_length=64)],
    email: Annotated[str, Form(max_length=254)],
    full_name: Annotated[str, Form(max_length=150)] = "",
) -> Response:
    """Invite a shop user; the link is shown once, to hand over."""
    link, message, status = None, None, 200
    try:
        with session.begin_nested():
            new = invitations.check_invite(session, scope, customer_id, email, full_name)
            user, token = invitations.do_invite(session, scope, new, hasher)
        link = str(request.base_url).rstrip("/") + f"/invite/{token}"
        message = f"{user.username} is invited for customer {user.customer_id}."
    except SalescopeError as error:
        status, _ = classify(error)
        if status in (403, 404):
            raise
        message = str(error)
    rows = invitations.list_shop_users(session, scope)
    context = {"rows": rows, "link": link, "message": message, "failed": status != 200}
    return render(request, "shops.html", context, scope=scope, status=status)


def _invite_page(
    request: Request, token: str, message: str | None, status: int = 200, email: str = ""
) -> Response:
    pre = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)
    csrf = csrf_for(request.app.state.secret, request.cookies.get(SESSION_COOKIE) or pre)
    response = render(
        request,
        "invite.html",
        {"token": token, "message": message, "invite_csrf": csrf, "email": email},
        status=status,
    )
    if not request.cookies.get(SESSION_COOKIE) and request.cookies.get(PRE_COOKIE) != pre:
        set_pre_cookie(response, pre, request.app.state.settings)
    return response


@router.get("/invite/{token}")
def invitation_page(token: str, request: Request, session: SessionDep) -> Response:
    invitation = invitations.check_invitation(session, token[:100])
    return _invite_page(request, token, None, email=invitation.user.username)


@router.post("/invite/{token}")
def accept(
    token: str,
    request: Request,
    session: SessionDep,
    hasher: HasherDep,
    settings: SettingsDep,
    password: Annotated[str, Form(max_length=1024)],
) -> Response:
    """Choose the password; signed in, the shop lands on its order."""
    try:
        with session.begin_nested():
            user = invitations.do_accept(session, hasher, token[:100], password)
    except SalescopeError as error:
        status, _ = classify(error)
        if status == 404:
            raise
        return _invite_page(request, token, str(error), status)
    ip = request.client.host if request.client else None
    session_token = users.create_session(
        session,
        user,
        hours=settings.session_hours,
        ip=ip,
        user_agent=request.headers.get("user-agent"),
    )
    response = RedirectResponse("/order", status_code=303)
    set_session_cookie(response, session_token, settings)
    return response
