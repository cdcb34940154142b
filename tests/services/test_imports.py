"""Imports: all-or-nothing, idempotent, audited."""

from __future__ import annotations

from pathlib import Path

import pytest

from salescope.config import get_settings
from salescope.data.adapters import AdapterOutput
from salescope.domain.errors import InputError, SalescopeError
from salescope.services.imports import check_import, do_import, read_canonical, store_output
from salescope.storage import repositories as repo
from salescope.storage.db import Database
from salescope.storage.tables import TableStore

ORDERS = (
    "customer_id,order_id,order_date,product_id,quantity\n"
    "c1,o1,2024-01-05,p1,3\nc1,o1,2024-01-05,p2,1\nc2,o2,2024-01-06,p1,2\n"
)
CUSTOMERS = (
    "customer_id,name,region,latitude,longitude\nc1,Shop 1,North,45,10\nc2,Shop 2,South,46,11\n"
)


@pytest.fixture(autouse=True)
def on_each_database(data_dir: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every import test runs on SQLite and on PostgreSQL."""
    monkeypatch.setenv("SALESCOPE_DATABASE_URL", database_url)


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    (tmp_path / "in").mkdir()
    orders = tmp_path / "in" / "orders.csv"
    orders.write_text(ORDERS)
    customers = tmp_path / "in" / "customers.csv"
    customers.write_text(CUSTOMERS)
    return [orders, customers]


def test_importing_twice_duplicates_nothing(data_dir: Path, files: list[Path]) -> None:
    """The second import of the same files changes no table and no customer row."""
    settings = get_settings()
    first = do_import(settings, check_import("tables", files))
    assert first.changed
    assert first.database["customers"].added == 2
    second = do_import(settings, check_import("tables", files))
    assert not second.changed
    assert second.version is None
    assert second.database["customers"].changed is False
    assert TableStore(settings.tables_dir).counts() == {"customers": 2, "orders": 3}


def test_import_is_audited(data_dir: Path, files: list[Path]) -> None:
    """Each import leaves an import run and an audit event with its counts."""
    settings = get_settings()
    do_import(settings, check_import("tables", files), actor="analyst")
    do_import(settings, check_import("tables", files), actor="analyst")
    with Database.from_settings(settings) as database, database.session() as session:
        runs = repo.list_imports(session)
        events = repo.list_audit(session, action_prefix="import.")
    assert [r.status for r in runs] == ["ok", "ok"]
    assert [e.action for e in events] == ["import.completed", "import.unchanged"]
    assert events[0].actor == "analyst"
    assert events[0].details["tables"]["orders"]["added"] == 2


def test_a_bad_file_imports_nothing(data_dir: Path, files: list[Path], tmp_path: Path) -> None:
    """When one file of an import is bad, no table of the import is stored."""
    settings = get_settings()
    bad = tmp_path / "in" / "products.csv"
    bad.write_text("product_id,pack_size\np1,0\n")
    with pytest.raises(InputError, match="pack_size"):
        do_import(settings, check_import("tables", [*files, bad]))
    assert TableStore(settings.tables_dir).version is None


def test_a_database_failure_rolls_the_tables_back(
    data_dir: Path, files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the database step fails after the tables were written, the old version comes back."""
    settings = get_settings()
    do_import(settings, check_import("tables", files[:1]))
    store = TableStore(settings.tables_dir)
    before = store.version

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(repo, "finish_import", fail)
    with pytest.raises(RuntimeError):
        do_import(settings, check_import("tables", files))
    assert store.version == before
    assert store.names() == ["orders"]


def test_two_businesses_are_not_mixed(data_dir: Path, files: list[Path]) -> None:
    """Data from another adapter source are refused unless the store is replaced."""
    settings = get_settings()
    tables = read_canonical(files).tables
    store_output(settings, AdapterOutput("iowa", tables), files=("x",), fingerprint="a")
    with pytest.raises(SalescopeError, match="mix two businesses"):
        store_output(
            settings, AdapterOutput("online-retail", tables), files=("y",), fingerprint="b"
        )
    report = store_output(
        settings,
        AdapterOutput("online-retail", tables),
        files=("y",),
        fingerprint="b",
        replace=True,
    )
    assert report.changed


def test_files_must_be_named_after_a_table(data_dir: Path, tmp_path: Path) -> None:
    """A file whose name is not a canonical table needs --table."""
    odd = tmp_path / "sales.csv"
    odd.write_text(ORDERS)
    with pytest.raises(InputError, match="not named after a canonical table"):
        do_import(get_settings(), check_import("tables", [odd]))
    report = do_import(get_settings(), check_import("tables", [odd], table="orders"))
    assert report.kept == {"orders": 3}


@pytest.mark.shared_data
def test_iowa_raw_export_imports_once(data_dir: Path, shared_data: Path) -> None:
    """The Iowa portal export imports with its counts, and a second run changes nothing."""
    raw = shared_data / "iowa-liquor" / "Iowa_Liquor_Sales_10k_raw_format.csv"
    first = do_import(get_settings(), check_import("iowa", [raw]))
    assert first.kept["orders"] > 9_000
    assert sum(d.rows for d in first.dropped if d.table == "orders") + first.kept["orders"] == (
        10_000
    )
    second = do_import(get_settings(), check_import("iowa", [raw]))
    assert not second.changed
    assert second.changes["orders"].unchanged == first.changes["orders"].added


def test_an_order_in_two_files_of_one_import_is_refused(data_dir: Path, tmp_path: Path) -> None:
    """The same order_id in two files of one call is refused naming both places; nothing is
    stored."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = tmp_path / "a" / "orders.csv"
    a.write_text("customer_id,order_id,order_date,product_id,quantity\nN1,NX1,2024-01-01,P1,2\n")
    b = tmp_path / "b" / "orders.csv"
    b.write_text(
        "customer_id,order_id,order_date,product_id,quantity\n"
        "N2,NX2,2024-01-02,P1,1\nN1,NX1,2024-01-01,P1,9\n"
    )
    with pytest.raises(InputError) as caught:
        do_import(get_settings(), check_import("tables", [a, b]))
    message = str(caught.value)
    assert f"{b}, line 3, column 'order_id': 'NX1' is also in {a} (line 2)" in message
    assert TableStore(get_settings().tables_dir).version is None


def test_a_customer_of_an_unknown_rep_is_refused(data_dir: Path, tmp_path: Path) -> None:
    """A customer naming a rep that no reps table imported now or before knows is refused
    with its line; with the reps imported first it is stored."""
    customers = tmp_path / "customers.csv"
    customers.write_text("customer_id,rep_id\nc1,r1\nc2,R9\n")
    with pytest.raises(InputError, match=r"line 3, column 'rep_id': 'R9' is not a known rep"):
        do_import(get_settings(), check_import("tables", [customers]))
    reps = tmp_path / "reps.csv"
    reps.write_text("rep_id,latitude,longitude,capacity_minutes\nr1,45,10,600\nR9,46,11,600\n")
    do_import(get_settings(), check_import("tables", [reps]))
    assert do_import(get_settings(), check_import("tables", [customers])).changed


def test_orders_of_unknown_customers_and_products_are_stored_and_counted(
    data_dir: Path, files: list[Path], tmp_path: Path
) -> None:
    """Order lines naming customers or products no table knows are stored, and the report
    notes how many, with the first values and lines."""
    do_import(get_settings(), check_import("tables", files))
    products = tmp_path / "products.csv"
    products.write_text("product_id\np1\n")
    more = tmp_path / "more" / "orders.csv"
    more.parent.mkdir()
    more.write_text(
        "customer_id,order_id,order_date,product_id,quantity\nc1,o9,2024-02-01,p1,1\n"
        "c7,o8,2024-02-02,p3,1\n"
    )
    report = do_import(get_settings(), check_import("tables", [products, more]))
    notes = "\n".join(report.notes)
    assert "1 order line names 1 customer not in the customers imported now or before" in notes
    assert "'c7' (line 3)" in notes
    assert "1 order line names 1 product not in the products imported now or before" in notes
    assert TableStore(get_settings().tables_dir).counts()["orders"] == 5
