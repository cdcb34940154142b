"""Property-based tests: variations of valid tables (bad cells, broken lines, other
encodings and separators, cut files) end in a typed table or a clean error — never another
exception, never a replaced character, never partial output."""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.cli_runner import Result
from tests.reading import read_inputs

from salescope.data.io import read_table
from salescope.domain.errors import FieldError, InputError
from salescope.domain.schemas import ASSIGN_CUSTOMERS, ORDERS
from salescope.services.orders import check_next_orders

IDS = st.text(alphabet="abcXYZ019-_é", min_size=1, max_size=6)
CELL = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@st.composite
def orders_table(draw: st.DrawFn) -> list[list[str]]:
    """A valid orders table: header and lines of text cells."""
    n = draw(st.integers(min_value=1, max_value=8))
    rows = [["customer_id", "order_id", "order_date", "product_id", "quantity"]]
    for i in range(n):
        customer = draw(IDS)
        rows.append(
            [
                customer,
                f"o{i}",
                f"2024-0{draw(st.integers(1, 9))}-{draw(st.integers(10, 28))}",
                draw(IDS),
                str(draw(st.integers(min_value=1, max_value=500))),
            ]
        )
    return rows


def _quote(cell: str, sep: str) -> str:
    if any(ch in cell for ch in (sep, '"', "\n", "\r")):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def render(rows: list[list[str]], sep: str = ",", end: str = "\n") -> str:
    return "".join(sep.join(_quote(c, sep) for c in row) + end for row in rows)


MUTATIONS = (
    "none",
    "cell",
    "drop_column",
    "duplicate_column",
    "extra_fields",
    "cut",
    "bytes",
    "encoding",
    "separator",
    "blank_lines",
)


@st.composite
def variant(draw: st.DrawFn) -> tuple[str, bytes]:
    """A mutation of a valid orders file, as bytes."""
    rows = draw(orders_table())
    kind = draw(st.sampled_from(MUTATIONS))
    sep, end, encoding = ",", "\n", "utf-8"
    if kind == "cell":
        r = draw(st.integers(1, len(rows) - 1))
        c = draw(st.integers(0, 4))
        rows[r][c] = draw(CELL)
    elif kind == "drop_column":
        c = draw(st.integers(0, 4))
        rows = [row[:c] + row[c + 1 :] for row in rows]
    elif kind == "duplicate_column":
        c = draw(st.integers(0, 4))
        rows = [[*row, row[c]] for row in rows]
    elif kind == "extra_fields":
        r = draw(st.integers(1, len(rows) - 1))
        rows[r] = rows[r] + draw(st.lists(CELL, min_size=1, max_size=3))
    elif kind == "encoding":
        encoding = draw(st.sampled_from(["utf-8-sig", "utf-16", "utf-16-le", "latin-1", "cp1252"]))
    elif kind == "separator":
        sep = draw(st.sampled_from([";", "\t", "|"]))
        end = draw(st.sampled_from(["\n", "\r\n"]))
    text = render(rows, sep, end)
    if kind == "blank_lines":
        text = text.replace(end, end + end * draw(st.integers(1, 2)), 1)
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
    if kind == "cut":
        data = data[: draw(st.integers(0, len(data)))]
    elif kind == "bytes":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    return kind, data


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="salescope-prop-") as folder:
        yield Path(folder)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(variant())
def test_the_reader_returns_a_table_or_a_clean_error(case: tuple[str, bytes]) -> None:
    """Any variation of a valid orders file is read as a typed table, or refused with an
    InputError naming the file; a table read never holds a replaced character."""
    _, data = case
    with scratch() as folder:
        path = folder / "orders.csv"
        path.write_bytes(data)
        try:
            frame = read_table(path, ORDERS)
        except InputError as error:
            refusal = str(error)
        else:
            refusal = ""
        if refusal:
            assert str(path) in refusal
            return
    assert frame.schema["quantity"] == pl.Float64
    assert (frame["quantity"] > 0).all()
    if "\ufffd".encode() not in data:
        for column in ("customer_id", "order_id", "product_id"):
            assert not frame[column].str.contains("\ufffd").any()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(variant())
def test_next_orders_input_check_accepts_or_refuses_cleanly(case: tuple[str, bytes]) -> None:
    """The input check of next-orders gives a request, an InputError (the file) or a
    FieldError (an empty history), nothing else."""
    _, data = case
    with scratch() as folder:
        path = folder / "orders.csv"
        path.write_bytes(data)
        try:
            request = check_next_orders(**read_inputs(orders=path))
        except (InputError, FieldError):
            return
        assert request.orders.height > 0


def _run(*args: str) -> Result:
    """The command line in-process, its output captured."""
    from salescope.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv, stdout, stderr = sys.argv, sys.stdout, sys.stderr
    sys.argv, sys.stdout, sys.stderr = ["salescope", *args], out, err
    try:
        main()
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    finally:
        sys.argv, sys.stdout, sys.stderr = argv, stdout, stderr
    return Result(code, out.getvalue(), err.getvalue())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(variant())
def test_import_stores_all_or_nothing(case: tuple[str, bytes]) -> None:
    """import tables of a variation exits 0 or 1 without a traceback; when it refuses,
    nothing is stored (no table version, no temporary)."""
    _, data = case
    with scratch() as folder:
        path = folder / "orders.csv"
        path.write_bytes(data)
        data_dir = folder / "data"
        result = _run("--data-dir", str(data_dir), "import", "tables", str(path))
        assert result.code in (0, 1), result.stderr
        assert "Traceback" not in result.stderr
        if result.code == 1:
            assert "error:" in result.stderr
            assert not (data_dir / "tables" / "CURRENT").exists()
        assert not list(folder.rglob("*.partial"))


@st.composite
def assign_variant(draw: st.DrawFn) -> bytes:
    """A customers file for assign: valid, or with one cell replaced by any text. Every
    customer fits (a rep's capacity exceeds all workloads together): assign's handling of
    customers that do not fit is the coverage engine's issue, tested there."""
    n = draw(st.integers(1, 6))
    rows = [["customer_id", "latitude", "longitude", "workload_minutes", "rep_id"]]
    for i in range(n):
        rows.append(
            [
                f"c{i}",
                f"{draw(st.floats(44, 46)):.4f}",
                f"{draw(st.floats(9, 11)):.4f}",
                str(draw(st.integers(0, 100))),
                draw(st.sampled_from(["", "r1", "r2"])),
            ]
        )
    if draw(st.booleans()):
        r = draw(st.integers(1, n))
        rows[r][draw(st.integers(0, 4))] = draw(CELL)
    return render(rows).encode()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(assign_variant())
def test_assign_writes_whole_or_nothing(customers: bytes) -> None:
    """assign on a variation of the customers exits 0 with a complete output, or 1 with
    no output and no temporary; never a traceback."""
    with scratch() as folder:
        (folder / "reps.csv").write_text(
            "rep_id,latitude,longitude,capacity_minutes\nr1,45,10,1000\nr2,45.5,10.5,1000\n"
        )
        (folder / "customers.csv").write_bytes(customers)
        out = folder / "out" / "a.csv"
        result = _run(
            "--data-dir",
            str(folder / "data"),
            "assign",
            "--reps",
            str(folder / "reps.csv"),
            "--customers",
            str(folder / "customers.csv"),
            "--out",
            str(out),
        )
        assert result.code in (0, 1), result.stderr
        assert "Traceback" not in result.stderr
        if result.code == 0:
            written = pl.read_csv(out, infer_schema=False)
            given_ids = read_table(folder / "customers.csv", ASSIGN_CUSTOMERS)["customer_id"]
            assert sorted(written["customer_id"]) == sorted(given_ids)
        else:
            assert not out.exists()
        assert not list(folder.rglob("*.partial"))
