"""Foundation: regions, users, reps, customers, import runs, the audit trail.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Written from autogenerate, then checked by hand: booleans default to ``sa.true()`` (portable),
JSON is JSONB on PostgreSQL, indexes are created directly (no batch needed on new tables).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "regions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_regions")),
        sa.UniqueConstraint("code", name=op.f("uq_regions_code")),
    )

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.Column("full_name", sa.String(), server_default="", nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "role IN ('admin', 'manager', 'rep', 'analyst')", name=op.f("ck_users_role")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )

    op.create_table(
        "user_regions",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("region_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_regions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["region_id"],
            ["regions.id"],
            name=op.f("fk_user_regions_region_id_regions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "region_id", name=op.f("pk_user_regions")),
    )
    op.create_index(op.f("ix_user_regions_region_id"), "user_regions", ["region_id"])

    op.create_table(
        "reps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rep_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("region", sa.String(), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=True),
        sa.Column("latitude", sa.Double(), nullable=False),
        sa.Column("longitude", sa.Double(), nullable=False),
        sa.Column("capacity_minutes", sa.Double(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "role IN ('rep', 'merchandiser', 'telesales', 'key_account')",
            name=op.f("ck_reps_role"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reps")),
        sa.UniqueConstraint("rep_id", name=op.f("uq_reps_rep_id")),
    )
    op.create_index(op.f("ix_reps_region"), "reps", ["region"])

    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("address", sa.String(), nullable=True),
        sa.Column("city", sa.String(), nullable=True),
        sa.Column("region", sa.String(), nullable=True),
        sa.Column("channel", sa.String(), nullable=True),
        sa.Column("chain", sa.String(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("rep_id", sa.String(), nullable=True),
        sa.Column("interaction_mode", sa.String(length=16), nullable=True),
        sa.Column("visits_per_month", sa.Double(), nullable=True),
        sa.Column("latitude", sa.Double(), nullable=True),
        sa.Column("longitude", sa.Double(), nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("status IN ('served', 'prospect')", name=op.f("ck_customers_status")),
        sa.CheckConstraint(
            "interaction_mode IN "
            "('field', 'video', 'digital', 'automatic', 'merchandiser', 'wholesaler')",
            name=op.f("ck_customers_interaction_mode"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("customer_id", name=op.f("uq_customers_customer_id")),
    )
    op.create_index(op.f("ix_customers_region"), "customers", ["region"])
    op.create_index(op.f("ix_customers_rep_id"), "customers", ["rep_id"])
    op.create_index(op.f("ix_customers_status"), "customers", ["status"])

    op.create_table(
        "import_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("files", JSON, nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("counts", JSON, nullable=False),
        sa.Column("actor", sa.String(length=150), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'ok', 'failed')", name=op.f("ck_import_runs_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_runs")),
    )
    op.create_index(op.f("ix_import_runs_fingerprint"), "import_runs", ["fingerprint"])

    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("actor", sa.String(length=150), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=64), nullable=True),
        sa.Column("entity_id", sa.String(), nullable=True),
        sa.Column("details", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_at"), "audit_events", ["at"])
    op.create_index(op.f("ix_audit_events_action"), "audit_events", ["action"])
    op.create_index(
        op.f("ix_audit_events_entity_type_entity_id"), "audit_events", ["entity_type", "entity_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_events_entity_type_entity_id"), table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_action"), table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_at"), table_name="audit_events")
    op.drop_table("audit_events")

    op.drop_index(op.f("ix_import_runs_fingerprint"), table_name="import_runs")
    op.drop_table("import_runs")

    op.drop_index(op.f("ix_customers_status"), table_name="customers")
    op.drop_index(op.f("ix_customers_rep_id"), table_name="customers")
    op.drop_index(op.f("ix_customers_region"), table_name="customers")
    op.drop_table("customers")

    op.drop_index(op.f("ix_reps_region"), table_name="reps")
    op.drop_table("reps")

    op.drop_index(op.f("ix_user_regions_region_id"), table_name="user_regions")
    op.drop_table("user_regions")
    op.drop_table("users")
    op.drop_table("regions")
