"""``create_app(settings)``: the FastAPI app of the pages and the API.

Nothing is built at import time: ``salescope serve`` (or a test) builds the settings, the
database and the app, and passes them down.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from jinja2_fragments.fastapi import Jinja2Blocks
from markupsafe import Markup
from starlette.responses import Response

from salescope import __version__
from salescope.config import Settings
from salescope.domain.statuses import (
    AutoOrderStatus,
    InteractionMode,
    LineKind,
    LineOutcome,
    ModelRunStatus,
    OrderChannel,
    Recommendation,
    RecommendationStatus,
    ShopTaskStatus,
    UserRole,
    VisitStatus,
)
from salescope.services.calendar import Clock
from salescope.services.database import open_database
from salescope.services.serving import OrderEngine
from salescope.services.users import password_hasher
from salescope.storage.db import Database
from salescope.web import errors
from salescope.web.security import SECURITY_HEADERS, app_secret, expected_csrf

HERE = Path(__file__).resolve().parent

VOCABULARIES: dict[str, Any] = {
    "status": RecommendationStatus,
    "visit": VisitStatus,
    "role": UserRole,
    "mode": InteractionMode,
    "recommendation": Recommendation,
    "model": ModelRunStatus,
    "channel": OrderChannel,
    "auto": AutoOrderStatus,
    "task": ShopTaskStatus,
    "outcome": LineOutcome,
    "kind": LineKind,
}
GREY = "#78909c"


def badge(value: str | None, vocabulary: str) -> dict[str, str]:
    """Label and colour of ``value`` in one of the vocabularies, the same on every screen."""
    if value is None:
        return {"label": "—", "colour": GREY}
    enum = VOCABULARIES[vocabulary]
    member = enum.__members__.get(value.upper()) if isinstance(value, str) else None
    if member is None:
        member = next((m for m in enum if m.value == value), None)
    label = getattr(member, "label", None) or str(value).replace("_", " ").capitalize()
    colour = getattr(member, "colour", None) or GREY
    return {"label": label, "colour": colour}


def badge_html(value: str | None, vocabulary: str) -> Markup:
    """The badge of ``value``: its label on its colour (label escaped)."""
    b = badge(value, vocabulary)
    return Markup('<span class="badge" style="background: {}">{}</span>').format(
        b["colour"], b["label"]
    )


def money(value: Any) -> str:
    if not isinstance(value, int | float) or math.isnan(value):
        return "—"
    if abs(value) >= 1e6:
        return f"{value / 1e6:,.1f} M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:,.0f} k"
    return f"{value:,.0f}"


def money2(value: Any) -> str:
    """A price or an order's amount, to the cent."""
    if not isinstance(value, int | float) or math.isnan(value):
        return "—"
    return f"{value:,.2f}"


def pct(value: Any) -> str:
    return (
        f"{100 * value:.0f} %" if isinstance(value, int | float) and not math.isnan(value) else "—"
    )


def number(value: Any, digits: int = 1) -> str:
    if not isinstance(value, int | float) or math.isnan(value):
        return "—"
    return f"{value:,.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:,.0f}"


def templates() -> Jinja2Blocks:
    engine = Jinja2Blocks(directory=str(HERE / "templates"))
    env = engine.env
    env.autoescape = True  # every template, whatever its name
    env.globals.update(
        badge_of=badge, badge_html=badge_html, version=__version__, InteractionMode=InteractionMode
    )
    env.filters.update(money=money, money2=money2, pct=pct, number=number)
    return engine


def create_app(
    settings: Settings,
    database: Database | None = None,
    *,
    background: bool = False,
    clock: Clock | None = None,
) -> FastAPI:
    """The app over ``settings``' database (migrated if behind) and data directory.

    With ``background`` (``salescope serve``) the suggestions of a day are computed together
    in the background, and the scheduler runs (automatic orders at their cut-off, the daily
    training)."""
    from fastapi import Depends

    from salescope.web import api, ui
    from salescope.web.background import Scheduler, Trainer, automatic_orders, daily_training
    from salescope.web.deps import csrf_protect

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        scheduler: Scheduler | None = None
        if background:
            scheduler = Scheduler(
                app.state.clock,
                [
                    daily_training(settings, app.state.db, app.state.trainer),
                    automatic_orders(app.state.db, app.state.orders),
                ],
            )
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="Salescope",
        version=__version__,
        description=(
            "Suggested orders and orders placed; coverage review, field verification and "
            "decisions; see CONTRACTS.md."
        ),
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.db = database or open_database(settings)
    app.state.hasher = password_hasher(settings)
    app.state.secret = app_secret(settings)
    app.state.templates = templates()
    app.state.clock = clock or Clock.from_settings(settings)
    app.state.orders = OrderEngine(settings, app.state.db, app.state.clock, warm=background)
    app.state.trainer = Trainer(settings, app.state.orders)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for router in api.ROUTERS:
        app.include_router(router, prefix=api.PREFIX)
    for router in ui.ROUTERS:
        app.include_router(router, include_in_schema=False, dependencies=[Depends(csrf_protect)])
    errors.install(app)

    body_limit = settings.upload_max_bytes + 1_000_000  # a photo and its form

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        length = request.headers.get("content-length", "0")
        if not length.isdigit() or int(length) > body_limit:
            message = f"the request is larger than {body_limit / 1e6:.0f} MB"
            response: Response = errors.answer(request, 413, "too_large", message, None)
        else:
            response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.get("/healthz", tags=["health"], summary="Liveness (no key needed)")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    app.state.expected_csrf = expected_csrf
    return app
