"""The validating reader of canonical tables."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from salescope.data.io import atomic_path, read_table, validate_frame, write_csv
from salescope.domain.errors import InputError
from salescope.domain.schemas import CUSTOMERS, MARKET, ORDERS, PRODUCTS, PROMOTIONS, REPS, TABLES

HEADER = "customer_id,order_id,order_date,product_id,quantity\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def problems(error: pytest.ExceptionInfo[InputError]) -> list[tuple[int | None, str | None, str]]:
    return [(i.row, i.column, i.problem) for i in error.value.issues]


def test_valid_csv_is_typed(tmp_path: Path) -> None:
    """A valid orders CSV comes back with every schema column typed, optional ones as nulls."""
    path = write(
        tmp_path / "orders.csv", HEADER + "c1,o1,2024-01-05,p1,3\nc1,o1,2024-01-05,p2,1.5\n"
    )
    frame = read_table(path, ORDERS)
    assert frame.columns == list(ORDERS.names)
    assert frame.schema["order_date"] == pl.Date
    assert frame.schema["quantity"] == pl.Float64
    assert frame["quantity"].to_list() == [3.0, 1.5]
    assert frame["amount"].null_count() == 2


def test_missing_required_column_is_named(tmp_path: Path) -> None:
    """A file without a required column is refused naming the column and the file."""
    path = write(
        tmp_path / "o.csv", "customer_id,order_id,order_date,product_id\nc,o,2024-01-01,p\n"
    )
    with pytest.raises(InputError) as error:
        read_table(path, ORDERS)
    assert error.value.issues[0].column == "quantity"
    assert "required column is missing" in str(error.value)
    assert str(path) in str(error.value)


def test_bad_values_are_reported_together_with_lines(tmp_path: Path) -> None:
    """Several bad cells are reported at once, each with its 1-based line and column."""
    path = write(
        tmp_path / "o.csv",
        HEADER
        + "c1,o1,2024-01-05,p1,3\n"
        + "c1,o2,2024-01-05,p2,abc\n"
        + "c1,o3,2024-13-45,p1,2\n"
        + "c1,o4,2024-02-30,p1,-1\n"
        + "c1,o5,05/01/2024,p1,\n",
    )
    with pytest.raises(InputError) as error:
        read_table(path, ORDERS)
    found = problems(error)
    assert (3, "quantity", "is not a number") in found
    assert (4, "order_date", "is not a real calendar date") in found
    assert (5, "order_date", "is not a real calendar date") in found
    assert (5, "quantity", "must be greater than 0") in found
    assert (6, "order_date", "is not a date in YYYY-MM-DD form") in found
    assert (6, "quantity", "is empty (a value is required)") in found
    assert error.value.total == 6
    assert "'abc' is not a number" in str(error.value)


def test_issue_list_is_capped_but_counted(tmp_path: Path) -> None:
    """Past the limit, problems are counted, not listed."""
    lines = "".join(f"c,o{i},2024-01-01,p,x\n" for i in range(50))
    path = write(tmp_path / "o.csv", HEADER + lines)
    with pytest.raises(InputError) as error:
        read_table(path, ORDERS, max_issues=5)
    assert len(error.value.issues) == 5
    assert error.value.total == 50
    assert "and 45 more" in str(error.value)


def test_duplicate_keys_name_the_first_row(tmp_path: Path) -> None:
    """A repeated key is reported on its second line, pointing at the first."""
    path = write(tmp_path / "customers.csv", "customer_id,name\na,A\nb,B\na,A again\n")
    with pytest.raises(InputError) as error:
        read_table(path, CUSTOMERS)
    assert problems(error) == [(4, "customer_id", "is a duplicate key: already at line 2")]


def test_order_lines_agree_on_customer_and_date(tmp_path: Path) -> None:
    """An order id used by two customers or two dates is refused."""
    path = write(
        tmp_path / "o.csv",
        HEADER + "c1,o1,2024-01-05,p1,1\nc2,o1,2024-01-05,p2,1\nc1,o1,2024-01-06,p3,1\n",
    )
    with pytest.raises(InputError) as error:
        read_table(path, ORDERS)
    assert {(r, c) for r, c, _ in problems(error)} == {(3, "customer_id"), (4, "order_date")}


def test_date_ranges_are_ordered(tmp_path: Path) -> None:
    """A promotion ending before it starts is refused."""
    path = write(
        tmp_path / "p.csv",
        "promotion_id,start_date,end_date\nx,2024-05-01,2024-04-01\ny,2024-01-01,2024-01-31\n",
    )
    with pytest.raises(InputError) as error:
        read_table(path, PROMOTIONS)
    assert problems(error)[0][:2] == (2, "end_date")


def test_bounds_choices_and_pairs(tmp_path: Path) -> None:
    """Latitude range, status vocabulary and coordinates given in pairs are enforced."""
    path = write(
        tmp_path / "c.csv",
        "customer_id,latitude,longitude,status\na,95,10,served\nb,45,,served\nc,45,10,vip\n",
    )
    with pytest.raises(InputError) as error:
        read_table(path, CUSTOMERS)
    found = {(r, c) for r, c, _ in problems(error)}
    assert found == {(2, "latitude"), (3, "latitude + longitude"), (4, "status")}


def test_reps_need_coordinates_and_capacity(tmp_path: Path) -> None:
    """A rep without coordinates or with negative capacity names the row."""
    path = write(
        tmp_path / "reps.csv",
        "rep_id,latitude,longitude,capacity_minutes\nr1,,10,100\nr2,45,10,-5\n",
    )
    with pytest.raises(InputError) as error:
        read_table(path, REPS)
    assert {(r, c) for r, c, _ in problems(error)} == {(2, "latitude"), (3, "capacity_minutes")}


def test_market_periods_and_amounts(tmp_path: Path) -> None:
    """Market periods are YYYY or YYYY-MM and own purchases cannot exceed the total."""
    path = write(
        tmp_path / "m.csv",
        "customer_id,period,total_amount,own_amount\na,2024,100,20\nb,2024-13,100,\nc,2024-02,10,50\n",
    )
    with pytest.raises(InputError) as error:
        read_table(path, MARKET)
    assert {(r, c) for r, c, _ in problems(error)} == {(3, "period"), (4, "own_amount")}


def test_customers_keep_extra_numeric_attributes(tmp_path: Path) -> None:
    """Unknown customer columns are kept, as numbers when every value is one."""
    path = write(tmp_path / "c.csv", "customer_id,size,format\na,120,big\nb,,small\n")
    frame = read_table(path, CUSTOMERS)
    assert frame.schema["size"] == pl.Float64
    assert frame.schema["format"] == pl.String


def test_unknown_columns_of_orders_are_ignored(tmp_path: Path) -> None:
    """Orders ignore columns the contract does not know."""
    path = write(
        tmp_path / "o.csv",
        "customer_id,order_id,order_date,product_id,quantity,note\nc,o,2024-01-01,p,1,hello\n",
    )
    assert "note" not in read_table(path, ORDERS).columns


def test_booleans_accept_common_spellings(tmp_path: Path) -> None:
    """own accepts true/false, yes/no and 1/0, and refuses anything else."""
    path = write(tmp_path / "p.csv", "product_id,own\na,true\nb,No\nc,1\nd,maybe\n")
    with pytest.raises(InputError) as error:
        read_table(path, PRODUCTS)
    assert problems(error) == [(5, "own", "is not true or false")]


def test_parquet_rows_are_numbered_from_one(tmp_path: Path) -> None:
    """Parquet input is validated the same way, rows counted from 1."""
    frame = pl.DataFrame(
        {
            "customer_id": ["c", "c"],
            "order_id": ["o1", "o2"],
            "order_date": [dt.date(2024, 1, 1), dt.date(2024, 1, 2)],
            "product_id": ["p", "p"],
            "quantity": [1, 0],
        }
    )
    path = tmp_path / "o.parquet"
    frame.write_parquet(path)
    with pytest.raises(InputError) as error:
        read_table(path, ORDERS)
    assert problems(error) == [(2, "quantity", "must be greater than 0")]
    assert "row 2" in str(error.value)


def test_integer_ids_in_parquet_become_strings(tmp_path: Path) -> None:
    """Identifiers stored as numbers are read as strings."""
    frame = pl.DataFrame(
        {
            "customer_id": [17850, 12],
            "order_id": ["a", "b"],
            "order_date": ["2024-01-01", "2024-01-01"],
            "product_id": [1, 2],
            "quantity": [1.0, 2.0],
        }
    )
    path = tmp_path / "o.parquet"
    frame.write_parquet(path)
    result = read_table(path, ORDERS)
    assert result["customer_id"].to_list() == ["17850", "12"]
    assert result.schema["order_date"] == pl.Date


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    """Missing, empty and unknown-format files are refused with their name."""
    with pytest.raises(InputError, match="does not exist"):
        read_table(tmp_path / "none.csv", ORDERS)
    with pytest.raises(InputError, match="is empty"):
        read_table(write(tmp_path / "e.csv", ""), ORDERS)
    with pytest.raises(InputError, match="neither CSV"):
        read_table(write(tmp_path / "o.xlsx", "x"), ORDERS)


def test_every_schema_validates_its_empty_frame() -> None:
    """Each canonical schema accepts an empty frame of its own columns."""
    for name, schema in TABLES.items():
        assert validate_frame(schema.empty(), schema, file=name).height == 0


def test_atomic_path_leaves_nothing_on_failure(tmp_path: Path) -> None:
    """An output written through atomic_path does not exist when the writer fails."""
    target = tmp_path / "out.csv"

    def fail_half_way() -> None:
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_half_way()
    assert list(tmp_path.iterdir()) == []
    write_csv(pl.DataFrame({"a": [1]}), target)
    assert target.read_text() == "a\n1\n"
