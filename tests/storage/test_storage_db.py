"""The Database: transactions, SQLite settings, timestamps, constraints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from salescope.config import get_settings
from salescope.storage import repositories as repo
from salescope.storage.db import Database, normalize_url
from salescope.storage.models import AuditEvent, Region, User, user_regions


class BoomError(Exception):
    """Raised on purpose inside a transaction."""


def _usernames(db: Database) -> list[str]:
    with db.session() as session:
        return list(session.scalars(sa.select(User.username).order_by(User.username)))


def test_session_commits_when_the_block_succeeds(db: Database) -> None:
    """What a successful session block writes is there afterwards."""
    with db.session() as session:
        session.add(User(username="ana", role="manager"))
    assert _usernames(db) == ["ana"]


def test_failing_block_writes_nothing(db: Database) -> None:
    """An exception inside session() rolls back everything the block wrote, flushed or not."""

    def write_then_fail() -> None:
        with db.session() as session:
            session.add(User(username="ana", role="manager"))
            session.flush()
            session.execute(sa.insert(Region).values(code="north", name="North"))
            session.add(AuditEvent(actor="ana", action="user.created", details={}))
            raise BoomError

    with pytest.raises(BoomError):
        write_then_fail()
    assert _usernames(db) == []
    with db.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Region)) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0


def test_savepoint_rollback_undoes_only_its_own_writes(db: Database) -> None:
    """A rolled-back nested transaction keeps the enclosing transaction's writes."""

    def nested_fail(session: Session) -> None:
        with session.begin_nested():
            session.add(User(username="bob", role="rep"))
            session.flush()
            raise BoomError

    with db.session() as session:
        session.add(User(username="ana", role="manager"))
        with pytest.raises(BoomError):
            nested_fail(session)
    assert _usernames(db) == ["ana"]


def test_foreign_keys_are_enforced(db: Database) -> None:
    """A link to a user and a region that do not exist is refused."""
    with pytest.raises(IntegrityError), db.session() as session:
        session.execute(sa.insert(user_regions).values(user_id=41, region_id=42))


def test_check_constraints_refuse_unknown_values(db: Database) -> None:
    """A user role outside the vocabulary is refused by the database."""
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(User(username="eve", role="overlord"))


def test_users_manage_regions(db: Database) -> None:
    """A user's managed regions are stored and read back in both directions."""
    with db.session() as session:
        north, south = Region(code="north", name="North"), Region(code="south", name="South")
        session.add(User(username="ana", role="manager", regions=[south, north]))
    with db.session() as session:
        ana = session.scalars(sa.select(User).where(User.username == "ana")).one()
        assert [r.code for r in ana.regions] == ["north", "south"]
        assert ana.active is True
        assert ana.full_name == ""
        north = session.scalars(sa.select(Region).where(Region.code == "north")).one()
        assert [u.username for u in north.managers] == ["ana"]


def test_timestamps_come_back_aware_in_utc(db: Database) -> None:
    """A timezone-aware datetime is stored as UTC and read back as the same instant in UTC."""
    local = datetime(2025, 3, 1, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    with db.session() as session:
        event = AuditEvent(at=local, action="test", details={"when": local.date()})
        session.add(event)
        session.flush()
        event_id = event.id
    with db.session() as session:
        stored = session.get(AuditEvent, event_id)
        assert stored is not None
        assert stored.at == local
        assert stored.at.tzinfo is UTC or stored.at.utcoffset() == timedelta(0)
        assert stored.at.hour == 7
        assert stored.details == {"when": "2025-03-01"}


def test_naive_datetimes_are_refused(db: Database) -> None:
    """A naive datetime cannot be stored: it would be ambiguous."""
    with pytest.raises(sa.exc.StatementError, match="naive datetime"), db.session() as session:
        repo.record_audit(session, "ana", "test", at=datetime(2025, 3, 1, 9, 30))


def test_sqlite_creates_its_directory_and_sets_pragmas(tmp_path: Path) -> None:
    """A SQLite database gets its parent directory, foreign keys on and write-ahead logging."""
    path = tmp_path / "deep" / "er" / "salescope.db"
    with Database(f"sqlite:///{path}") as database:
        assert path.parent.is_dir()
        with database.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert path.is_file()


def test_in_memory_sqlite_is_one_database_for_all_sessions() -> None:
    """An in-memory SQLite URL gives every session the same database."""
    with Database("sqlite://") as database:
        database.upgrade()
        with database.session() as session:
            session.add(User(username="ana", role="admin"))
        assert _usernames(database) == ["ana"]


def test_from_settings_uses_sqlite_in_the_data_dir(data_dir: Path) -> None:
    """Without a database URL, settings give a SQLite file in the data directory."""
    with Database.from_settings(get_settings()) as database:
        assert database.dialect_name == "sqlite"
        assert Path(database.url.database or "") == (data_dir / "salescope.db").resolve()


def test_postgresql_urls_use_psycopg() -> None:
    """postgres:// and postgresql:// URLs are read as postgresql+psycopg://."""
    assert normalize_url("postgresql://u:p@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("sqlite:///x.db").drivername == "sqlite"
