"""Typed dependencies of routes: the request's database session (one transaction, committed
before the answer is sent), the caller's ``Scope`` from an API key or the session cookie, and
the CSRF check of the pages' state-changing requests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from argon2 import PasswordHasher
from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from salescope.config import Settings
from salescope.domain.errors import AuthenticationError, PermissionDeniedError
from salescope.services import keys, users
from salescope.services.access import Scope, scope_of
from salescope.services.calendar import Clock
from salescope.services.serving import OrderEngine
from salescope.storage.db import Database
from salescope.web.errors import LoginRequired
from salescope.web.security import CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, UNSAFE_METHODS, csrf_ok


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_hasher(request: Request) -> PasswordHasher:
    hasher: PasswordHasher = request.app.state.hasher
    return hasher


def get_session(request: Request) -> Iterator[Session]:
    """A session in one transaction: committed when the route returns, rolled back if it
    raises (the error handlers answer)."""
    database: Database = request.app.state.db
    with database.session() as session:
        yield session


def get_read_session(request: Request) -> Iterator[Session]:
    """A read-only session (routes that only read: on SQLite it does not take the write
    lock, so that concurrent readers do not queue behind each other)."""
    database: Database = request.app.state.db
    with database.session(readonly=True) as session:
        yield session


def get_engine(request: Request) -> OrderEngine:
    engine: OrderEngine = request.app.state.orders
    return engine


def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[OrderEngine, Depends(get_engine)]
ClockDep = Annotated[Clock, Depends(get_clock)]
HasherDep = Annotated[PasswordHasher, Depends(get_hasher)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]


def api_scope(session: SessionDep, authorization: Annotated[str | None, Header()] = None) -> Scope:
    """The caller of an API route: ``Authorization: Bearer <key>``; 401 otherwise."""
    if not authorization:
        raise AuthenticationError("this route needs Authorization: Bearer <API key>")
    kind, _, token = authorization.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise AuthenticationError("this route needs Authorization: Bearer <API key>")
    key, user = keys.resolve_key(session, token.strip())
    return scope_of(user, key.scopes)


def api_read_scope(
    request: Request,
    session: ReadSessionDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Scope:
    """``api_scope`` for the routes that only read: the key's last use is written apart, in
    a short transaction of its own, when it is due (once a minute)."""
    if not authorization:
        raise AuthenticationError("this route needs Authorization: Bearer <API key>")
    kind, _, token = authorization.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise AuthenticationError("this route needs Authorization: Bearer <API key>")
    key, user = keys.resolve_key(session, token.strip(), touch=False)
    if keys.touch_due(key):
        database: Database = request.app.state.db
        database.transaction(lambda s: keys.touch_key(s, key.key_id))
    return scope_of(user, key.scopes)


def page_scope(request: Request, session: SessionDep) -> Scope:
    """The signed-in user of a page; a redirect to the sign-in page otherwise."""
    found = users.resolve_session(session, request.cookies.get(SESSION_COOKIE))
    if found is None:
        raise LoginRequired
    return scope_of(found[1])


async def csrf_protect(request: Request) -> None:
    """Refuse a state-changing page request without the right CSRF token."""
    if request.method not in UNSAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    if not csrf_ok(request, sent):
        raise PermissionDeniedError(
            "the form's security token is missing or wrong: reload the page and try again"
        )


ApiScope = Annotated[Scope, Depends(api_scope)]
ApiReadScope = Annotated[Scope, Depends(api_read_scope)]
PageScope = Annotated[Scope, Depends(page_scope)]
