"""The reference rule shared by import, assign, coverage and next-orders."""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl
import pytest
from tests.cli_runner import run

from salescope.domain.errors import InputError
from salescope.services.inputs import check_rep_references, order_reference_notes

ORDERS = pl.DataFrame(
    {
        "customer_id": ["c1", "c9", "c9", "c1"],
        "product_id": ["p1", "p1", "p7", "p8"],
    }
)


def test_unknown_reps_are_refused_with_their_lines(tmp_path: Path) -> None:
    """Each customer naming an unknown rep is an issue with its line; empty reps are fine."""
    customers = pl.DataFrame({"customer_id": ["a", "b", "c"], "rep_id": ["r1", None, "R9"]})
    with pytest.raises(InputError) as caught:
        check_rep_references(
            customers,
            pl.Series(["r1"]),
            customers_path=tmp_path / "customers.csv",
            reps_what="rep",
            max_issues=20,
        )
    assert [(i.row, i.value) for i in caught.value.issues] == [(4, "R9")]


def test_orders_of_unknown_customers_and_products_are_counted_in_notes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One note per kind of unknown reference, with counts, first values and lines, and
    what the command does; the notes are logged for the command line."""
    with caplog.at_level(logging.WARNING, logger="salescope"):
        notes = order_reference_notes(
            ORDERS,
            orders_file="orders.csv",
            orders_path=tmp_path / "orders.csv",
            customers=pl.Series(["c1"]),
            customers_what="customers.csv",
            products=pl.Series(["p1"]),
            products_what="products.csv",
            customers_effect="kept",
            products_effect="kept too",
        )
    assert notes == [
        "orders.csv: 2 order lines name 1 customer not in customers.csv ('c9' (line 3)); kept",
        "orders.csv: 2 order lines name 2 products not in products.csv ('p7' (line 4), "
        "'p8' (line 5)); kept too",
    ]
    assert [r.getMessage() for r in caplog.records] == notes


def test_without_a_table_nothing_is_checked() -> None:
    """No customers or products table: no note."""
    assert (
        order_reference_notes(
            ORDERS, orders_file="o", customers_effect="", products_effect="", log=False
        )
        == []
    )


def test_notes_reach_the_command_line_as_note_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A note logged by a service is printed on standard error as a note: line."""
    from salescope.data import io

    def noisy(*args: object, **kwargs: object) -> None:
        logging.getLogger("salescope.inputs").warning("something worth knowing")
        raise InputError.single("x.csv", "stop here")

    monkeypatch.setattr(io, "read_tables", noisy)
    result = run(capsys, "feedback", "--proposals", "p.csv", "--orders", "o.csv")
    assert result.code == 1
    assert "note: something worth knowing" in result.stderr
