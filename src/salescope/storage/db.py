"""The operational database: an engine, one-transaction sessions and migrations, from a URL.

Nothing is created at import time: build a ``Database`` where a command or an app starts
(``Database.from_settings(settings)``) and pass it down.

SQLite (the default, a file in the data directory) gets foreign keys enforced, write-ahead
logging, and real transactions: SQLAlchemy emits ``BEGIN`` itself instead of the ``sqlite3``
module's legacy mode, so DDL in migrations and SAVEPOINTs are transactional as on PostgreSQL.
PostgreSQL URLs use psycopg 3 (``postgresql://`` and ``postgres://`` are read as
``postgresql+psycopg://``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path, PurePath
from types import TracebackType
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

if TYPE_CHECKING:
    from salescope.config import Settings

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")
"""Alembic's script directory, shipped inside the package."""


def normalize_url(url: str | URL) -> URL:
    """``url`` as a SQLAlchemy URL, PostgreSQL ones on the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _json_default(value: Any) -> Any:
    """JSON for the values details and counts commonly hold: dates, paths, sets, dataclasses."""
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


json_dumps = functools.partial(json.dumps, default=_json_default, ensure_ascii=False)
"""The JSON serializer of JSON columns."""


def _sqlite_is_memory(url: URL) -> bool:
    database = url.database or ""
    return (
        database in ("", ":memory:")
        or "mode=memory" in database
        or (database.startswith("file::memory:"))
    )


def _sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite URL, or None for an in-memory database."""
    if _sqlite_is_memory(url):
        return None
    database = url.database or ""
    if url.query.get("uri") in ("true", "1") or database.startswith("file:"):
        database = database.removeprefix("file:").split("?", 1)[0]
    return Path(database)


def _install_sqlite_hooks(engine: Engine, *, memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Take transaction control away from the sqlite3 module (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            connection.exec_driver_sql("BEGIN")


def _raw_execute(connection: Connection, sql: str) -> None:
    """Run ``sql`` on the DBAPI connection, outside any SQLAlchemy transaction."""
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql)
    finally:
        cursor.close()


@contextmanager
def migration_connection(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction for running migrations, committed if the block succeeds.

    On SQLite, foreign keys are switched off for the duration (batch migrations rebuild tables,
    which must not cascade or fail half-way) and checked before committing.
    """
    with engine.connect() as connection:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:
            _raw_execute(connection, "PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                yield connection
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(
                            f"migration left {len(broken)} rows with broken foreign keys, "
                            f"first: {tuple(broken[0])}"
                        )
        finally:
            if sqlite:
                _raw_execute(connection, "PRAGMA foreign_keys=ON")


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the packaged migrations, without any ini file.

    With ``connection``, the migration environment runs on it (and inside its transaction).
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest migration shipped with this version of Salescope."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


class Database:
    """The operational database at ``url``: engine, sessions, migrations.

    ``engine_options`` go to ``sqlalchemy.create_engine``.
    """

    def __init__(self, url: str | URL, *, echo: bool = False, **engine_options: Any) -> None:
        self.url: URL = normalize_url(url)
        options: dict[str, Any] = {"echo": echo, "json_serializer": json_dumps, **engine_options}
        if self.dialect_name == "sqlite":
            memory = _sqlite_is_memory(self.url)
            path = _sqlite_file(self.url)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            if memory and "poolclass" not in options:
                # One shared connection, so every session sees the same in-memory database.
                options["poolclass"] = StaticPool
                options.setdefault("connect_args", {}).setdefault("check_same_thread", False)
            self.engine: Engine = sa.create_engine(self.url, **options)
            _install_sqlite_hooks(self.engine, memory=memory)
        else:
            options.setdefault("pool_pre_ping", True)
            self.engine = sa.create_engine(self.url, **options)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings, **engine_options: Any) -> Database:
        """The database of ``settings`` (SQLite in the data directory unless a URL is set)."""
        return cls(settings.resolved_database_url, **engine_options)

    @property
    def dialect_name(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.url.get_dialect().name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed if the block succeeds, rolled back if not.

        Objects stay usable after the block (``expire_on_commit=False``).
        """
        with self._sessions() as session, session.begin():
            yield session

    def upgrade(self, revision: str = "head") -> None:
        """Migrate the schema up to ``revision`` (default: the newest), in one transaction."""
        with migration_connection(self.engine) as connection:
            command.upgrade(alembic_config(connection), revision)

    def downgrade(self, revision: str = "base") -> None:
        """Migrate the schema down to ``revision`` (default: nothing left), in one transaction."""
        with migration_connection(self.engine) as connection:
            command.downgrade(alembic_config(connection), revision)

    def current_revision(self) -> str | None:
        """The migration the database is at, or None if it has never been migrated."""
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def is_up_to_date(self) -> bool:
        """Whether the database is at the newest migration."""
        return self.current_revision() == head_revision()

    def dispose(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.dispose()

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"
