"""Storage fixtures: a database per test, on SQLite and on PostgreSQL.

``database_url`` is parametrised over both backends; the PostgreSQL case gets a fresh
database on the session's server (see ``tests/pg.py``), skipped when PostgreSQL is not
installed unless ``SALESCOPE_REQUIRE_POSTGRES=1``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from salescope.storage.db import Database


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
