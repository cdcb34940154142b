"""Sign-in and sign-out. A new session on every sign-in (no session fixation); the CSRF token
of the sign-in form is bound to a pre-session cookie."""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from salescope.domain.errors import AuthenticationError, RateLimitedError
from salescope.domain.statuses import UserRole
from salescope.services import users
from salescope.web.deps import HasherDep, SessionDep, SettingsDep
from salescope.web.security import (
    PRE_COOKIE,
    SESSION_COOKIE,
    clear_session_cookie,
    csrf_for,
    set_pre_cookie,
    set_session_cookie,
)
from salescope.web.ui.render import render

router = APIRouter()


def home_of(role: UserRole) -> str:
    if role.field:
        return "/tasks"
    if role is UserRole.SHOP:
        return "/order"
    return "/dashboard"


def safe_next(target: str | None) -> str | None:
    """A local path to go back to after signing in (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc or "\\" in target else target


def _login_page(
    request: Request, message: str | None, next_: str | None, status: int = 200
) -> Response:
    pre = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)
    token = csrf_for(request.app.state.secret, request.cookies.get(SESSION_COOKIE) or pre)
    response = render(
        request,
        "login.html",
        {"message": message, "next": safe_next(next_) or "", "login_csrf": token},
        status=status,
    )
    if not request.cookies.get(SESSION_COOKIE) and request.cookies.get(PRE_COOKIE) != pre:
        set_pre_cookie(response, pre, request.app.state.settings)
    return response


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    return _login_page(request, None, next)


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    hasher: HasherDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    ip = request.client.host if request.client else None
    try:
        user = users.authenticate(
            session, hasher, email, password, ip=ip, max_failures=settings.login_max_failures
        )
    except (AuthenticationError, RateLimitedError) as error:
        status = 429 if isinstance(error, RateLimitedError) else 401
        return _login_page(request, str(error), next, status)
    users.revoke_session(session, request.cookies.get(SESSION_COOKIE))
    users.purge_sessions(session)
    token = users.create_session(
        session,
        user,
        hours=settings.session_hours,
        ip=ip,
        user_agent=request.headers.get("user-agent"),
    )
    response = RedirectResponse(safe_next(next) or home_of(UserRole(user.role)), status_code=303)
    set_session_cookie(response, token, settings)
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    users.revoke_session(session, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response, settings)
    return response
