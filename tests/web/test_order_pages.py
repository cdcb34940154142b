"""The shop's ordering page: the pre-filled order for the next delivery ("your usual" with
editable quantities, "worth a look" with each novelty, its promotion and why), removing,
adding by search, prices and the total; sent through the same service as the API; and
nobody sees another shop's order."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from salescope.storage.models import FeedbackOutcome, PlacedOrder
from tests.orderworld import DELIVERY, OrderWorld
from tests.web.conftest import Browser

HX = {"HX-Request": "true"}


def _form(html: str) -> dict[str, str]:
    """The order form's fields as the page holds them (hidden fields and quantities)."""
    fields = dict(re.findall(r'name="((?:line-\d+-\w+)|key|order_date)" value="([^"]*)"', html))
    return fields


def _post(shop: Browser, customer: str, fields: dict[str, str], op: str) -> Any:
    return shop.client.post(
        f"/customers/{customer}/order",
        data={**fields, "op": op, "csrf_token": shop.csrf},
        headers=HX,
    )


def _quantities(html: str) -> dict[str, str]:
    rows = re.findall(r'name="line-(\d+)-product_id" value="([^"]+)"', html)
    values = dict(re.findall(r'name="line-(\d+)-quantity" value="([^"]*)"', html))
    return {product: values[i] for i, product in rows}


def test_the_shop_lands_on_its_pre_filled_order(
    order_browser: Callable[[str], Browser], order_world: OrderWorld
) -> None:
    """Signed in, the shop's home is its order for the next delivery: its usual products
    with quantities and prices, the novelty with its reason, and the total."""
    shop = order_browser("shop")
    response = shop.client.get("/")
    assert response.url.path == f"/customers/{order_world.shop}/order"
    html = response.text
    assert "Your usual" in html and "Worth a look" in html
    assert DELIVERY.strftime("%A %-d %B") in html
    novelty = order_world.trained.novelty
    assert f'data-product="{novelty}"' in html.split('id="novelties"', 1)[1]
    assert 'id="total"' in html and "Send the order" in html


def test_editing_redraws_the_order_and_its_total(
    order_browser: Callable[[str], Browser], order_world: OrderWorld
) -> None:
    """A quantity changed, the novelty removed (then listed under Removed), a product added
    from the search: the redrawn order holds them and its total follows."""
    shop = order_browser("shop")
    customer, novelty = order_world.shop, order_world.trained.novelty
    page = shop.client.get(f"/customers/{customer}/order").text
    fields = _form(page)
    first = fields["line-0-product_id"]
    total = re.search(r'id="total">([^<]+)<', page)
    assert total is not None
    fields["line-0-quantity"] = str(float(fields["line-0-quantity"]) + 10)
    changed = _post(shop, customer, fields, "update")
    assert changed.status_code == 200
    assert _quantities(changed.text)[first] == fields["line-0-quantity"].removesuffix(".0")
    assert re.search(r'id="total">([^<]+)<', changed.text).group(1) != total.group(1)  # type: ignore[union-attr]
    removed = _post(shop, customer, _form(changed.text), f"remove:{novelty}")
    assert novelty not in _quantities(removed.text)
    assert 'id="removed"' in removed.text
    found = shop.client.get(f"/customers/{customer}/order/products?q=P0057", headers=HX)
    assert 'value="add:P0057"' in found.text
    added = _post(shop, customer, _form(removed.text), "add:P0057")
    assert "P0057" in _quantities(added.text) and "Added by you" in added.text


def test_sending_places_the_order_with_its_outcomes_once(
    order_browser: Callable[[str], Browser], order_world: OrderWorld
) -> None:
    """Send: the order is placed online and matched against the suggestion (quantity
    changed, removed novelty, added product); the page shows it; sending the same form again
    places nothing more."""
    shop = order_browser("shop")
    customer, novelty = order_world.shop, order_world.trained.novelty
    page = shop.client.get(f"/customers/{customer}/order").text
    fields = _form(page)
    first = fields["line-0-product_id"]
    fields["line-0-quantity"] = str(float(fields["line-0-quantity"]) + 10)
    edited = _post(
        shop, customer, _form(_post(shop, customer, fields, f"remove:{novelty}").text), "add:P0057"
    )
    final = _form(edited.text)
    sent = _post(shop, customer, final, "send")
    assert sent.status_code == 204, sent.text
    target = sent.headers["HX-Redirect"]
    again = _post(shop, customer, final, "send")
    assert again.headers["HX-Redirect"] == target
    placed = shop.client.get(target).text
    assert "quantity changed" in placed.lower() and "added by the customer" in placed.lower()
    with order_world.db.session() as s:
        (order,) = s.scalars(sa.select(PlacedOrder)).all()
        assert order.channel == "online" and order.customer_id == customer
        outcomes = dict(
            s.execute(
                sa.select(FeedbackOutcome.product_id, FeedbackOutcome.outcome).where(
                    FeedbackOutcome.order_id == order.order_id
                )
            ).all()
        )
    assert outcomes[first] == "quantity_changed"
    assert outcomes[novelty] == "removed" and outcomes["P0057"] == "added"


def test_a_wrong_quantity_is_shown_and_nothing_is_sent(
    order_browser: Callable[[str], Browser], order_world: OrderWorld
) -> None:
    """A quantity that is not a number stays on its line with a message; sending is refused
    with the message and stores nothing."""
    shop = order_browser("shop")
    fields = _form(shop.client.get(f"/customers/{order_world.shop}/order").text)
    fields["line-0-quantity"] = "lots"
    refused = _post(shop, order_world.shop, fields, "send")
    assert refused.status_code == 422 and "type a quantity" in refused.text
    with order_world.db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(PlacedOrder)) == 0


def test_a_shop_never_sees_another_shops_order(
    order_browser: Callable[[str], Browser], order_world: OrderWorld
) -> None:
    """Another shop gets 403 on the first shop's ordering page, its search, its sending and
    its placed order; the shop's own page is not another's."""
    shop = order_browser("shop")
    fields = _form(shop.client.get(f"/customers/{order_world.shop}/order").text)
    sent = _post(shop, order_world.shop, fields, "send")
    target = sent.headers["HX-Redirect"]
    other = order_browser("other")
    assert other.client.get(f"/customers/{order_world.shop}/order").status_code == 403
    assert other.client.get(f"/customers/{order_world.shop}/order/products?q=P").status_code == 403
    assert _post(other, order_world.shop, fields, "send").status_code == 403
    assert other.client.get(target).status_code == 403
    assert other.client.get("/order", follow_redirects=False).headers["location"] == (
        f"/customers/{order_world.trained.other}/order"
    )
    with order_world.db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(PlacedOrder)) == 1
