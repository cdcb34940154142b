"""The optimal order where it is used, in a real browser (Playwright driving Debian's
Chromium, headless), over the small company with its trained model:

* a shop changes a quantity, removes a novelty, adds a product and sends its order; the
  outcomes recorded are the expected ones;
* a rep opens its day and takes an order from a probable order;
* an automatic shop cancels and puts back its order before the cut-off, and the order is
  created at the cut-off.

Screenshots are kept in ``test-artifacts/screenshots/``. Skipped without ``chromium`` unless
``SALESCOPE_REQUIRE_BROWSER=1`` (as ``tests/web/test_browser.py``).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.orm import selectinload

from salescope.services.calendar import Clock
from salescope.storage.db import Database
from salescope.storage.models import FeedbackOutcome, PlacedOrder
from salescope.web.app import create_app
from salescope.web.background import Scheduler, automatic_orders
from tests.orderworld import (
    DELIVERY,
    EMAILS,
    TODAY,
    OrderWorld,
    Trained,
    build_order_world,
    order_settings,
)
from tests.web.test_browser import _free_port, _shot, chromium  # noqa: F401 (fixture)
from tests.webworld import PASSWORD

OFFERED = [f"P{n:04d}" for n in range(1, 58) if n != 13]
"""Products the small company sells (own and active)."""


def moment(hour: int, minute: int = 0) -> dt.timedelta:
    """The clock shift that makes now TODAY at ``hour:minute`` UTC."""
    at = dt.datetime.combine(TODAY, dt.time(hour, minute), tzinfo=dt.UTC)
    return at - dt.datetime.now(dt.UTC)


@dataclass
class Served:
    base: str
    world: OrderWorld
    app: FastAPI
    clock: Clock


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, trained: Trained) -> Iterator[Served]:
    """The app over the small company with its model, on a loopback port; its clock is TODAY
    at 10:00 UTC (tests move it)."""
    import uvicorn

    root = tmp_path_factory.mktemp("stories")
    settings = order_settings(root, f"sqlite:///{root / 'db.sqlite'}")
    database = Database(settings.resolved_database_url)
    database.upgrade()
    world = build_order_world(settings, database, trained)
    clock = Clock(shift=moment(10))
    app = create_app(settings, database, clock=clock)
    port = _free_port()
    uvi = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uvi.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uvi.started:
        if time.monotonic() > deadline:
            pytest.fail("the server did not start")
        time.sleep(0.05)
    yield Served(f"http://127.0.0.1:{port}", world, app, clock)
    uvi.should_exit = True
    thread.join(timeout=10)
    database.dispose()


def _sign_in(context: Any, base: str, who: str) -> Any:
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=email]", EMAILS[who])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return page


def _order(world: OrderWorld, order_id: str) -> PlacedOrder:
    with world.db.session() as s:
        row = s.scalar(
            sa.select(PlacedOrder)
            .where(PlacedOrder.order_id == order_id)
            .options(selectinload(PlacedOrder.lines))
        )
        assert row is not None
        return row


def _outcomes(world: OrderWorld, order: PlacedOrder) -> dict[str, str]:
    with world.db.session() as s:
        return dict(
            s.execute(
                sa.select(FeedbackOutcome.product_id, FeedbackOutcome.outcome).where(
                    FeedbackOutcome.customer_id == order.customer_id,
                    FeedbackOutcome.order_date == order.order_date,
                )
            ).all()
        )


def test_a_shop_edits_its_pre_filled_order_and_sends_it(chromium: Any, served: Served) -> None:  # noqa: F811
    """The shop doubles a usual line, removes its novelty, adds a product found by search and
    sends: the order holds those lines and the outcomes are quantity changed, removed, added,
    and accepted for the usual lines left as they were."""
    from playwright.sync_api import expect

    world = served.world
    shop, novelty = world.shop, world.trained.novelty
    context = chromium.new_context(viewport={"width": 1280, "height": 1000})
    page = _sign_in(context, served.base, "shop")
    assert page.url.endswith(f"/customers/{shop}/order")
    expect(page.locator(f"#novelties tr[data-product='{novelty}']")).to_be_visible()
    _shot(page, "shop-order")
    usual = page.locator("#usual tr.line")
    proposed = [usual.nth(i).get_attribute("data-product") for i in range(usual.count())]
    changed = proposed[0]
    assert changed is not None
    quantity = page.locator(f"tr[data-product='{changed}'] input.qty")
    doubled = float(quantity.input_value().replace(",", "")) * 2 + 1
    quantity.fill(f"{doubled:g}")
    quantity.press("Tab")
    expect(page.locator(f"tr[data-product='{changed}']")).to_contain_text("suggested")

    page.click(f"#novelties tr[data-product='{novelty}'] button:has-text('Remove')")
    expect(page.locator("#removed")).to_be_visible()
    expect(page.locator(f"tr[data-product='{novelty}']")).to_have_count(0)

    lines = page.locator("tr.line")
    shown = {lines.nth(i).get_attribute("data-product") for i in range(lines.count())}
    shown |= set(proposed) | {novelty}
    added = next(p for p in OFFERED if p not in shown)
    page.fill("input[name=q]", "zzz-nothing")  # a first search, then the product's
    expect(page.locator("#search-results")).to_contain_text("No product we sell matches")
    page.fill("input[name=q]", added)
    expect(page.locator("#search-results")).to_contain_text(added)
    page.locator("#search-results .result button:has-text('Add')").first.click()
    expect(page.locator(f"#added tr[data-product='{added}']")).to_be_visible()
    _shot(page, "shop-order-edited")
    page.click("#send-order")
    page.wait_for_url("**/orders/**")
    _shot(page, "shop-order-placed")
    order = _order(world, page.url.rsplit("/", 1)[1])
    assert order.channel == "online" and order.customer_id == shop
    lines = {line.product_id: line.quantity for line in order.lines}
    assert lines[changed] == pytest.approx(doubled) and added in lines and novelty not in lines
    outcomes = _outcomes(world, order)
    assert outcomes[changed] == "quantity_changed"
    assert outcomes[novelty] == "removed"
    assert outcomes[added] == "added"
    assert all(outcomes[p] == "accepted" for p in proposed[1:] if p)
    context.close()


def test_a_rep_takes_an_order_from_its_day(chromium: Any, served: Served) -> None:  # noqa: F811
    """On a phone, the rep opens its day, takes the first visit's order as proposed and
    sends it; the order is the rep's (channel rep) with every line accepted, and the day then
    shows it taken."""
    from playwright.sync_api import expect

    context = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = _sign_in(context, served.base, "rep")
    page.goto(f"{served.base}/day")
    shop = served.world.shop  # the shop's own story orders for itself
    card = page.locator(f"li.visit-card:not(#visit-{shop}):has(a:has-text('Take the order'))").first
    customer = (card.get_attribute("id") or "").removeprefix("visit-")
    assert customer
    _shot(page, "rep-day")
    card.locator("a:has-text('Take the order')").click()
    page.wait_for_url(f"**/customers/{customer}/order")
    expect(page.locator("#send-order")).to_be_enabled()
    page.click("#send-order")
    page.wait_for_url("**/orders/**")
    order = _order(served.world, page.url.rsplit("/", 1)[1])
    assert (order.customer_id, order.channel, order.order_date) == (customer, "rep", DELIVERY)
    assert set(_outcomes(served.world, order).values()) == {"accepted"}
    page.goto(f"{served.base}/day")
    expect(page.locator(f"#visit-{customer}")).to_contain_text("See the order taken")
    context.close()


def test_an_automatic_order_is_cancellable_before_and_created_at_the_cut_off(
    chromium: Any,  # noqa: F811
    served: Served,
) -> None:
    """At 10:00 the automatic shop reads when its order will be placed, cancels it and puts
    it back; at 16:05 the scheduler places it (channel automatic) and the shop's page shows
    the next delivery's order with the placed one among its recent orders."""
    from playwright.sync_api import expect

    world, auto = served.world, served.world.trained.auto
    served.clock.shift = moment(10)
    context = chromium.new_context(viewport={"width": 1280, "height": 1000})
    page = _sign_in(context, served.base, "auto")
    assert page.url.endswith(f"/customers/{auto}/order")
    expect(page.locator("#auto-when")).to_contain_text("Monday 2 September at 16:00")
    _shot(page, "automatic-order")
    page.click("#auto-cancel")
    expect(page.locator("#auto-notice")).to_contain_text("Cancelled")
    expect(page.locator("#auto-when")).to_contain_text("Nothing will be ordered")
    page.click("#auto-resume")
    expect(page.locator("#auto-notice")).to_contain_text("Back on")

    served.clock.shift = moment(16, 5)
    scheduler = Scheduler(served.clock, [automatic_orders(world.db, served.app.state.orders)])
    scheduler.tick()
    order = _order(world, f"AUTO-{auto}-{DELIVERY:%Y%m%d}")
    assert (order.channel, order.order_date, order.placed_by) == (
        "automatic",
        DELIVERY,
        "automatic replenishment",
    )
    page.reload()
    expect(page.locator("#auto-when")).to_contain_text("Tuesday 3 September at 16:00")
    expect(page.locator("body")).to_contain_text(order.order_id)
    scheduler.tick()  # once more: nothing placed twice
    with world.db.session() as s:
        count = s.scalar(
            sa.select(sa.func.count())
            .select_from(PlacedOrder)
            .where(PlacedOrder.customer_id == auto)
        )
    assert count == 1
    served.clock.shift = moment(10)
    context.close()
