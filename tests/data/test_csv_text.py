"""Reading CSV text as users hand it over: encodings, binary files, broken lines."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from salescope.data.io import input_encoding, read_table
from salescope.domain.errors import InputError
from salescope.domain.schemas import CUSTOMERS, ORDERS

NAMES = "customer_id,name\nC1,Café Étoile\nC2,Ørsted Kiosk\n"


def refusal(path: Path) -> str:
    with pytest.raises(InputError) as caught:
        read_table(path, CUSTOMERS)
    return str(caught.value)


def test_latin1_is_refused_naming_the_line_and_the_encodings_it_looks_like(
    tmp_path: Path,
) -> None:
    """A Latin-1 file is never read with replaced characters: it is refused with its line and
    the encodings detected."""
    path = tmp_path / "customers.csv"
    path.write_bytes(NAMES.encode("latin-1"))
    message = refusal(path)
    assert "line 2" in message
    assert "is not UTF-8" in message
    assert "cp125" in message
    assert "--encoding" in message


def test_a_named_encoding_decodes_every_letter(tmp_path: Path) -> None:
    """With --encoding latin-1 the same file reads with its accents intact."""
    path = tmp_path / "customers.csv"
    path.write_bytes(NAMES.encode("latin-1"))
    with input_encoding("latin-1"):
        frame = read_table(path, CUSTOMERS)
    assert frame["name"].to_list() == ["Café Étoile", "Ørsted Kiosk"]


def test_an_unknown_encoding_name_is_refused() -> None:
    """--encoding with a name Python does not know is a clean input error."""
    with pytest.raises(InputError, match="--encoding"), input_encoding("klingon-8"):
        pass


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "utf-8-sig"])
def test_unicode_encodings_are_decoded(tmp_path: Path, encoding: str) -> None:
    """UTF-16/32 (with or without a byte-order mark) and UTF-8 with a mark read correctly."""
    path = tmp_path / "customers.csv"
    path.write_bytes(NAMES.encode(encoding))
    frame = read_table(path, CUSTOMERS)
    assert frame["customer_id"].to_list() == ["C1", "C2"]
    assert frame["name"].to_list() == ["Café Étoile", "Ørsted Kiosk"]


def test_gzipped_latin1_is_refused_too(tmp_path: Path) -> None:
    """The encoding check applies inside a .csv.gz as well."""
    path = tmp_path / "customers.csv.gz"
    path.write_bytes(gzip.compress(NAMES.encode("latin-1")))
    assert "is not UTF-8" in refusal(path)


def test_a_binary_file_is_refused_as_such(tmp_path: Path) -> None:
    """Bytes that are no text at all are refused as a binary file, not as a missing column."""
    path = tmp_path / "customers.csv"
    path.write_bytes(bytes(range(256)) * 40)
    assert "binary" in refusal(path)


def test_a_column_named_twice_is_refused(tmp_path: Path) -> None:
    """A header naming a column twice is refused with both positions."""
    path = tmp_path / "orders.csv"
    path.write_text(
        "customer_id,order_id,order_date,product_id,quantity,quantity\nc,o,2024-01-01,p,1,2\n"
    )
    with pytest.raises(InputError, match=r"'quantity' twice .*columns 5 and 6"):
        read_table(path, ORDERS)


def test_a_line_with_too_many_fields_is_named(tmp_path: Path) -> None:
    """A ragged line is reported with its line number and field counts."""
    path = tmp_path / "orders.csv"
    path.write_text(
        "customer_id,order_id,order_date,product_id,quantity\n"
        "c,o1,2024-01-01,p,1\nc,o2,2024-01-02,p,1\nc,o3,2024-01-03,p,1,7,8\n"
    )
    with pytest.raises(InputError, match=r"line 4: has 7 fields where the header has 5"):
        read_table(path, ORDERS)


def test_a_broken_quote_is_named(tmp_path: Path) -> None:
    """A quote that is never closed is reported as invalid CSV with a line."""
    path = tmp_path / "customers.csv"
    path.write_text('customer_id,name\nC1,"Shop\nC2,Other\n')
    message = refusal(path)
    assert "line" in message
    assert "is not valid CSV" in message or "quote" in message


def test_a_one_megabyte_field_is_read(tmp_path: Path) -> None:
    """A very long value is data, not a crash."""
    path = tmp_path / "customers.csv"
    path.write_text("customer_id,name\nC1," + "x" * 1_000_000 + "\n")
    assert read_table(path, CUSTOMERS)["name"].str.len_chars().item() == 1_000_000


def test_a_decimal_comma_gets_a_hint(tmp_path: Path) -> None:
    """'2,5' in a semicolon file is refused with how to write decimals."""
    path = tmp_path / "orders.csv"
    path.write_text("customer_id;order_id;order_date;product_id;quantity\nc;o1;2024-01-01;p;2,5\n")
    with pytest.raises(InputError, match=r"line 2, column 'quantity': '2,5' is not a number \("):
        read_table(path, ORDERS)


def test_a_csv_named_parquet_is_refused(tmp_path: Path) -> None:
    """A text file named .parquet is refused as not Parquet."""
    path = tmp_path / "orders.parquet"
    path.write_text("customer_id,order_id\nc,o\n")
    with pytest.raises(InputError, match="is not a Parquet file"):
        read_table(path, ORDERS)
