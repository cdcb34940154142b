"""Alembic environment for Salescope's operational database.

Run by ``Database.upgrade()`` (which passes its own connection in
``config.attributes["connection"]``) or by the ``alembic`` command with the developer
``alembic.ini`` at the repository root, on ``sqlalchemy.url`` if set there, else on the
database of the ``SALESCOPE_*`` settings.
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from salescope.storage.models import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None and config.attributes.get("connection") is None:
    # The alembic command with alembic.ini; never when called from the application.
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from salescope.config import get_settings

    return get_settings().resolved_database_url


def _render_item(kind: str, item: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render our Python-side types as their portable SQL type: migrations import no app code."""
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # ALTERs on SQLite go through batch mode (copy and move)
        compare_type=True,
        render_item=_render_item,
        transactional_ddl=True,
    )


def run_migrations_offline() -> None:
    """Write the SQL to stdout (``alembic upgrade head --sql``)."""
    from salescope.storage.db import normalize_url

    context.configure(
        url=normalize_url(_url()),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        render_item=_render_item,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return

    from salescope.storage.db import Database, migration_connection

    with Database(_url()) as database, migration_connection(database.engine) as connection:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
