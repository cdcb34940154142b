"""The operational database of a command or an app, migrated to the newest schema."""

from __future__ import annotations

from salescope.config import Settings
from salescope.storage.db import Database


def open_database(settings: Settings) -> Database:
    """The database of ``settings``, upgraded to the newest migration if it is behind."""
    database = Database.from_settings(settings)
    if not database.is_up_to_date():
        database.upgrade()
    return database
