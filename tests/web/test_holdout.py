"""The uplift holdout is honoured wherever a suggestion is shown: a shop of the holdout gets
no novelty over the API, on its ordering page and on its rep's day, and what it was not
shown is kept for the comparison."""

from __future__ import annotations

import re
import warnings

import sqlalchemy as sa

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from salescope.config import Settings
from salescope.services import keys
from salescope.services.calendar import Clock
from salescope.services.serving import OrderEngine, in_holdout
from salescope.storage.models import HeldOutLine
from salescope.web.app import create_app
from tests.orderworld import DELIVERY, EMAILS, TODAY, OrderWorld
from tests.web.conftest import bearer, sign_in


def _salt_holding(customer: str, share: float) -> str:
    """A salt that puts ``customer`` in a holdout of ``share``."""
    return next(f"test-{n}" for n in range(1000) if in_holdout(customer, share, salt=f"test-{n}"))


def _client(settings: Settings, world: OrderWorld) -> TestClient:
    return TestClient(create_app(settings, world.db), raise_server_exceptions=False)


def test_a_holdout_shop_sees_no_novelty_on_any_channel(order_world: OrderWorld) -> None:
    """The shop has a novelty for its next delivery; once drawn into the holdout (another
    salt) the API's suggestion, its ordering page and its rep's day show none, and the
    novelties it would have been shown are stored as held out."""
    shop = order_world.shop
    engine = OrderEngine(order_world.settings, order_world.db, Clock(TODAY), warm=False)
    with order_world.db.session() as s:  # what it would be shown (not recorded as shown)
        lines = engine.suggestion(s, shop, DELIVERY).lines
        before = [{"product_id": x.product_id, "kind": x.kind} for x in lines]
        key = keys.do_create_key(s, EMAILS["shop"], ["orders:read"], actor="test")[1]
    assert any(line["kind"] != "usual" for line in before)
    url = f"/api/v1/customers/{shop}/suggested-order?date={DELIVERY.isoformat()}"

    settings = order_world.settings.model_copy(
        update={"holdout_share": 0.5, "holdout_salt": _salt_holding(shop, 0.5)}
    )
    api = _client(settings, order_world)
    after = api.get(url, headers=bearer(key)).json()
    assert after["lines"] and all(line["kind"] == "usual" for line in after["lines"])
    assert [x["product_id"] for x in after["lines"]] == [
        x["product_id"] for x in before if x["kind"] == "usual"
    ]
    with order_world.db.session() as s:
        held = s.scalars(sa.select(HeldOutLine.product_id).where(HeldOutLine.customer_id == shop))
        assert set(held) == {x["product_id"] for x in before if x["kind"] != "usual"}

    page = sign_in(_client(settings, order_world), "shop", email=EMAILS["shop"])
    text = page.get(f"/customers/{shop}/order").text  # type: ignore[attr-defined]
    assert 'id="usual"' in text and 'id="novelties"' not in text

    rep = sign_in(_client(settings, order_world), "rep", email=EMAILS["rep"]).get("/day").text  # type: ignore[attr-defined]
    cards = dict(re.findall(r'id="visit-(\w+)">(.*?)</li>\s*(?=<li class="card|</ol>)', rep, re.S))
    held_cards = [c for c in cards if in_holdout(c, 0.5, settings.holdout_salt)]
    assert held_cards, "no visit of the day in the holdout: choose another share"
    for customer in held_cards:
        assert 'class="reason"' not in cards[customer]
