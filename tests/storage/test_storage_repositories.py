"""Repositories: bulk upserts, regions, import runs and the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
import sqlalchemy as sa

from salescope.domain.schemas import CUSTOMERS, REPS
from salescope.storage import repositories as repo
from salescope.storage.db import Database
from salescope.storage.models import Customer, ImportStatus, Region, Rep
from salescope.storage.repositories import UpsertCounts


def customers_frame(n: int = 3, **overrides: list[object]) -> pl.DataFrame:
    columns: dict[str, list[object]] = {
        "customer_id": [f"C{i:05d}" for i in range(n)],
        "name": [f"Shop {i}" for i in range(n)],
        "city": ["Des Moines"] * n,
        "region": ["north" if i % 2 else "south" for i in range(n)],
        "latitude": [41.5 + i / 1000 for i in range(n)],
        "longitude": [-93.6] * n,
        "status": ["served"] * n,
        "rep_id": ["R1"] * n,
        "interaction_mode": ["field"] * n,
        "visits_per_month": [2.0] * n,
        "population": [1000 + i for i in range(n)],  # an extra attribute: ignored
    }
    columns.update(overrides)
    schema = {name: CUSTOMERS[name].type.polars for name in columns if name in CUSTOMERS}
    return pl.DataFrame(columns, schema_overrides=schema)


def reps_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "rep_id": ["R1", "R2"],
            "latitude": [41.6, 42.0],
            "longitude": [-93.6, -91.5],
            "capacity_minutes": [9600.0, 8000.0],
            "name": ["Ana", "Bob"],
            "region": ["south", "north"],
            "role": ["rep", "merchandiser"],
        },
        schema_overrides={c.name: c.type.polars for c in REPS.columns},
    )


def stored_customers(db: Database) -> dict[str, Customer]:
    with db.session() as session:
        return {c.customer_id: c for c in session.scalars(sa.select(Customer))}


def test_upsert_counts_added_then_updated_then_unchanged(db: Database) -> None:
    """Adding, then changing one row, then repeating, counts added / updated / unchanged."""
    frame = customers_frame(3)
    with db.session() as session:
        assert repo.upsert_customers(session, frame) == UpsertCounts(added=3)
    changed = frame.with_columns(
        pl.when(pl.col("customer_id") == "C00001")
        .then(pl.lit("Shop one, renamed"))
        .otherwise(pl.col("name"))
        .alias("name")
    )
    with db.session() as session:
        assert repo.upsert_customers(session, changed) == UpsertCounts(updated=1, unchanged=2)
    with db.session() as session:
        assert repo.upsert_customers(session, changed) == UpsertCounts(unchanged=3)
    stored = stored_customers(db)
    assert stored["C00001"].name == "Shop one, renamed"
    assert stored["C00002"].latitude == pytest.approx(41.502)
    assert stored["C00002"].interaction_mode == "field"


def test_importing_the_same_frame_twice_adds_and_touches_nothing(db: Database) -> None:
    """The second upsert of an identical frame changes no row, not even updated_at."""
    frame = customers_frame(50)
    with db.session() as session:
        repo.upsert_customers(session, frame)
    before = {k: (c.id, c.updated_at) for k, c in stored_customers(db).items()}
    with db.session() as session:
        assert repo.upsert_customers(session, frame) == UpsertCounts(unchanged=50)
    after = {k: (c.id, c.updated_at) for k, c in stored_customers(db).items()}
    assert after == before


def test_nan_is_stored_as_no_value_and_stays_unchanged(db: Database) -> None:
    """A NaN number is stored as NULL, so re-importing it changes nothing on any database."""
    frame = customers_frame(2, visits_per_month=[float("nan"), 1.5])
    with db.session() as session:
        assert repo.upsert_customers(session, frame) == UpsertCounts(added=2)
        assert repo.upsert_customers(session, frame) == UpsertCounts(unchanged=2)
    assert stored_customers(db)["C00000"].visits_per_month is None


def test_only_changed_rows_get_a_new_updated_at(db: Database) -> None:
    """updated_at moves for the rows whose values changed and for no other."""
    frame = customers_frame(3)
    with db.session() as session:
        repo.upsert_customers(session, frame)
    before = stored_customers(db)
    changed = frame.with_columns(
        pl.when(pl.col("customer_id") == "C00000")
        .then(None)
        .otherwise(pl.col("visits_per_month"))
        .alias("visits_per_month")
    )
    with db.session() as session:
        assert repo.upsert_customers(session, changed) == UpsertCounts(updated=1, unchanged=2)
    after = stored_customers(db)
    assert after["C00000"].visits_per_month is None
    assert after["C00000"].updated_at > before["C00000"].updated_at
    assert after["C00001"].updated_at == before["C00001"].updated_at


def test_absent_columns_are_kept_and_extra_columns_ignored(db: Database) -> None:
    """A frame without some optional columns leaves them as stored; unknown columns are ignored."""
    with db.session() as session:
        repo.upsert_customers(session, customers_frame(2))
    partial = pl.DataFrame(
        {"customer_id": ["C00000", "C00009"], "status": ["prospect", "prospect"], "x": [1, 2]}
    )
    with db.session() as session:
        assert repo.upsert_customers(session, partial) == UpsertCounts(added=1, updated=1)
    stored = stored_customers(db)
    assert (stored["C00000"].status, stored["C00000"].name) == ("prospect", "Shop 0")
    assert (stored["C00009"].status, stored["C00009"].name) == ("prospect", None)


def test_upsert_crosses_chunk_boundaries(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads and writes in many chunks count and store every row exactly once."""
    monkeypatch.setattr(repo, "READ_CHUNK", 70)
    monkeypatch.setattr(repo, "WRITE_CHUNK", 30)
    frame = customers_frame(1_000)
    with db.session() as session:
        assert repo.upsert_customers(session, frame) == UpsertCounts(added=1_000)
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=7).with_columns(
        pl.when(pl.col("customer_id").str.ends_with("7"))
        .then(pl.col("latitude") + 1)
        .otherwise(pl.col("latitude"))
        .alias("latitude")
    )
    with db.session() as session:
        assert repo.upsert_customers(session, shuffled) == UpsertCounts(updated=100, unchanged=900)
    with db.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 1_000


def test_upsert_refuses_missing_null_or_repeated_keys(db: Database) -> None:
    """A frame whose key is absent, null or repeated is refused before anything is written."""
    with db.session() as session:
        with pytest.raises(ValueError, match="required columns: customer_id"):
            repo.upsert_customers(session, pl.DataFrame({"name": ["x"]}))
        with pytest.raises(ValueError, match="without customer_id"):
            repo.upsert_customers(session, customers_frame(2, customer_id=["C1", None]))
        with pytest.raises(ValueError, match="repeats 1 customer_id values: 'C1'"):
            repo.upsert_customers(session, customers_frame(3, customer_id=["C1", "C2", "C1"]))
        with pytest.raises(ValueError, match="capacity_minutes"):
            repo.upsert_reps(session, reps_frame().drop("capacity_minutes"))
    assert stored_customers(db) == {}


def test_empty_frame_changes_nothing(db: Database) -> None:
    """Upserting an empty canonical frame counts nothing and writes nothing."""
    with db.session() as session:
        assert repo.upsert_customers(session, CUSTOMERS.empty()) == UpsertCounts()
    assert stored_customers(db) == {}


def test_upsert_reps_by_rep_id(db: Database) -> None:
    """Reps are added, updated and left unchanged by rep_id, like customers."""
    with db.session() as session:
        assert repo.upsert_reps(session, reps_frame()) == UpsertCounts(added=2)
    moved = reps_frame().with_columns(pl.Series("capacity_minutes", [9600.0, 4000.0]))
    with db.session() as session:
        assert repo.upsert_reps(session, moved) == UpsertCounts(updated=1, unchanged=1)
        assert repo.upsert_reps(session, moved) == UpsertCounts(unchanged=2)
    with db.session() as session:
        reps = {r.rep_id: r for r in session.scalars(sa.select(Rep))}
    assert reps["R2"].capacity_minutes == 4000.0
    assert (reps["R2"].role, reps["R2"].region) == ("merchandiser", "north")


def test_ensure_regions_creates_each_missing_code_once(db: Database) -> None:
    """Regions are created for new codes only; empty codes are skipped."""
    with db.session() as session:
        assert repo.ensure_regions(session, ["north", "south", None, "", "north"]) == 2
    with db.session() as session:
        assert repo.ensure_regions(session, pl.Series(["south", "east"])) == 1
        codes = session.scalars(sa.select(Region.code).order_by(Region.code)).all()
        assert codes == ["east", "north", "south"]
        east = session.scalars(sa.select(Region).where(Region.code == "east")).one()
        assert east.name == "east"


def test_import_run_is_found_by_fingerprint(db: Database) -> None:
    """find_import returns the latest successful run of the same inputs, and only that."""
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    with db.session() as session:
        first = repo.start_import(
            session, source="iowa", files=["a.csv"], fingerprint="f" * 64, started_at=t0
        )
        repo.finish_import(session, first, counts={"customers": {"added": 3}})
        second = repo.start_import(
            session,
            source="iowa",
            files=["a.csv"],
            fingerprint="f" * 64,
            started_at=t0 + timedelta(hours=1),
        )
        repo.finish_import(session, second.id)
        failed = repo.start_import(
            session,
            source="iowa",
            files=["a.csv"],
            fingerprint="f" * 64,
            started_at=t0 + timedelta(hours=2),
        )
        repo.finish_import(session, failed, status="failed", message="bad row")
        repo.start_import(session, source="demo", files=[], fingerprint="0" * 64)
    with db.session() as session:
        found = repo.find_import(session, "f" * 64)
        assert found is not None
        assert found.id == second.id
        any_status = repo.find_import(session, "f" * 64, status=None)
        assert any_status is not None
        assert (any_status.id, any_status.message) == (failed.id, "bad row")
        assert repo.find_import(session, "f" * 64, source="online-retail") is None
        assert repo.find_import(session, "e" * 64) is None
        assert repo.find_import(session, "0" * 64) is None  # still running
        assert [r.source for r in repo.list_imports(session, limit=2)] == ["demo", "iowa"]


def test_finished_import_keeps_its_outcome(db: Database) -> None:
    """A run finished in another transaction keeps status, counts, files and times."""
    with db.session() as session:
        run = repo.start_import(
            session,
            source="tables",
            files=["customers.csv", "reps.csv"],
            fingerprint="a" * 64,
            actor="ana",
        )
    counts = {
        "customers": {"kept": 10, "dropped": {"no id": 2}, **UpsertCounts(added=10).as_dict()}
    }
    with db.session() as session:
        repo.finish_import(session, run.id, status=ImportStatus.OK, counts=counts)
    with db.session() as session:
        found = repo.find_import(session, "a" * 64)
        assert found is not None
        assert found.status == "ok"
        assert found.counts == counts
        assert found.files == ["customers.csv", "reps.csv"]
        assert found.actor == "ana"
        assert found.finished_at is not None
        assert found.finished_at >= found.started_at
        with pytest.raises(ValueError, match="final status"):
            repo.finish_import(session, found, status="running")
        with pytest.raises(LookupError):
            repo.finish_import(session, 10_000)


def test_failed_import_is_recorded_while_its_data_rolls_back(db: Database) -> None:
    """A run started in its own transaction survives the rollback of the data it was importing."""
    with db.session() as session:
        run = repo.start_import(session, source="tables", files=["c.csv"], fingerprint="b" * 64)

    def import_then_fail() -> None:
        with db.session() as session:
            repo.upsert_customers(session, customers_frame(5))
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        import_then_fail()
    with db.session() as session:
        repo.finish_import(session, run, status="failed", message="disk full")
    assert stored_customers(db) == {}
    with db.session() as session:
        found = repo.find_import(session, "b" * 64, status="failed")
        assert found is not None
        assert found.message == "disk full"


def test_audit_events_are_listed_in_the_order_they_happened(db: Database) -> None:
    """Events come back oldest first (newest first on request) and filter by entity and actor."""
    t0 = datetime(2025, 6, 1, 8, tzinfo=UTC)
    with db.session() as session:
        repo.record_audit(session, "ana", "import.completed", "import_run", 1, {"added": 3}, at=t0)
        repo.record_audit(session, "bob", "recommendation.accepted", "customer", "C1", at=t0)
        repo.record_audit(
            session, None, "import.failed", "import_run", 2, at=t0 + timedelta(minutes=5)
        )
        repo.record_audit(session, "ana", "customer.verified", "customer", "C1")
    with db.session() as session:
        everything = repo.list_audit(session)
        assert [e.action for e in everything] == [
            "import.completed",
            "recommendation.accepted",
            "import.failed",
            "customer.verified",
        ]
        assert everything[0].details == {"added": 3}
        assert everything[0].entity_id == "1"
        assert everything[1].details == {}
        assert [e.action for e in repo.list_audit(session, newest_first=True, limit=1)] == [
            "customer.verified"
        ]
        on_c1 = repo.list_audit(session, entity_type="customer", entity_id="C1")
        assert [e.actor for e in on_c1] == ["bob", "ana"]
        assert [e.entity_id for e in repo.list_audit(session, action_prefix="import.")] == [
            "1",
            "2",
        ]
        assert len(repo.list_audit(session, actor="ana")) == 2
        window = repo.list_audit(session, since=t0 + timedelta(minutes=1), until=t0 + timedelta(1))
        assert [e.action for e in window] == ["import.failed"]
