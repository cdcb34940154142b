"""The administrator's Models page: the model in use (its date and validation), the feedback
in force, the latest trainings, and "Train now"."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from salescope.services import models as service
from salescope.web.background import Trainer
from salescope.web.deps import ClockDep, EngineDep, PageScope, SessionDep, SettingsDep
from salescope.web.ui.render import is_htmx, render

router = APIRouter()


def _trainer(request: Request) -> Trainer:
    trainer: Trainer = request.app.state.trainer
    return trainer


@router.get("/models")
def models_page(
    request: Request,
    session: SessionDep,
    scope: PageScope,
    clock: ClockDep,
    engine: EngineDep,
    settings: SettingsDep,
) -> Response:
    overview = service.models_overview(session, scope, clock.today())
    trainer = _trainer(request)
    context = {
        "o": overview,
        "running": trainer.running or overview.training is not None,
        "last_error": trainer.last_error,
        "train_at": settings.train_at,
        "cached": engine.cached(),
        "today": clock.today(),
    }
    block = "status" if is_htmx(request) else None
    return render(request, "models.html", context, scope=scope, block=block)


@router.post("/models/train")
def train_now(request: Request, scope: PageScope, settings: SettingsDep) -> Response:
    """Start a training in the background (the page shows it running)."""
    service.check_train_app(settings, scope)
    _trainer(request).start(actor=scope.actor, source="admin")
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": "/models?started=1"})
    return RedirectResponse("/models?started=1", status_code=303)
