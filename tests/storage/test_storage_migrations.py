"""Migrations: upgrade to head and back to base, step by step, and agree with the models."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from salescope.storage.db import Database, alembic_config, head_revision
from salescope.storage.models import Base

TABLES = {
    "regions",
    "users",
    "user_regions",
    "reps",
    "customers",
    "import_runs",
    "audit_events",
    "proposal_runs",
    "proposal_lines",
    "feedback_outcomes",
    "resting_products",
    "acceptance_calibrations",
    "web_sessions",
    "api_keys",
    "login_attempts",
    "coverage_runs",
    "recommendations",
    "visits",
    "photos",
    "model_runs",
    "placed_orders",
    "placed_order_lines",
    "held_out_lines",
    "auto_orders",
    "shop_tasks",
    "invitations",
}


def _tables(database: Database) -> set[str]:
    return set(sa.inspect(database.engine).get_table_names()) - {"alembic_version"}


def test_upgrade_creates_every_table_at_head(empty_db: Database) -> None:
    """An empty database upgrades to the newest revision with every foundation table."""
    assert empty_db.current_revision() is None
    assert not empty_db.is_up_to_date()
    empty_db.upgrade()
    assert empty_db.current_revision() == head_revision()
    assert empty_db.is_up_to_date()
    assert _tables(empty_db) >= TABLES


def test_upgrade_twice_changes_nothing(db: Database) -> None:
    """Upgrading a database already at head is a no-op."""
    db.upgrade()
    assert db.current_revision() == head_revision()
    assert _tables(db) >= TABLES


def test_downgrade_to_base_removes_every_table(db: Database) -> None:
    """Downgrading to base leaves no table behind, and upgrading again works."""
    db.downgrade("base")
    assert db.current_revision() is None
    assert _tables(db) == set()
    db.upgrade()
    assert _tables(db) >= TABLES


def test_every_revision_upgrades_and_downgrades(empty_db: Database) -> None:
    """Each migration, applied in order, upgrades, downgrades one step and upgrades again."""
    scripts = ScriptDirectory.from_config(alembic_config())
    revisions = [script.revision for script in reversed(list(scripts.walk_revisions()))]
    assert revisions, "no migration found"
    for revision in revisions:
        empty_db.upgrade(revision)
        assert empty_db.current_revision() == revision
        empty_db.downgrade("-1")
        empty_db.upgrade(revision)
        assert empty_db.current_revision() == revision


def test_models_match_migrations(db: Database) -> None:
    """Autogenerate finds no difference between the models and the migrated schema."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
