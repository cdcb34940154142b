"""The administrator's Models page: the model in use with its date and validation, the
feedback in force, the trainings; "Train now" trains in the background and the new model is
then in use; nobody else may see or train."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from salescope.storage.models import ModelRun
from tests.orderworld import OrderWorld
from tests.web.conftest import Browser


def test_the_admin_sees_the_model_in_use_its_date_and_validation(
    order_browser: Callable[[str], Browser], order_world: OrderWorld
) -> None:
    """Model 1 in use, learned from the orders before 2024-09-01, with the Recall@10 of
    each ranking, the feedback in force and the runs."""
    admin = order_browser("admin")
    page = admin.get("/models")
    assert page.status_code == 200  # type: ignore[attr-defined]
    text = page.text  # type: ignore[attr-defined]
    assert "learned from the orders before 2024-09-01" in text
    assert 'id="validation"' in text and "Recall@10" in text
    assert "No feedback yet" in text and "Train now" in text


def test_train_now_trains_in_the_background_and_the_new_model_serves(
    order_browser: Callable[[str], Browser], order_world: OrderWorld
) -> None:
    """The admin's "Train now": a new ready run, audited, which the page then shows in use."""
    admin = order_browser("admin")
    response = admin.post("/models/train", follow_redirects=False)
    assert response.status_code == 303  # type: ignore[attr-defined]
    trainer = admin.client.app.state.trainer  # type: ignore[attr-defined]
    trainer.join(120)
    assert trainer.last_error is None
    with order_world.db.session() as s:
        runs = s.scalars(sa.select(ModelRun).order_by(ModelRun.id)).all()
        assert [(r.status, r.source) for r in runs] == [("ready", "test"), ("ready", "admin")]
    page = admin.get("/models").text  # type: ignore[attr-defined]
    assert "Model 2, trained" in page


def test_nobody_but_the_admin_sees_or_trains_models(
    order_browser: Callable[[str], Browser], order_world: OrderWorld
) -> None:
    """A manager, a director, a rep and a shop get 403 on the page and on training; no run
    is started."""
    for who in ("lesnia", "director", "rep", "shop"):
        user = order_browser(who)
        assert user.get("/models").status_code == 403, who  # type: ignore[attr-defined]
        assert user.post("/models/train").status_code == 403, who  # type: ignore[attr-defined]
    with order_world.db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(ModelRun)) == 1
