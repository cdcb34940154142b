"""The app's engine applies the acceptance calibration only once it is fitted, as the
``next-orders`` command and the demo do: before any feedback the engine's own gating of
novelties (``share_bar_``) decides, after it the calibrated acceptance does."""

from __future__ import annotations

from typing import Any

import pytest
from tests.orderworld import DELIVERY, TODAY, OrderWorld

from salescope.orders.acceptance import AcceptanceCalibrator
from salescope.services.calendar import Clock
from salescope.services.serving import OrderEngine
from salescope.storage.models import AcceptanceCalibration


def _spy(engine: OrderEngine, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    model = engine.live().model
    seen: list[Any] = []
    original = model.recommend

    def recommend(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("acceptance"))
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "recommend", recommend)
    return seen


def test_no_acceptance_before_feedback_and_the_calibration_after(
    order_world: OrderWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a fitted calibration the engine is asked with ``acceptance=None`` (alone and
    in the day's batch); with one, with the calibrator's ``apply``."""
    engine = OrderEngine(order_world.settings, order_world.db, Clock(TODAY), warm=False)
    seen = _spy(engine, monkeypatch)
    with order_world.db.session() as s:
        engine.suggestion(s, order_world.shop, DELIVERY)
    engine.compute_batch(engine.live(), DELIVERY, None)
    assert seen == [None, None]

    fitted = AcceptanceCalibrator().to_dict() | {"fitted": True, "outcomes": 50}
    with order_world.db.session() as s:
        s.add(AcceptanceCalibration(outcomes=50, parameters=fitted))
    seen.clear()
    with order_world.db.session() as s:
        suggestion = engine.suggestion(s, order_world.shop, DELIVERY)
        assert suggestion.calibration_id is not None
        engine.compute_batch(engine.live(), DELIVERY, suggestion.calibration_id)
    assert len(seen) == 2 and all(callable(a) for a in seen)
    assert all(getattr(a, "__self__", None).is_fitted for a in seen)  # type: ignore[union-attr]
