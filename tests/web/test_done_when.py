"""The issue's bar, on a fresh demo (``salescope demo``, the small company): the demo shop
signs in, sees its pre-filled order, sends it changed, and the suggested order the API gives
for its next date reflects that feedback — the novelty it turned down rests, and the
suggestion is computed with the acceptance calibration the order refitted."""

from __future__ import annotations

import datetime as dt
import re
import warnings
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from salescope.config import get_settings
from salescope.services import keys
from salescope.services.calendar import next_delivery_date
from salescope.storage.models import AcceptanceCalibration, FeedbackOutcome, RestingProduct
from salescope.web.app import create_app
from tests.cli_runner import run
from tests.web.conftest import bearer, sign_in
from tests.web.test_order_pages import _form, _post


def _novelties(suggestion: dict[str, Any]) -> list[str]:
    return [line["product_id"] for line in suggestion["lines"] if line["kind"] != "usual"]


@pytest.mark.slow
def test_a_demo_shop_orders_changed_and_the_next_suggestion_reflects_it(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fresh demo → the shop's home is its pre-filled order with a novelty → sent with a
    usual quantity changed and the novelty removed (outcomes quantity_changed and removed):
    the suggestion for its next date is computed with the calibration that order refitted
    and the refusal is counted → turned down again on that date, the novelty rests and the
    following suggestion no longer offers it."""
    made = run(capsys, "demo", "--small", "--seed", "3", "--no-serve", "--no-backtest")
    assert made.code == 0, made.stderr
    today = dt.date.fromisoformat(re.findall(r"The app works on (\d{4}-\d\d-\d\d)", made.stdout)[0])
    users = (data_dir / "demo" / "users.txt").read_text().splitlines()
    email, password = next(line.split()[:2] for line in users if line.startswith("shop@"))
    settings = get_settings(today=today, secret_key="done-when-secret-key-for-the-test")
    client = TestClient(create_app(settings), raise_server_exceptions=False)
    shop = sign_in(client, "shop", password, email=email)
    home = client.get("/")
    customer = home.url.path.split("/")[2]
    assert home.url.path == f"/customers/{customer}/order"
    assert "Your usual" in home.text and 'id="novelties"' in home.text
    app = client.app
    with app.state.db.session() as s:  # type: ignore[attr-defined]
        key = keys.do_create_key(s, email, ["orders:read"], actor="test")[1]

    first_day = next_delivery_date(today)
    second_day = next_delivery_date(first_day)
    url = f"/api/v1/customers/{customer}/suggested-order"

    def suggested(day: dt.date) -> dict[str, Any]:
        response = client.get(url, params={"date": day.isoformat()}, headers=bearer(key))
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    # The shop also looks ahead at its next delivery's order (what it will answer then).
    offered = [
        p for p in _novelties(suggested(first_day)) if p in _novelties(suggested(second_day))
    ]
    assert offered, "no novelty offered on both delivery dates: choose another demo seed"
    novelty = offered[0]

    def send_changed(page: str, day: dt.date) -> None:
        """Send the page's order with a usual quantity changed and the novelty left out."""
        fields = _form(page)
        rows = {v: k.rsplit("-", 1)[0] for k, v in fields.items() if k.endswith("product_id")}
        for name in [k for k in fields if k.startswith(rows[novelty] + "-")]:
            del fields[name]
        usual = next(k for k in fields if k.endswith("-quantity"))
        fields[usual] = str(float(fields[usual].replace(",", "")) * 2 + 1)
        sent = _post(shop, customer, fields, "send")
        assert sent.status_code == 204, sent.text
        with app.state.db.session() as s:  # type: ignore[attr-defined]
            outcomes = dict(
                s.execute(
                    sa.select(FeedbackOutcome.product_id, FeedbackOutcome.outcome).where(
                        FeedbackOutcome.customer_id == customer,
                        FeedbackOutcome.order_date == day,
                    )
                ).all()
            )
        assert outcomes[novelty] == "removed" and "quantity_changed" in outcomes.values()

    def state() -> tuple[int | None, int | None, dt.date | None]:
        """The newest calibration, and the novelty's rejections in a row and rest."""
        with app.state.db.session() as s:  # type: ignore[attr-defined]
            rest = s.execute(
                sa.select(RestingProduct.rejections_in_a_row, RestingProduct.rest_until).where(
                    RestingProduct.customer_id == customer, RestingProduct.product_id == novelty
                )
            ).first()
            latest = s.scalar(sa.select(sa.func.max(AcceptanceCalibration.id)))
        return latest, *(rest if rest is not None else (None, None))

    calibration, _, _ = state()
    send_changed(home.text, first_day)
    refitted, rejections, rest = state()
    assert refitted != calibration and (rejections, rest) == (1, None)
    engine = app.state.orders  # type: ignore[attr-defined]
    assert suggested(second_day)["order_date"] == second_day.isoformat()
    with app.state.db.session() as s:  # type: ignore[attr-defined]
        assert engine.suggestion(s, customer, second_day).calibration_id == refitted

    page = client.get(f"/customers/{customer}/order", params={"date": second_day}).text
    send_changed(page, second_day)
    latest, rejections, rest = state()
    third_day = next_delivery_date(second_day)
    assert rejections == 2 and rest is not None and rest > third_day
    assert novelty not in _novelties(suggested(third_day))
    with app.state.db.session() as s:  # type: ignore[attr-defined]
        assert engine.suggestion(s, customer, third_day).calibration_id == latest
    client.close()
