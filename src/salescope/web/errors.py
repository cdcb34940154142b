"""Errors as answers: JSON ``{"error": {code, message, field}}`` on the API, a page (or an
htmx fragment) in the app. No traceback ever reaches a user: an unexpected error is logged
with a reference, and the user gets the reference."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, RedirectResponse, Response

from salescope.domain.errors import (
    AuthenticationError,
    ConflictError,
    FieldError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    SalescopeError,
    UnavailableError,
)

log = logging.getLogger("salescope.web")


class LoginRequired(Exception):  # noqa: N818 (a signal, not an error)
    """A page needs a signed-in user: answered with a redirect to the sign-in page."""


STATUS: list[tuple[type[Exception], int, str]] = [
    (AuthenticationError, 401, "unauthenticated"),
    (PermissionDeniedError, 403, "forbidden"),
    (NotFoundError, 404, "not_found"),
    (ConflictError, 409, "conflict"),
    (FieldError, 422, "invalid"),
    (InputError, 422, "invalid"),
    (RateLimitedError, 429, "rate_limited"),
    (UnavailableError, 503, "unavailable"),
]


def classify(error: Exception) -> tuple[int, str]:
    for kind, status, code in STATUS:
        if isinstance(error, kind):
            return status, code
    return 400, "bad_request"


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}


def _page(request: Request, status: int, message: str) -> Response:
    templates = request.app.state.templates
    context = {"status": status, "message": message}
    if request.headers.get("HX-Request"):
        response: Response = templates.TemplateResponse(
            request, "error.html", context, status_code=status, block_name="message"
        )
        return response
    page: Response = templates.TemplateResponse(request, "error.html", context, status_code=status)
    return page


def answer(request: Request, status: int, code: str, message: str, field: str | None) -> Response:
    if is_api(request):
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(error_body(code, message, field), status_code=status, headers=headers)
    return _page(request, status, message)


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(SalescopeError)
    async def _known(request: Request, error: SalescopeError) -> Response:
        status, code = classify(error)
        field = getattr(error, "field", None)
        if isinstance(error, InputError):
            field = error.issues[0].column
        return answer(request, status, code, str(error), field)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _error: LoginRequired) -> Response:
        target = "/login"
        if request.method == "GET" and request.url.path not in ("/", "/login"):
            from urllib.parse import quote

            target += "?next=" + quote(request.url.path, safe="/")
        if request.headers.get("HX-Request"):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> Response:
        first = error.errors()[0] if error.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
        field = ".".join(loc) or None
        message = str(first.get("msg", "invalid request"))
        if field:
            message = f"{field}: {message}"
        return answer(request, 422, "invalid", message, field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> Response:
        codes = {
            401: "unauthenticated",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
        }
        code = codes.get(error.status_code, "http_error")
        message = str(error.detail) if error.detail else code.replace("_", " ")
        if error.status_code == 404:
            message = "no such page or resource"
        return answer(request, error.status_code, code, message, None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> Response:
        reference = secrets.token_hex(4)
        log.error(
            "unexpected error %s on %s %s",
            reference,
            request.method,
            request.url.path,
            exc_info=error,
        )
        message = f"an unexpected error happened (reference {reference}); it has been logged"
        return answer(request, 500, "internal", message, None)
