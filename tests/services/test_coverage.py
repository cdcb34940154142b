"""The coverage use case (services/coverage.py): what its request check refuses, names and
defaults. The recommendations themselves: tests/coverage/."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from salescope.domain.errors import FieldError, InputError
from salescope.services.coverage import check_coverage

CUSTOMERS = pl.DataFrame(
    {"customer_id": ["c1", "c2"], "rep_id": ["r1", "r9"], "status": ["served", "prospect"]}
)
REPS = pl.DataFrame({"rep_id": ["r1"], "capacity_minutes": [9600.0]})
ORDERS = pl.DataFrame(
    {
        "customer_id": ["c1", "c1"],
        "order_id": ["o1", "o2"],
        "order_date": [dt.date(2024, 3, 1), dt.date(2024, 4, 1)],
        "product_id": ["p1", "p1"],
        "quantity": [1.0, 2.0],
    }
)


def test_no_shops_or_no_reps_is_a_field_error() -> None:
    """A universe without shops, or no reps to serve them, is refused on that field."""
    known = CUSTOMERS.with_columns(pl.lit("r1").alias("rep_id"))
    with pytest.raises(FieldError) as caught:
        check_coverage(customers=known.clear(), orders=ORDERS, reps=REPS)
    assert caught.value.field == "customers"
    with pytest.raises(FieldError) as caught:
        check_coverage(
            customers=known.with_columns(pl.lit(None).alias("rep_id")),
            orders=ORDERS,
            reps=REPS.clear(),
        )
    assert caught.value.field == "reps"


def test_an_unknown_rep_is_named_in_the_file_the_customers_came_from(tmp_path: Path) -> None:
    """A customer naming a rep the reps table lacks stops the check; the problem names the
    customers file (its source), the line, the column and the value."""
    source = tmp_path / "customers.csv"
    with pytest.raises(InputError) as caught:
        check_coverage(
            customers=CUSTOMERS,
            orders=ORDERS,
            reps=REPS,
            sources={"customers": source, "reps": tmp_path / "reps.csv"},
        )
    text = str(caught.value)
    assert str(source) in text and "line 3" in text and "'r9'" in text


def test_the_date_defaults_to_the_day_after_the_last_order() -> None:
    """Without a date, the analysis is as of the day after the last order."""
    known = CUSTOMERS.with_columns(pl.lit("r1").alias("rep_id"))
    request = check_coverage(customers=known, orders=ORDERS, reps=REPS)
    assert request.as_of == dt.date(2024, 4, 2)
    given = check_coverage(customers=known, orders=ORDERS, reps=REPS, as_of=dt.date(2024, 5, 1))
    assert given.as_of == dt.date(2024, 5, 1)
