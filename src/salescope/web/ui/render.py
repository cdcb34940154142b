"""Rendering a page or, for an htmx request, one of its blocks."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import Response

from salescope.services.access import Scope
from salescope.web.security import expected_csrf


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    scope: Scope | None = None,
    block: str | None = None,
    status: int = 200,
) -> Response:
    """``template`` with the common context (the caller, the CSRF token); only ``block`` when
    given (htmx swaps)."""
    templates = request.app.state.templates
    full = {"me": scope, "csrf": expected_csrf(request) or "", **context}
    if block is not None:
        return templates.TemplateResponse(  # type: ignore[no-any-return]
            request, template, full, status_code=status, block_name=block
        )
    return templates.TemplateResponse(request, template, full, status_code=status)  # type: ignore[no-any-return]


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"
