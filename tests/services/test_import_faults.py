"""An import killed or failing at every step: afterwards the table store and the database
agree, and a re-run ends where a clean run ends — on SQLite and on PostgreSQL."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.cli_runner import child_env, run_child

from salescope.config import Settings, get_settings
from salescope.faults import ENV, POINTS, FaultInjectedError
from salescope.services.imports import check_import, committed_version, do_import, recover_store
from salescope.storage import repositories as repo
from salescope.storage.db import Database
from salescope.storage.models import Customer
from salescope.storage.tables import TableStore

ORDERS_1 = "customer_id,order_id,order_date,product_id,quantity\nc1,o1,2024-01-05,p1,3\n"
ORDERS_2 = (
    "customer_id,order_id,order_date,product_id,quantity\n"
    "c1,o1,2024-01-05,p1,4\nc2,o2,2024-01-06,p2,1\nc3,o3,2024-01-07,p1,2\n"
)
CUSTOMERS_1 = "customer_id,name,rep_id\nc1,Shop 1,r1\nc2,Shop 2,\n"
CUSTOMERS_2 = "customer_id,name,rep_id\nc2,Shop Two,r1\nc3,Shop 3,r1\n"
REPS = "rep_id,latitude,longitude,capacity_minutes\nr1,45,10,600\n"


def _files(folder: Path, orders: str, customers: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "orders.csv").write_text(orders)
    (folder / "customers.csv").write_text(customers)
    (folder / "reps.csv").write_text(REPS)
    return [folder / "orders.csv", folder / "customers.csv", folder / "reps.csv"]


def _state(settings: Settings) -> dict[str, Any]:
    """What the store and the database hold, and whether they agree."""
    store = TableStore(settings.tables_dir)
    with Database.from_settings(settings) as database, database.session() as session:
        db_customers = sorted((c.customer_id, c.name) for c in session.scalars(sa.select(Customer)))
        committed = committed_version(session, store.store_id) if store.root.exists() else None
        runs = [r.status for r in repo.list_imports(session)]
    table = store.read("customers")
    store_customers = (
        sorted(table.select("customer_id", "name").iter_rows()) if table is not None else []
    )
    orders = store.read("orders")
    return {
        "version": store.version,
        "committed": committed,
        "counts": store.counts(),
        "store_customers": store_customers,
        "db_customers": db_customers,
        "orders": sorted(orders.select("order_id", "quantity").iter_rows())
        if orders is not None
        else [],
        "runs": runs,
        "leftovers": sorted(
            p.name
            for p in store.root.iterdir()
            if p.name not in ("CURRENT", "STORE") and p.name not in _versions_kept(store)
        )
        if store.root.exists()
        else [],
    }


def _versions_kept(store: TableStore) -> set[str]:
    return {m.group(0) for m in store._versions() if int(m.group(1)) <= int(store.version[1:])}


def _agree(state: dict[str, Any]) -> None:
    assert state["committed"] == state["version"]
    assert state["store_customers"] == state["db_customers"]
    assert state["leftovers"] == []


@pytest.fixture
def setup(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[Settings, list[Path], list[Path], dict[str, Any]]:
    """A data folder holding a first import, the files of a second one, and the state a
    clean second import ends in (computed in a folder of its own)."""
    monkeypatch.delenv(ENV, raising=False)
    first = _files(tmp_path / "first", ORDERS_1, CUSTOMERS_1)
    second = _files(tmp_path / "second", ORDERS_2, CUSTOMERS_2)
    clean = get_settings(data_dir=tmp_path / "clean", database_url=f"sqlite:///{tmp_path}/c.db")
    do_import(clean, check_import("tables", first))
    clean_report = do_import(clean, check_import("tables", second))
    reference = _state(clean)
    reference["changes"] = clean_report.changes
    monkeypatch.setenv("SALESCOPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SALESCOPE_DATABASE_URL", database_url)
    settings = get_settings()
    do_import(settings, check_import("tables", first))
    return settings, first, second, reference


def _same_end(state: dict[str, Any], reference: dict[str, Any]) -> None:
    for key in ("counts", "store_customers", "db_customers", "orders"):
        assert state[key] == reference[key], key


@pytest.mark.parametrize("point", POINTS["import"])
def test_a_kill_at_any_step_is_repaired_and_a_rerun_ends_as_a_clean_run(
    setup: tuple[Settings, list[Path], list[Path], dict[str, Any]], point: str
) -> None:
    """SIGKILL at each step of an import: the next start makes store and database agree
    (old data before the commit, new data after it) and a re-run gives a clean run's
    tables, customers and counts."""
    settings, _, second, reference = setup
    before = _state(settings)
    env = child_env(settings.data_dir, settings.database_url, **{ENV: f"{point}:kill"})
    killed = run_child(env, "import", "tables", *map(str, second))
    assert killed.code == -signal.SIGKILL, killed.stderr
    with Database.from_settings(settings) as database:
        recover_store(database, TableStore(settings.tables_dir))
    after = _state(settings)
    _agree(after)
    committed = after["runs"] != before["runs"]
    if committed:
        _same_end(after, reference)
    else:
        for key in ("version", "counts", "store_customers", "db_customers", "orders"):
            assert after[key] == before[key], key
    rerun = do_import(settings, check_import("tables", second))
    final = _state(settings)
    _agree(final)
    _same_end(final, reference)
    if not committed:
        assert rerun.changes == reference["changes"]
    else:
        assert not rerun.changed


@pytest.mark.parametrize("point", POINTS["import"])
def test_a_failure_at_any_step_leaves_store_and_database_as_they_were(
    setup: tuple[Settings, list[Path], list[Path], dict[str, Any]],
    point: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An exception at each step before the commit changes nothing; after it, the import
    stands whole; either way store and database agree without any repair."""
    settings, _, second, reference = setup
    before = _state(settings)
    monkeypatch.setenv(ENV, f"{point}:fail")
    with pytest.raises(FaultInjectedError):
        do_import(settings, check_import("tables", second))
    monkeypatch.delenv(ENV)
    after = _state(settings)
    if point in ("import.committed", "import.current_moved"):
        assert after["runs"] != before["runs"]
    if point == "import.current_moved":
        _agree(after)
        _same_end(after, reference)
    elif point != "import.committed":
        _agree(after)
        assert after == before
    rerun = do_import(settings, check_import("tables", second))
    final = _state(settings)
    _agree(final)
    _same_end(final, reference)
    assert rerun.changed == (point not in ("import.committed", "import.current_moved"))


def test_a_version_made_current_without_a_commit_is_withdrawn(
    setup: tuple[Settings, list[Path], list[Path], dict[str, Any]],
) -> None:
    """A CURRENT naming a version no commit records (what the former import left when killed
    between moving CURRENT and committing) goes back to the committed version."""
    settings, _, second, _ = setup
    before = _state(settings)
    store = TableStore(settings.tables_dir)
    from salescope.services.imports import read_canonical

    stray = store.write_version(store.plan(read_canonical(second).tables))
    store.make_current(stray)
    assert _state(settings)["version"] == stray
    with Database.from_settings(settings) as database:
        done = recover_store(database, store)
    assert any("withdrawn" in line for line in done)
    assert _state(settings) == before
