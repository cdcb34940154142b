"""The rep's day: today's due visits, each with the customer's probable order (usual lines,
novelties with their promotion and reason), lapsed customers and overdue orders flagged, and
the order taken from it at the visit; only for reps in reach."""

from __future__ import annotations

import re
from collections.abc import Callable

import sqlalchemy as sa

from salescope.services.access import scope_of
from salescope.services.calendar import Clock
from salescope.services.day import plan_day
from salescope.services.serving import OrderEngine
from salescope.storage.models import PlacedOrder, User
from tests.orderworld import DELIVERY, EMAILS, TODAY, OrderWorld
from tests.web.conftest import Browser


def _plan(world: OrderWorld) -> list[tuple[str, bool, bool, int]]:
    engine = OrderEngine(world.settings, world.db, Clock(TODAY), warm=False)
    with world.db.session() as s:
        user = s.scalar(sa.select(User).where(User.username == EMAILS["rep"]))
        assert user is not None
        day = plan_day(s, scope_of(user), engine)
        return [
            (v.customer.customer_id, v.lapsed, v.order_overdue, len(v.suggestion.novelties))
            for v in day.visits
            if v.suggestion is not None
        ]


def test_the_rep_sees_its_due_visits_with_their_probable_orders(
    order_browser: Callable[[str], Browser], order_world: OrderWorld
) -> None:
    """Every visit of the plan is on the page with its usual lines and its novelties' reasons
    and a button to take the order; lapsed and overdue customers carry their flag."""
    planned = _plan(order_world)
    assert planned, "R02 has no visit due: the test needs one"
    page = order_browser("rep").get("/day").text  # type: ignore[attr-defined]
    assert TODAY.strftime("%A %-d %B") in page and DELIVERY.strftime("%A %-d %B") in page
    cards = dict(re.findall(r'id="visit-(\w+)">(.*?)</li>\s*(?=<li class="card|</ol>)', page, re.S))
    assert set(cards) == {c for c, *_ in planned}
    for customer, lapsed, overdue, novelties in planned:
        card = cards[customer]
        assert f'href="/customers/{customer}/order"' in card and "usual" in card
        assert ("flag-lapsed" in card) == lapsed
        assert ("flag-overdue" in card) == (overdue and not lapsed)
        assert card.count('class="reason"') == novelties
    assert any(n for *_, n in planned) or any(lapsed for _, lapsed, *_ in planned)


def test_the_rep_takes_the_order_at_the_visit(
    order_browser: Callable[[str], Browser], order_world: OrderWorld
) -> None:
    """From the day, the rep's order page sends the order (channel rep), and the day then
    shows the order taken."""
    customer = _plan(order_world)[0][0]
    rep = order_browser("rep")
    page = rep.get(f"/customers/{customer}/order").text  # type: ignore[attr-defined]
    fields = dict(re.findall(r'name="((?:line-\d+-\w+)|key|order_date)" value="([^"]*)"', page))
    sent = rep.client.post(
        f"/customers/{customer}/order",
        data={**fields, "op": "send", "csrf_token": rep.csrf},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    with order_world.db.session() as s:
        order = s.scalar(sa.select(PlacedOrder).where(PlacedOrder.customer_id == customer))
        assert order is not None and order.channel == "rep" and order.order_date == DELIVERY
    day = rep.get("/day").text  # type: ignore[attr-defined]
    assert f'href="/orders/{order.order_id}"' in day


def test_a_day_is_seen_only_within_reach(
    order_browser: Callable[[str], Browser], order_world: OrderWorld
) -> None:
    """Lesnia's manager opens R02's day; Vardenia's manager and a shop may not; a rep
    cannot open another rep's day."""
    assert order_browser("lesnia").get("/day?rep_id=R02").status_code == 200  # type: ignore[attr-defined]
    assert order_browser("vardenia").get("/day?rep_id=R02").status_code == 403  # type: ignore[attr-defined]
    assert order_browser("shop").get("/day").status_code == 403  # type: ignore[attr-defined]
    assert order_browser("rep").get("/day?rep_id=R03").status_code == 422  # type: ignore[attr-defined]
