"""The next-order use cases (services/orders.py): requests checked field by field, and one
way of proposing with the feedback in force."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from salescope.data.demo import DemoCompany
from salescope.domain.errors import FieldError
from salescope.domain.statuses import NOVELTY_KINDS
from salescope.orders.acceptance import AcceptanceCalibrator
from salescope.orders.model import NextOrderModel
from salescope.services.feedback import InForce
from salescope.services.orders import (
    check_evaluate,
    check_next_orders,
    check_train,
    do_next_orders,
    propose,
)

ORDERS = pl.DataFrame(
    {
        "customer_id": ["c1", "c1", "c2"],
        "order_id": ["o1", "o2", "o3"],
        "order_date": [dt.date(2024, 3, 1), dt.date(2024, 3, 8), dt.date(2024, 3, 5)],
        "product_id": ["p1", "p2", "p1"],
        "quantity": [1.0, 2.0, 3.0],
    }
)


@pytest.mark.parametrize(
    ("options", "field", "value"),
    [
        ({"mode": "bogus"}, "mode", "bogus"),
        ({"top": 0}, "top", "0"),
    ],
)
def test_a_bad_option_is_a_field_error_with_its_value(
    options: dict[str, object], field: str, value: str
) -> None:
    """A mode or a top out of bounds is refused as a FieldError on that field, with the
    value given."""
    with pytest.raises(FieldError) as caught:
        check_next_orders(orders=ORDERS, **options)  # type: ignore[arg-type]
    assert (caught.value.field, caught.value.value) == (field, value)


def test_without_history_or_model_the_error_names_both_fields_as_the_caller_does() -> None:
    """Neither a history nor a model: a FieldError on orders whose message names the model
    field, rendered with the caller's names (the command line's options)."""
    with pytest.raises(FieldError) as caught:
        check_next_orders()
    assert caught.value.field == "orders"
    assert "model (a trained engine)" in str(caught.value)
    rendered = caught.value.render(lambda field: "--" + field)
    assert "--model (a trained engine)" in rendered


def test_an_empty_history_is_refused() -> None:
    """A history without lines gives nothing to learn from: a FieldError on orders."""
    with pytest.raises(FieldError, match="holds no order lines") as caught:
        check_next_orders(orders=ORDERS.clear())
    assert caught.value.field == "orders"


def test_targets_default_to_every_customer_the_day_after_the_last_order() -> None:
    """Without targets or a date, every customer of the history is a target, dated the day
    after the history's last order."""
    request = check_next_orders(orders=ORDERS)
    assert request.as_of == dt.date(2024, 3, 9)
    assert request.targets.rows() == [("c1", dt.date(2024, 3, 9)), ("c2", dt.date(2024, 3, 9))]


def test_training_needs_orders_before_its_date() -> None:
    """A training date before every order leaves nothing to learn from: a FieldError on
    orders that names the date."""
    with pytest.raises(FieldError, match="before 2024-01-01") as caught:
        check_train(orders=ORDERS, as_of=dt.date(2024, 1, 1))
    assert caught.value.field == "orders"


def test_a_backtest_cut_off_outside_the_history_is_refused() -> None:
    """A cut-off after the last order is a FieldError on cutoffs with the date; cut-offs
    with the last-order protocol are refused too."""
    with pytest.raises(FieldError) as caught:
        check_evaluate(orders=ORDERS, cutoffs=[dt.date(2030, 1, 1)])
    assert (caught.value.field, caught.value.value) == ("cutoffs", "2030-01-01")
    with pytest.raises(FieldError) as caught:
        check_evaluate(orders=ORDERS, cutoffs=[dt.date(2024, 3, 5)], protocol="last-order")
    assert caught.value.field == "cutoffs"


def _targets(company: DemoCompany) -> pl.DataFrame:
    as_of = company.config.end + dt.timedelta(days=1)
    served = company.tables["customers"].filter(pl.col("status") == "served")
    return served.select("customer_id").with_columns(pl.lit(as_of).alias("order_date"))


def test_a_resting_novelty_is_not_proposed(
    demo_company: DemoCompany, demo_model: NextOrderModel
) -> None:
    """With the feedback in force, a product resting for a customer is not offered to it as
    a novelty; the customer's usual lines are the same."""
    targets = _targets(demo_company)
    objectives = demo_company.tables["objectives"]
    before = propose(demo_model, targets, InForce.nothing(), objectives=objectives)
    novelties = before.filter(pl.col("kind").is_in(NOVELTY_KINDS))
    assert novelties.height > 0
    customer, product = novelties.row(0, named=True)["customer_id"], novelties["product_id"][0]
    resting = pl.DataFrame(
        {"customer_id": [customer], "product_id": [product], "rest_until": [dt.date(2099, 1, 1)]}
    )
    after = propose(
        demo_model, targets, InForce(resting, AcceptanceCalibrator()), objectives=objectives
    )
    mine = after.filter(pl.col("customer_id") == customer)
    offered = mine.filter(pl.col("kind").is_in(NOVELTY_KINDS))["product_id"].to_list()
    assert product not in offered
    usual = pl.col("kind") == "usual"
    assert (
        mine.filter(usual)["product_id"].to_list()
        == before.filter((pl.col("customer_id") == customer) & usual)["product_id"].to_list()
    )


def test_the_command_writes_the_lines_proposed(
    demo_company: DemoCompany, demo_model: NextOrderModel, tmp_path: Path
) -> None:
    """do_next_orders writes what propose gives for the same request and feedback: one way
    of proposing for the command line, the app and the API."""
    t = demo_company.tables
    request = check_next_orders(
        orders=t["orders"], targets=_targets(demo_company).head(40), mode="rank", top=5
    )
    out = tmp_path / "next.csv"
    written = do_next_orders(request, out, model=demo_model)
    proposed = propose(demo_model, request.targets, InForce.nothing(), mode="rank", top=5)
    assert written.equals(proposed)
    assert pl.read_csv(out).height == written.height
