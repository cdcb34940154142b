"""The versioned Parquet table store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from salescope.storage.tables import TableStore


def orders(rows: list[tuple[str, str, int, str, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(c, o, dt.date(2024, 1, d), p, q) for c, o, d, p, q in rows],
        schema=["customer_id", "order_id", "order_date", "product_id", "quantity"],
        orient="row",
    )


FIRST = orders([("a", "1", 1, "p", 1.0), ("a", "1", 1, "q", 2.0), ("b", "2", 2, "p", 3.0)])
CUSTOMERS = pl.DataFrame({"customer_id": ["a", "b"], "name": ["A", "B"]})


def test_same_data_twice_changes_nothing(tmp_path: Path) -> None:
    """Importing identical tables a second time adds, replaces and writes nothing."""
    store = TableStore(tmp_path)
    version = store.commit(store.plan({"orders": FIRST, "customers": CUSTOMERS}))
    again = store.plan({"orders": FIRST, "customers": CUSTOMERS})
    assert not again.changed
    assert again.changes["orders"].unchanged == 2
    assert again.frames["orders"].height == 3
    assert store.version == version


def test_an_order_is_replaced_as_a_whole(tmp_path: Path) -> None:
    """Incoming lines of a known order replace all its stored lines; new orders are added."""
    store = TableStore(tmp_path)
    store.commit(store.plan({"orders": FIRST}))
    update = orders([("a", "1", 1, "p", 5.0), ("c", "3", 3, "r", 1.0)])
    plan = store.plan({"orders": update})
    change = plan.changes["orders"]
    assert (change.added, change.replaced, change.unchanged) == (1, 1, 0)
    store.commit(plan)
    stored = store.read("orders")
    assert stored is not None
    assert sorted(stored["order_id"].to_list()) == ["1", "2", "3"]
    assert stored.filter(pl.col("order_id") == "1")["quantity"].to_list() == [5.0]


def test_keyed_rows_replace_by_key_and_keep_others(tmp_path: Path) -> None:
    """A customer row replaces the stored row with its id; other stored rows stay."""
    store = TableStore(tmp_path)
    store.commit(store.plan({"customers": CUSTOMERS}))
    plan = store.plan({"customers": pl.DataFrame({"customer_id": ["b"], "name": ["Bee"]})})
    assert plan.changes["customers"].replaced == 1
    store.commit(plan)
    stored = store.read("customers")
    assert stored is not None
    assert dict(stored.iter_rows()) == {"a": "A", "b": "Bee"}


def test_tables_not_in_an_import_are_kept(tmp_path: Path) -> None:
    """A new version keeps the tables the import did not touch."""
    store = TableStore(tmp_path)
    store.commit(store.plan({"orders": FIRST, "customers": CUSTOMERS}))
    store.commit(store.plan({"customers": pl.DataFrame({"customer_id": ["z"], "name": ["Z"]})}))
    assert store.names() == ["customers", "orders"]
    assert store.counts() == {"customers": 3, "orders": 3}


def test_a_failed_write_leaves_the_current_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If writing a version fails, readers still see the previous version and no debris."""
    store = TableStore(tmp_path)
    first = store.commit(store.plan({"orders": FIRST}))

    def broken(frame: pl.DataFrame, target: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("salescope.storage.tables.write_parquet", broken)
    with pytest.raises(OSError, match="disk full"):
        store.commit(store.plan({"customers": CUSTOMERS}))
    assert store.version == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CURRENT", first]


def test_rollback_restores_the_previous_version(tmp_path: Path) -> None:
    """rollback_to makes an older version current again; old versions are pruned to two."""
    store = TableStore(tmp_path)
    versions = [
        store.commit(store.plan({"customers": pl.DataFrame({"customer_id": [f"c{i}"]})}))
        for i in range(4)
    ]
    assert sorted(p.name for p in tmp_path.glob("v*")) == versions[-2:]
    store.rollback_to(versions[-2])
    assert store.counts() == {"customers": 3}
    store.rollback_to(None)
    assert store.version is None
    assert store.names() == []
