"""Cookies, CSRF tokens and the app's secret.

* The session cookie holds a random token (``services.users``); HttpOnly, SameSite=Lax,
  Secure behind TLS (``SALESCOPE_COOKIE_SECURE``).
* CSRF: every state-changing request of a browser carries a token — the ``csrf_token`` form
  field or the ``X-CSRF-Token`` header that htmx sends — equal to an HMAC of the session's
  token under the app's secret (before sign-in, of a random pre-session cookie). A page of
  another site can neither read nor compute it. API calls with a Bearer key carry no cookie and
  need no token.
* The secret comes from ``SALESCOPE_SECRET_KEY`` or is generated once into
  ``<data_dir>/secret_key`` (mode 0600); it is never in the repository.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from fastapi import Request
from starlette.responses import Response

from salescope.config import Settings

SESSION_COOKIE = "salescope_session"
PRE_COOKIE = "salescope_pre"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def app_secret(settings: Settings) -> bytes:
    """The secret of ``settings``, or the one generated into the data directory."""
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        return settings.secret_key.get_secret_value().encode()
    path: Path = settings.data_dir / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip().encode()


def csrf_for(secret: bytes, anchor: str) -> str:
    return hmac.new(secret, f"csrf:{anchor}".encode(), hashlib.sha256).hexdigest()


def csrf_anchor(request: Request) -> str | None:
    """What the request's CSRF token is bound to: the session cookie, else the pre-session."""
    return request.cookies.get(SESSION_COOKIE) or request.cookies.get(PRE_COOKIE)


def expected_csrf(request: Request) -> str | None:
    anchor = csrf_anchor(request)
    secret: bytes = request.app.state.secret
    return csrf_for(secret, anchor) if anchor else None


def csrf_ok(request: Request, sent: str | None) -> bool:
    expected = expected_csrf(request)
    return bool(expected and sent and hmac.compare_digest(expected, sent))


def set_session_cookie(response: Response, token: str, settings: Settings) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    response.delete_cookie(PRE_COOKIE, path="/")


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=settings.cookie_secure
    )


def set_pre_cookie(response: Response, value: str, settings: Settings) -> None:
    response.set_cookie(
        PRE_COOKIE,
        value,
        max_age=3600,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )


SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
        "form-action 'self'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
