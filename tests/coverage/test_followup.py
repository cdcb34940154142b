"""Follow-up of added customers: sales since they were added against the expected."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from salescope.coverage.followup import added_customers, follow_up
from salescope.coverage.kpis import line_values

AS_OF = dt.date(2024, 6, 1)


def _lines() -> pl.DataFrame:
    rows = [
        ("old", "o1", "2023-06-05", 100.0),
        ("old", "o2", "2024-05-05", 100.0),
        ("fast", "o3", "2024-03-02", 150.0),
        ("fast", "o4", "2024-04-02", 150.0),
        ("slow", "o5", "2024-03-10", 20.0),
        ("slow", "o6", "2024-03-10", 5.0),  # a second invoice the same day: one order
    ]
    orders = pl.DataFrame(
        rows, schema=["customer_id", "order_id", "order_date", "amount"], orient="row"
    ).with_columns(
        pl.col("order_date").str.to_date(),
        pl.lit("p").alias("product_id"),
        pl.lit(1.0).alias("quantity"),
    )
    return line_values(orders)


def test_sales_since_added_against_expected() -> None:
    """Yearly sales since the add date, divided by the expectation, give the status."""
    added = pl.DataFrame(
        {
            "customer_id": ["fast", "slow", "silent"],
            "added_on": [dt.date(2024, 3, 1)] * 3,
            "expected_sales": [1000.0, 1000.0, 500.0],
            "source": ["previous run"] * 3,
        }
    )
    result = follow_up(_lines(), added, as_of=AS_OF)
    rows = {r["customer_id"]: r for r in result.iter_rows(named=True)}
    days = (AS_OF - dt.date(2024, 3, 1)).days
    assert rows["fast"]["sales_since_added"] == pytest.approx(300.0)
    assert rows["fast"]["sales_per_year"] == pytest.approx(300.0 * 365.25 / days)
    assert rows["fast"]["ratio"] == pytest.approx(300.0 * 365.25 / days / 1000.0)
    assert rows["fast"]["status"] == "ahead"
    assert rows["slow"]["status"] == "behind"
    assert (rows["fast"]["orders"], rows["slow"]["orders"]) == (2, 1)
    assert rows["slow"]["sales_since_added"] == pytest.approx(25.0)
    assert rows["silent"]["status"] == "no order yet"


def test_expectation_from_potential_when_none_is_given() -> None:
    """Without an expectation, it is potential × the typical share of wallet × the ramp."""
    added = added_customers(_lines(), pl.DataFrame({"customer_id": ["old"]}), as_of=AS_OF)
    wallet = pl.DataFrame(
        {
            "customer_id": ["old", "fast", "slow"],
            "potential": [1000.0, 2000.0, 800.0],
            "share_of_wallet": [0.4, 0.1, 0.05],
        }
    )
    result = follow_up(_lines(), added, as_of=AS_OF, wallet=wallet)
    fast = result.filter(pl.col("customer_id") == "fast")
    assert fast["expected_sales"].item() == pytest.approx(2000.0 * 0.4 * 0.7)


def test_new_customers_are_found_from_first_orders_or_served_from() -> None:
    """Added customers: first order well after the start of the history, or `served_from`."""
    found = added_customers(_lines(), pl.DataFrame({"customer_id": ["old"]}), as_of=AS_OF)
    assert sorted(found["customer_id"].to_list()) == ["fast", "slow"]
    assert (found["source"] == "first order").all()
    customers = pl.DataFrame(
        {"customer_id": ["old", "fast"], "served_from": ["2023-01-01", "2024-02-20"]}
    )
    declared = added_customers(_lines(), customers, as_of=AS_OF)
    assert declared.select("customer_id", "added_on").rows() == [("fast", dt.date(2024, 2, 20))]


def test_a_previous_runs_add_list_is_followed() -> None:
    """A previous run's customers.csv: its `add` rows, dated by their first order."""
    previous = pl.DataFrame(
        {
            "customer_id": ["fast", "old"],
            "recommendation": ["add", "keep"],
            "expected_sales": [900.0, 5.0],
        }
    )
    found = added_customers(_lines(), pl.DataFrame(), as_of=AS_OF, previous=previous)
    assert found.rows() == [("fast", dt.date(2024, 3, 2), 900.0, "previous run")]


def test_a_short_history_does_not_make_every_customer_new() -> None:
    """In a 12-month history, a customer whose first order comes in the first 6 months is not
    followed up as new: it may simply order every few months."""
    orders = pl.DataFrame(
        {
            "customer_id": ["quarterly", "quarterly", "late"],
            "order_id": ["a", "b", "c"],
            "order_date": [dt.date(2023, 9, 1), dt.date(2023, 12, 1), dt.date(2024, 2, 1)],
            "product_id": ["p", "p", "p"],
            "quantity": [1.0, 1.0, 1.0],
        }
    )
    start = pl.DataFrame(
        {
            "customer_id": ["first"],
            "order_id": ["z"],
            "order_date": [dt.date(2023, 6, 2)],
            "product_id": ["p"],
            "quantity": [1.0],
        }
    )
    lines = line_values(pl.concat([start, orders]))
    found = added_customers(lines, pl.DataFrame(), as_of=AS_OF)
    assert found["customer_id"].to_list() == ["late"]
