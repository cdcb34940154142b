"""Web app and API: user roles (director, merchandiser, shop) with rep and customer links,
sessions, API keys, sign-in attempts, coverage runs and their recommendations under review,
visit tasks with their reports, photos.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Written from autogenerate, then checked by hand: the users table is altered in batch mode
(SQLite rebuilds it); the former role ``analyst`` (never given by any command) becomes
``director``, the read-only role across regions.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)
ROLES = "role IN ('admin', 'director', 'manager', 'rep', 'merchandiser', 'shop')"
OLD_ROLES = "role IN ('admin', 'manager', 'rep', 'analyst')"
RECOMMENDATION_STATUSES = (
    "status IN ('proposed', 'verification_requested', 'visit_reported', 'accepted', "
    "'rejected', 'mode_changed', 'no_action')"
)


def upgrade() -> None:
    op.execute("UPDATE users SET role = 'director' WHERE role = 'analyst'")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(op.f("ck_users_role"), type_="check")
        batch.create_check_constraint("role", ROLES)
        batch.add_column(sa.Column("rep_id", sa.String(), nullable=True))
        batch.add_column(sa.Column("customer_id", sa.String(), nullable=True))
        batch.create_index(op.f("ix_users_rep_id"), ["rep_id"])

    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("last_seen_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_web_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_sessions_token_hash")),
    )
    op.create_index(op.f("ix_web_sessions_user_id"), "web_sessions", ["user_id"])

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), server_default="", nullable=False),
        sa.Column("scopes", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("last_used_at", TIMESTAMP, nullable=True),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_id", name=op.f("uq_api_keys_key_id")),
    )
    op.create_index(op.f("ix_api_keys_user_id"), "api_keys", ["user_id"])

    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
    )
    op.create_index(op.f("ix_login_attempts_email_at"), "login_attempts", ["email", "at"])
    op.create_index(op.f("ix_login_attempts_ip_at"), "login_attempts", ["ip", "at"])

    op.create_table(
        "coverage_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("actor", sa.String(length=150), nullable=True),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=True),
        sa.Column("summary", JSON, nullable=False),
        sa.Column("counts", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coverage_runs")),
    )
    op.create_index(op.f("ix_coverage_runs_fingerprint"), "coverage_runs", ["fingerprint"])

    op.create_table(
        "recommendations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("region", sa.String(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("potential", sa.Double(), nullable=True),
        sa.Column("recommendation", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("evidence", JSON, nullable=False),
        sa.Column("proposed_rep_id", sa.String(), nullable=True),
        sa.Column("proposed_mode", sa.String(length=16), nullable=True),
        sa.Column("proposed_visits_per_month", sa.Double(), nullable=True),
        sa.Column("decided_rep_id", sa.String(), nullable=True),
        sa.Column("decided_mode", sa.String(length=16), nullable=True),
        sa.Column("decided_visits_per_month", sa.Double(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=150), nullable=True),
        sa.Column("decided_at", TIMESTAMP, nullable=True),
        sa.Column("rerun_id", sa.Integer(), nullable=True),
        sa.Column("rerun", JSON, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(RECOMMENDATION_STATUSES, name=op.f("ck_recommendations_status")),
        sa.ForeignKeyConstraint(
            ["run_id"], ["coverage_runs.id"], name=op.f("fk_recommendations_run_id_coverage_runs")
        ),
        sa.ForeignKeyConstraint(
            ["rerun_id"],
            ["coverage_runs.id"],
            name=op.f("fk_recommendations_rerun_id_coverage_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recommendations")),
        sa.UniqueConstraint("customer_id", name=op.f("uq_recommendations_customer_id")),
    )
    op.create_index(op.f("ix_recommendations_region"), "recommendations", ["region"])
    op.create_index(op.f("ix_recommendations_run_id"), "recommendations", ["run_id"])
    op.create_index(
        op.f("ix_recommendations_recommendation"), "recommendations", ["recommendation"]
    )
    op.create_index(
        op.f("ix_recommendations_region_status"), "recommendations", ["region", "status"]
    )

    op.create_table(
        "visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("region", sa.String(), nullable=True),
        sa.Column("recommendation_id", sa.Integer(), nullable=True),
        sa.Column("rep_id", sa.String(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(length=150), nullable=True),
        sa.Column("requested_at", TIMESTAMP, nullable=False),
        sa.Column("visit_date", sa.Date(), nullable=True),
        sa.Column("report", JSON, nullable=False),
        sa.Column("reported_by", sa.String(length=150), nullable=True),
        sa.Column("reported_at", TIMESTAMP, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "status IN ('requested', 'draft', 'reported', 'cancelled')",
            name=op.f("ck_visits_status"),
        ),
        sa.CheckConstraint(
            "purpose IN ('sales', 'verification', 'merchandising')",
            name=op.f("ck_visits_purpose"),
        ),
        sa.ForeignKeyConstraint(
            ["recommendation_id"],
            ["recommendations.id"],
            name=op.f("fk_visits_recommendation_id_recommendations"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visits")),
    )
    op.create_index(op.f("ix_visits_customer_id"), "visits", ["customer_id"])
    op.create_index(op.f("ix_visits_region"), "visits", ["region"])
    op.create_index(op.f("ix_visits_recommendation_id"), "visits", ["recommendation_id"])
    op.create_index(op.f("ix_visits_rep_id"), "visits", ["rep_id"])

    op.create_table(
        "photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("region", sa.String(), nullable=True),
        sa.Column("file_name", sa.String(length=64), nullable=False),
        sa.Column("thumb_name", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("original_name", sa.String(length=255), nullable=False),
        sa.Column("uploaded_by", sa.String(length=150), nullable=True),
        sa.Column("uploaded_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["visits.id"], name=op.f("fk_photos_visit_id_visits"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_photos")),
        sa.UniqueConstraint("file_name", name=op.f("uq_photos_file_name")),
    )
    op.create_index(op.f("ix_photos_visit_id"), "photos", ["visit_id"])
    op.create_index(op.f("ix_photos_customer_id"), "photos", ["customer_id"])
    op.create_index(op.f("ix_photos_region"), "photos", ["region"])


def downgrade() -> None:
    for index in ("region", "customer_id", "visit_id"):
        op.drop_index(op.f(f"ix_photos_{index}"), table_name="photos")
    op.drop_table("photos")
    for index in ("rep_id", "recommendation_id", "region", "customer_id"):
        op.drop_index(op.f(f"ix_visits_{index}"), table_name="visits")
    op.drop_table("visits")
    for index in ("region_status", "recommendation", "run_id", "region"):
        op.drop_index(op.f(f"ix_recommendations_{index}"), table_name="recommendations")
    op.drop_table("recommendations")
    op.drop_index(op.f("ix_coverage_runs_fingerprint"), table_name="coverage_runs")
    op.drop_table("coverage_runs")
    op.drop_index(op.f("ix_login_attempts_ip_at"), table_name="login_attempts")
    op.drop_index(op.f("ix_login_attempts_email_at"), table_name="login_attempts")
    op.drop_table("login_attempts")
    op.drop_index(op.f("ix_api_keys_user_id"), table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_index(op.f("ix_web_sessions_user_id"), table_name="web_sessions")
    op.drop_table("web_sessions")

    op.execute("DELETE FROM users WHERE role IN ('merchandiser', 'shop')")
    op.execute("UPDATE users SET role = 'analyst' WHERE role = 'director'")
    with op.batch_alter_table("users") as batch:
        batch.drop_index(op.f("ix_users_rep_id"))
        batch.drop_column("customer_id")
        batch.drop_column("rep_id")
        batch.drop_constraint(op.f("ck_users_role"), type_="check")
        batch.create_check_constraint("role", OLD_ROLES)
