"""The model in use: trained from the data folder with the orders placed in the app merged
in, recorded, noticed by the app's engine; a failed training is recorded and changes
nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.orderworld import DELIVERY, EMAILS, TODAY, OrderWorld

from salescope.domain.errors import ConflictError, InputError
from salescope.orders.model import EngineParams
from salescope.services import models as service
from salescope.services.access import scope_of
from salescope.services.calendar import Clock
from salescope.services.ordering import OrderIn, OrderLineIn, check_order, do_place_order
from salescope.services.serving import OrderEngine
from salescope.storage.models import AuditEvent, ModelRun, User
from salescope.storage.tables import TableStore


def _place(world: OrderWorld, order_id: str) -> None:
    engine = OrderEngine(world.settings, world.db, Clock(TODAY), warm=False)
    with world.db.session() as session:
        user = session.scalar(sa.select(User).where(User.username == EMAILS["shop"]))
        assert user is not None
        scope = scope_of(user)
        order = OrderIn(world.shop, DELIVERY, (OrderLineIn("P0002", 4.0),), order_id)
        request = check_order(
            session, scope, engine.catalogue(), order, "key-" + order_id, today=TODAY
        )
        do_place_order(session, scope, engine.catalogue(), request)


def test_training_in_the_app_merges_placed_orders_and_becomes_the_model_in_use(
    order_world: OrderWorld,
) -> None:
    """The placed order joins the table store, the fitted engine is written to a run folder
    and recorded as ready with its cutoff and validation; the app's engine serves it at its
    next check."""
    settings = order_world.settings
    _place(order_world, "TRAIN-1")
    engine = OrderEngine(settings, order_world.db, Clock(TODAY), warm=False)
    before = engine.live().run_id
    result = service.do_train_app(
        settings, actor="admin@example.com", source="admin", params=EngineParams(seed=2)
    )
    assert result.merged.orders == 1
    orders = TableStore(settings.tables_dir).read("orders")
    assert orders is not None and "TRAIN-1" in orders["order_id"].to_list()
    assert result.folder.is_dir() and result.cutoff == DELIVERY + dt.timedelta(days=1)
    with order_world.db.session() as s:
        run = service.model_in_use(s)
        assert run is not None and run.id == result.run_id != before
        assert run.status == "ready" and run.cutoff == result.cutoff
        assert "recall@10" in run.summary["validation"]
        actions = s.scalars(
            sa.select(AuditEvent.action).where(AuditEvent.entity_type == "model_run")
        ).all()
    assert {"model.training", "model.trained"} <= set(actions)
    engine.reload(wait=30)
    assert engine.live().run_id == result.run_id
    sentences = service.describe_run(run, TODAY)
    assert any("learned from the orders before" in s for s in sentences)


def test_a_training_without_orders_is_refused_before_it_starts(
    order_world: OrderWorld, tmp_path: Path
) -> None:
    """A data folder whose table store holds no orders: InputError naming the folder, no
    run recorded."""
    empty = order_world.settings.model_copy(update={"data_dir": tmp_path / "empty"})
    with pytest.raises(InputError, match="no order lines"):
        service.check_train_app(empty)


def test_only_an_administrator_may_train(order_world: OrderWorld) -> None:
    """A manager's scope is refused the training; an administrator's is not."""
    from salescope.domain.errors import PermissionDeniedError

    with order_world.db.session() as s:
        manager = s.scalar(sa.select(User).where(User.username == EMAILS["lesnia"]))
        admin = s.scalar(sa.select(User).where(User.username == EMAILS["admin"]))
        assert manager is not None and admin is not None
        manager_scope, admin_scope = scope_of(manager), scope_of(admin)
    with pytest.raises(PermissionDeniedError):
        service.check_train_app(order_world.settings, manager_scope)
    service.check_train_app(order_world.settings, admin_scope)


def test_a_failed_training_is_recorded_and_the_model_in_use_stays(
    order_world: OrderWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An engine that fails: the run is recorded as failed with its message and audited; the
    model in use is still the previous one."""
    from salescope.orders import model as engine_module

    def broken(self: object, *args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(engine_module.NextOrderModel, "fit", broken)
    with order_world.db.session() as s:
        before = service.model_in_use_id(s)
    with pytest.raises(RuntimeError):
        service.do_train_app(order_world.settings, actor="cli", source="cli")
    with order_world.db.session() as s:
        failed = s.scalar(sa.select(ModelRun).where(ModelRun.status == "failed"))
        assert failed is not None and "boom" in (failed.message or "")
        assert service.model_in_use_id(s) == before
        assert (
            s.scalar(
                sa.select(sa.func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "model.failed")
            )
            == 1
        )


def test_two_trainings_at_once_are_refused(order_world: OrderWorld) -> None:
    """While a training runs in this process, another one is refused with a conflict."""
    service._TRAINING.acquire()
    try:
        with pytest.raises(ConflictError):
            service.check_train_app(order_world.settings)
        with pytest.raises(ConflictError):
            service.do_train_app(order_world.settings, actor="cli", source="cli")
    finally:
        service._TRAINING.release()
