"""Automatic replenishment: the proposal of a shop in automatic mode becomes an order at the
cut-off (16:00 UTC the working day before delivery) unless the shop edits or cancels it
first; placing is idempotent and audited; nobody changes it after the cut-off or out of
reach."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import selectinload
from tests.cli_runner import run
from tests.orderworld import DELIVERY, EMAILS, TODAY, OrderWorld

from salescope.domain.errors import ConflictError, FieldError, PermissionDeniedError
from salescope.domain.statuses import AutoOrderStatus
from salescope.services.access import Scope, scope_of
from salescope.services.calendar import Clock
from salescope.services.replenishment import (
    check_auto_change,
    check_auto_plan,
    do_auto_change,
    do_place_due,
)
from salescope.services.serving import OrderEngine
from salescope.storage.models import AuditEvent, AutoOrder, PlacedOrder, User


def at(hour: int, minute: int = 0, day: dt.date = TODAY) -> Clock:
    """A clock whose now is ``day`` at ``hour:minute`` UTC."""
    moment = dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC)
    return Clock(shift=moment - dt.datetime.now(dt.UTC))


def engine_at(world: OrderWorld, clock: Clock) -> OrderEngine:
    return OrderEngine(world.settings, world.db, clock, warm=False)


def scope(world: OrderWorld, who: str) -> Scope:
    with world.db.session() as s:
        user = s.scalar(sa.select(User).where(User.username == EMAILS[who]))
        assert user is not None
        return scope_of(user)


def placed(world: OrderWorld) -> list[PlacedOrder]:
    """The orders placed for the automatic shop of the tests (other shops of the small
    company are in automatic mode too)."""
    with world.db.session() as s:
        return list(
            s.scalars(
                sa.select(PlacedOrder)
                .options(selectinload(PlacedOrder.lines))
                .where(PlacedOrder.customer_id == world.trained.auto)
                .order_by(PlacedOrder.id)
            )
        )


def test_the_proposal_is_ordered_at_the_cut_off_once(order_world: OrderWorld) -> None:
    """At 10:00 the shop sees Tuesday's order due at 16:00 and nothing is placed; at 16:05
    the proposal is placed (channel automatic, every line accepted) and audited; a second
    pass (the scheduler and cron both running) places nothing more."""
    auto = order_world.trained.auto
    shop = scope(order_world, "auto")
    morning = engine_at(order_world, at(10))
    with order_world.db.session() as s:
        plan = check_auto_plan(s, shop, morning, auto)
        assert plan is not None and plan.order_date == DELIVERY and plan.open
        assert plan.status is AutoOrderStatus.SCHEDULED
        assert plan.cutoff_at == dt.datetime(2024, 9, 2, 16, tzinfo=dt.UTC)
    assert do_place_due(order_world.db, morning).placed == []
    assert placed(order_world) == []

    evening = engine_at(order_world, at(16, 5))
    run = do_place_due(order_world.db, evening)
    assert f"AUTO-{auto}-20240903" in run.placed and not run.failed
    (order,) = placed(order_world)
    assert (order.customer_id, order.order_date, order.channel) == (auto, DELIVERY, "automatic")
    counts = order.outcomes["counts"]
    assert counts["accepted"] == len(order.lines) > 0 and counts["removed"] == 0
    again = do_place_due(order_world.db, engine_at(order_world, at(16, 6)))
    assert again.placed == [] and again.skipped == {"already placed": len(run.placed)}
    assert len(placed(order_world)) == 1
    with order_world.db.session() as s:
        actions = set(s.scalars(sa.select(AuditEvent.action)))
        assert {"auto_order.placed", "order.placed"} <= actions
        plan = check_auto_plan(s, shop, evening, auto, DELIVERY)
        assert plan is not None and plan.status is AutoOrderStatus.PLACED
        assert plan.placed_order_id == order.order_id and not plan.open
        following = check_auto_plan(s, shop, evening, auto)
        assert following is not None and following.order_date == DELIVERY + dt.timedelta(days=1)


def test_the_shops_edit_is_what_is_ordered(order_world: OrderWorld) -> None:
    """The shop keeps one line at another quantity before the cut-off: that one line is
    ordered, its outcome recorded as a changed quantity and the others as removed."""
    auto = order_world.trained.auto
    noon = engine_at(order_world, at(12))
    shop = scope(order_world, "auto")
    with order_world.db.session() as s:
        suggestion = noon.suggestion(s, auto, DELIVERY)
        first = suggestion.lines[0]
        change = check_auto_change(
            s, shop, noon, auto, DELIVERY, "save", [(first.product_id, first.quantity * 2 + 1)]
        )
        do_auto_change(s, shop, change)
        plan = check_auto_plan(s, shop, noon, auto, DELIVERY)
        assert plan is not None and plan.status is AutoOrderStatus.EDITED
        assert plan.lines == ((first.product_id, first.quantity * 2 + 1),)
    run = do_place_due(order_world.db, engine_at(order_world, at(16, 1)))
    assert f"AUTO-{auto}-20240903" in run.placed
    (order,) = placed(order_world)
    assert [(x.product_id, x.quantity, x.outcome) for x in order.lines] == [
        (first.product_id, first.quantity * 2 + 1, "quantity_changed")
    ]
    assert order.outcomes["counts"]["removed"] == len(suggestion.lines) - 1


def test_a_cancelled_order_is_not_placed_and_nothing_changes_after_the_cut_off(
    order_world: OrderWorld,
) -> None:
    """Cancelled at 15:00, nothing is ordered at 16:00 and the cancellation is audited;
    after the cut-off the shop can neither put it back nor change it."""
    auto = order_world.trained.auto
    shop = scope(order_world, "auto")
    before = engine_at(order_world, at(15))
    with order_world.db.session() as s:
        do_auto_change(s, shop, check_auto_change(s, shop, before, auto, DELIVERY, "cancel"))
    run = do_place_due(order_world.db, engine_at(order_world, at(16, 1)))
    assert f"AUTO-{auto}-20240903" not in run.placed
    assert run.skipped["cancelled by the shop"] == 1
    assert placed(order_world) == []
    late = engine_at(order_world, at(16, 2))
    with order_world.db.session() as s:
        with pytest.raises(ConflictError, match="cut-off"):
            check_auto_change(s, shop, late, auto, DELIVERY, "resume")
        row = s.scalar(sa.select(AutoOrder).where(AutoOrder.customer_id == auto))
        assert row is not None and row.status == "cancelled" and row.updated_by == EMAILS["auto"]
        assert (
            s.scalar(sa.select(AuditEvent.actor).where(AuditEvent.action == "auto_order.cancelled"))
            == EMAILS["auto"]
        )


def test_only_shops_in_automatic_mode_and_only_in_reach(order_world: OrderWorld) -> None:
    """A field shop has no automatic order and cannot get one; another shop and the other
    region's manager cannot change the automatic shop's order."""
    engine = engine_at(order_world, at(9))
    auto = order_world.trained.auto
    scopes = {who: scope(order_world, who) for who in ("shop", "vardenia")}
    with order_world.db.session() as s:
        assert check_auto_plan(s, scopes["shop"], engine, order_world.shop) is None
        with pytest.raises(FieldError, match="not in automatic"):
            check_auto_change(s, scopes["shop"], engine, order_world.shop, DELIVERY, "cancel")
        for who in ("shop", "vardenia"):
            with pytest.raises(PermissionDeniedError):
                check_auto_change(s, scopes[who], engine, auto, DELIVERY, "cancel")
        assert s.scalar(sa.select(sa.func.count()).select_from(AutoOrder)) == 0


def test_the_cron_command_places_due_orders_once(
    order_world: OrderWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    """``salescope orders place-automatic --at`` before the cut-off places nothing, after it
    places the automatic shops' orders, and run again places none twice."""
    settings = order_world.settings
    base = ["--data-dir", str(settings.data_dir), "--database-url", settings.resolved_database_url]
    early = run(capsys, *base, "orders", "place-automatic", "--at", "2024-09-02T15:59")
    assert early.code == 0 and "No cut-off has passed" in early.stdout
    assert placed(order_world) == []
    first = run(capsys, *base, "orders", "place-automatic", "--at", "2024-09-02T16:01")
    assert first.code == 0, first.stderr
    assert f"placed AUTO-{order_world.trained.auto}-20240903" in first.stdout
    again = run(capsys, *base, "orders", "place-automatic", "--at", "2024-09-02T16:30")
    assert again.code == 0 and "0 automatic orders placed" in again.stdout
    assert "skipped: already placed" in again.stdout
    assert len(placed(order_world)) == 1
    bad = run(capsys, *base, "orders", "place-automatic", "--at", "teatime")
    assert bad.code == 1 and "--at" in bad.stderr
