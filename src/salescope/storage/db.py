"""The operational database: an engine, one-transaction sessions and migrations, from a URL.

Nothing is created at import time: build a ``Database`` where a command or an app starts
(``Database.from_settings(settings)``) and pass it down.

SQLite (the default, a file in the data directory) gets foreign keys enforced, write-ahead
logging, and real transactions: SQLAlchemy emits ``BEGIN`` itself instead of the ``sqlite3``
module's legacy mode, so DDL in migrations and SAVEPOINTs are transactional as on PostgreSQL.
PostgreSQL URLs use psycopg 3 (``postgresql://`` and ``postgres://`` are read as
``postgresql+psycopg://``).

Concurrency: SQLite transactions start with ``BEGIN IMMEDIATE`` (``session(readonly=True)``
with a plain ``BEGIN``): a writer takes the write lock first and waits for another one up to
``busy_timeout`` seconds, instead of failing when it upgrades a stale read snapshot; WAL lets
readers go on meanwhile. ``transaction`` runs a unit of work and runs it again, a few times,
when the database reports a transient conflict (SQLite busy, PostgreSQL serialization
failure, deadlock or lock timeout). ``writer_lock`` serialises the read-modify-write use
cases (import, feedback) on PostgreSQL with a transaction-scoped advisory lock, the row lock
of a "writer" row that needs no table. Errors of the environment (a read-only file, a folder
that does not exist, a server that does not answer) become ``DatabaseUnavailableError`` naming
the database.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path, PurePath
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from salescope.domain.errors import SalescopeError

if TYPE_CHECKING:
    from salescope.config import Settings

T = TypeVar("T")

BUSY_TIMEOUT = 30.0
"""Seconds a SQLite writer waits for the write lock held by another one."""
ATTEMPTS = 5
"""Times ``Database.transaction`` runs a unit of work that meets a transient conflict."""
WRITER_LOCK = 0x5A1E5C09E
"""Key of the PostgreSQL advisory lock that serialises import and feedback writers."""
MIGRATION_LOCK = 0x5A1E5C0DB
"""Key of the PostgreSQL advisory lock that serialises migrations."""


class DatabaseUnavailableError(SalescopeError):
    """The database cannot be opened, read or written as the environment stands."""


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


def sqlite_path(url: str | URL) -> Path | None:
    """The file of a SQLite URL (None in memory or for another database)."""
    parsed = normalize_url(url)
    return _sqlite_file(parsed) if parsed.get_dialect().name == "sqlite" else None


def _install_sqlite_hooks(engine: Engine, *, memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Take transaction control away from the sqlite3 module (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            readonly = connection.get_execution_options().get("salescope_readonly", False)
            connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


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

    On PostgreSQL the transaction first takes an advisory lock, so that processes starting
    together on a new database migrate it once (SQLite's ``BEGIN IMMEDIATE`` does the same).

    On SQLite, foreign keys are switched off for the duration (batch migrations rebuild tables,
    which must not cascade or fail half-way) and checked before committing.
    """
    with engine.connect() as connection:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:
            _raw_execute(connection, "PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                if engine.dialect.name == "postgresql":
                    # one migrating process at a time: the others wait, then find it done
                    connection.execute(
                        sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
                    )
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
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as error:
                    raise DatabaseUnavailableError(
                        f"the folder of the database {path} cannot be created: {error}"
                    ) from error
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
        # a read-only session begins a plain transaction (BEGIN, not BEGIN IMMEDIATE on SQLite):
        # the option rides on the connection, wherever the session's first statement runs
        self._readonly = sessionmaker(
            self.engine.execution_options(salescope_readonly=True), expire_on_commit=False
        )

    @classmethod
    def from_settings(cls, settings: Settings, **engine_options: Any) -> Database:
        """The database of ``settings`` (SQLite in the data directory unless a URL is set)."""
        return cls(settings.resolved_database_url, **engine_options)

    @property
    def dialect_name(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.url.get_dialect().name

    @contextmanager
    def session(self, *, readonly: bool = False) -> Iterator[Session]:
        """A session in one transaction: committed if the block succeeds, rolled back if not.

        Objects stay usable after the block (``expire_on_commit=False``). On SQLite a session
        takes the write lock when it starts (waiting for another writer), unless
        ``readonly``. Errors of the environment become ``DatabaseUnavailableError``.
        """
        sessions = self._readonly if readonly else self._sessions
        try:
            with sessions() as session, session.begin():
                yield session
        except OperationalError as error:
            if is_transient(error):
                raise
            raise DatabaseUnavailableError(self.describe(error)) from error

    def transaction(
        self,
        work: Callable[[Session], T],
        *,
        readonly: bool = False,
        attempts: int = ATTEMPTS,
        writer: bool = False,
    ) -> T:
        """``work(session)`` in one transaction (``session``), run again on a transient
        conflict up to ``attempts`` times in all; with ``writer``, the transaction first takes
        the writer lock (``writer_lock``). ``work`` must only change the database: a failed
        attempt is rolled back whole."""
        for attempt in range(1, attempts + 1):
            try:
                with self.session(readonly=readonly) as session:
                    if writer:
                        writer_lock(session)
                    return work(session)
            except DBAPIError as error:
                if not is_transient(error) or attempt == attempts:
                    if is_transient(error):
                        raise DatabaseUnavailableError(self.describe(error)) from error
                    raise
                time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")  # pragma: no cover

    def upgrade(self, revision: str = "head") -> None:
        """Migrate the schema up to ``revision`` (default: the newest), in one transaction;
        run again on a transient conflict (another process migrating at the same time)."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with migration_connection(self.engine) as connection:
                    command.upgrade(alembic_config(connection), revision)
                return
            except DBAPIError as error:
                if is_transient(error) and attempt < ATTEMPTS:
                    time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
                    continue
                raise DatabaseUnavailableError(self.describe(error)) from error
            except OSError as error:
                raise DatabaseUnavailableError(
                    f"the database {self.display} cannot be prepared: {error}"
                ) from error

    @property
    def sqlite_path(self) -> Path | None:
        """The file of a SQLite database (None in memory or on another database)."""
        return sqlite_path(self.url)

    @property
    def display(self) -> str:
        """The database for people: a SQLite file's path, or the URL without password."""
        path = _sqlite_file(self.url) if self.dialect_name == "sqlite" else None
        if path is not None:
            return str(path)
        return self.url.render_as_string(hide_password=True)

    def describe(self, error: BaseException) -> str:
        """What a database error means for the user, naming the database."""
        return describe_database_error(error, self.display)

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


def is_transient(error: BaseException) -> bool:
    """Whether a database error is a conflict with another transaction that a new attempt
    can pass: SQLite busy or locked; PostgreSQL serialization failure, deadlock, lock
    timeout."""
    original = getattr(error, "orig", error)
    state = getattr(original, "sqlstate", None)
    if state in ("40001", "40P01", "55P03"):
        return True
    text = str(original).lower()
    return "database is locked" in text or "database is busy" in text or "table is locked" in text


def describe_database_error(error: BaseException, where: str = "the database") -> str:
    """A database error in words a user can act on."""
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()[0] if str(original).strip() else ""
    lower = text.lower()
    name = where if where.startswith("the database") else f"the database {where}"
    if "readonly database" in lower or "read-only" in lower:
        return (
            f"{name} cannot be written (the file or its folder is read-only): make it "
            "writable, or choose another --data-dir or --database-url"
        )
    if "unable to open database file" in lower:
        return (
            f"{name} cannot be opened (its folder does not exist or cannot be written): "
            "choose another --data-dir or --database-url"
        )
    if is_transient(error):
        return (
            f"{name} stayed busy: another run kept it locked for more than "
            f"{BUSY_TIMEOUT:.0f} s; try again when it has finished"
        )
    if "malformed" in lower or "not a database" in lower or "disk i/o" in lower:
        return f"{name} is damaged or is not a database ({text})"
    if "connection" in lower or "could not connect" in lower or "timeout" in lower:
        return f"{name} cannot be reached: {text}"
    return f"{name} failed: {text or type(original).__name__}"


def writer_lock(session: Session) -> None:
    """Serialise the writers of imports and feedback: on PostgreSQL, a transaction-scoped
    advisory lock (released at commit or rollback); on SQLite the transaction's
    ``BEGIN IMMEDIATE`` already holds the database's write lock."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITER_LOCK})
