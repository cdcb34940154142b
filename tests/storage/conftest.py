"""Storage fixtures: a database per test, on SQLite and on PostgreSQL.

``database_url`` is parametrised over both backends; the PostgreSQL case gets a fresh
database on the session's server (see ``tests/pg.py``), skipped when PostgreSQL is not
installed unless ``SALESCOPE_REQUIRE_POSTGRES=1``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.pg import postgres_server_url, postgres_url  # noqa: F401 (fixtures)

from salescope.storage.db import Database

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty database: a SQLite file in a directory that does not exist yet, or a
    fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'not-yet' / 'salescope.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def empty_db(database_url: str) -> Iterator[Database]:
    """A Database on an empty, unmigrated database."""
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def db(empty_db: Database) -> Database:
    """A Database migrated to the newest revision."""
    empty_db.upgrade()
    return empty_db
