"""The uplift holdout and the orders report: a stable random share of shops is shown no
novelty and what it would have seen is kept; the report compares the two arms with a
bootstrap interval, and counts acceptance by kind, region, rep and promotion and the orders
placed online."""

from __future__ import annotations

import datetime as dt

import polars as pl
import sqlalchemy as sa
from tests.orderworld import DELIVERY, EMAILS, TODAY, OrderWorld

from salescope.services.access import scope_of
from salescope.services.calendar import Clock
from salescope.services.ordering import (
    OrderIn,
    OrderLineIn,
    check_order,
    check_suggested,
    do_place_order,
)
from salescope.services.serving import OrderEngine, in_holdout
from salescope.services.uplift import _bootstrap, _uplift, orders_report
from salescope.storage.models import Customer, HeldOutLine, User


def test_the_holdout_is_stable_and_grows_with_its_share() -> None:
    """The same shop is always in or out; a larger share keeps every shop of a smaller one;
    the share drawn is close to the one asked."""
    shops = [f"C{n:05d}" for n in range(4000)]
    small = {c for c in shops if in_holdout(c, 0.05)}
    large = {c for c in shops if in_holdout(c, 0.2)}
    assert small <= large and small == {c for c in shops if in_holdout(c, 0.05)}
    assert 0.035 < len(small) / len(shops) < 0.065 and 0.17 < len(large) / len(shops) < 0.23
    assert not any(in_holdout(c, 0.0) for c in shops)
    other = {c for c in shops if in_holdout(c, 0.05, salt="another measurement")}
    assert other != small and 0.035 < len(other) / len(shops) < 0.065


def test_the_interval_is_around_the_difference_of_the_two_rates() -> None:
    """30 % taken when shown against 10 % held out: the uplift is 0.2 and its bootstrap
    interval holds it and excludes 0 with 400 lines a side."""
    shown = pl.DataFrame(
        {
            "customer_id": [f"S{i % 40}" for i in range(400)],
            "taken": [i % 10 < 3 for i in range(400)],
        }
    )
    held = pl.DataFrame(
        {
            "customer_id": [f"H{i % 40}" for i in range(400)],
            "taken": [i % 10 < 1 for i in range(400)],
        }
    )
    result = _uplift(shown, held)
    assert abs((result.uplift or 0) - 0.2) < 1e-9
    assert result.low is not None and result.high is not None
    assert 0 < result.low < 0.2 < result.high
    assert _bootstrap(shown, held.clear()) == (None, None)


def test_holdout_shops_see_no_novelty_and_the_report_measures_the_uplift(
    order_world: OrderWorld,
) -> None:
    """With half the shops held out: their suggestions hold no novelty and their would-be
    novelties are kept; treated shops that take every novelty against held-out shops that
    buy none give an uplift of 100 points; acceptance and online orders are counted."""
    settings = order_world.settings.model_copy(update={"holdout_share": 0.5})
    engine = OrderEngine(settings, order_world.db, Clock(TODAY), warm=False)
    with order_world.db.session() as s:
        admin = scope_of(s.scalar(sa.select(User).where(User.username == EMAILS["admin"])))  # type: ignore[arg-type]
        lesnia = s.scalars(
            sa.select(Customer.customer_id)
            .where(Customer.rep_id == "R02", Customer.status == "served")
            .order_by(Customer.customer_id)
        ).all()[:30]
    treated = held = 0
    for n, customer in enumerate(lesnia):
        with order_world.db.session() as s:
            suggestion = check_suggested(s, admin, engine, customer, DELIVERY)
            holdout = in_holdout(customer, 0.5)
            assert suggestion.holdout == holdout
            if holdout:
                assert not suggestion.novelties
                held += len(suggestion.held_out)
                lines = list(suggestion.usual)
            else:
                treated += len(suggestion.novelties)
                lines = list(suggestion.lines)
            if not lines:
                continue
            catalogue = engine.catalogue()
            order = OrderIn(
                customer,
                DELIVERY,
                tuple(OrderLineIn(line.product_id, line.quantity) for line in lines),
                f"U-{n}",
            )
            request = check_order(s, admin, catalogue, order, f"u-{n}", today=TODAY)
            do_place_order(s, admin, catalogue, request)
    assert treated and held, "the draw left an arm without novelties: change the shops"
    with order_world.db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(HeldOutLine)) == held
        report = orders_report(
            s, admin, settings, since=TODAY, until=DELIVERY + dt.timedelta(days=1)
        )
    u = report.uplift
    assert (u.shown, u.shown_taken) == (treated, treated)
    assert (u.held, u.held_taken) == (held, 0)
    assert u.uplift == 1.0 and u.low == 1.0 and u.high == 1.0
    usual = {a.group: a for a in report.by_kind}["usual"]
    assert usual.usual_taken == usual.usual_shown > 0
    assert report.orders_by_channel == {"api": report.online} and report.online >= 1
    assert {a.group for a in report.by_region} == {"Lesnia"}
    assert {a.group for a in report.by_rep} == {"R02"}
    lesnia_row = report.by_region[0]
    assert lesnia_row.online == report.online and lesnia_row.orders == report.orders
    assert lesnia_row.online_share == report.online_share
