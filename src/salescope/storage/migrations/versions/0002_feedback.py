"""Feedback: proposal runs and lines, the outcomes of the orders placed, resting products,
fits of the acceptance calibrator.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

Written from autogenerate, then checked by hand: vocabularies are named CHECK constraints (as
in 0001), JSON is JSONB on PostgreSQL, new tables need no batch mode.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)
KINDS = "kind IN ('usual', 'development', 'extension', 'objective')"


def upgrade() -> None:
    op.create_table(
        "proposal_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("actor", sa.String(length=150), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("file_name", sa.String(), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("counts", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposal_runs")),
    )
    op.create_index(op.f("ix_proposal_runs_fingerprint"), "proposal_runs", ["fingerprint"])

    op.create_table(
        "proposal_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("order_date", sa.Date(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("probability", sa.Double(), nullable=False),
        sa.Column("model_probability", sa.Double(), nullable=True),
        sa.Column("quantity", sa.Double(), nullable=False),
        sa.Column("promotion_id", sa.String(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint(KINDS, name=op.f("ck_proposal_lines_kind")),
        sa.CheckConstraint(
            "probability >= 0 AND probability <= 1", name=op.f("ck_proposal_lines_probability")
        ),
        sa.CheckConstraint(
            "model_probability >= 0 AND model_probability <= 1",
            name=op.f("ck_proposal_lines_model_probability"),
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_proposal_lines_quantity")),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["proposal_runs.id"],
            name=op.f("fk_proposal_lines_run_id_proposal_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposal_lines")),
        sa.UniqueConstraint(
            "customer_id",
            "order_date",
            "product_id",
            name=op.f("uq_proposal_lines_customer_id_order_date_product_id"),
        ),
    )
    op.create_index(op.f("ix_proposal_lines_run_id"), "proposal_lines", ["run_id"])

    op.create_table(
        "feedback_outcomes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_line_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("order_date", sa.Date(), nullable=False),
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("ordered_on", sa.Date(), nullable=False),
        sa.Column("product_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("proposed_quantity", sa.Double(), nullable=True),
        sa.Column("ordered_quantity", sa.Double(), nullable=True),
        sa.Column("probability", sa.Double(), nullable=True),
        sa.Column("model_probability", sa.Double(), nullable=True),
        sa.Column("promotion_id", sa.String(), nullable=True),
        sa.Column("recorded_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "outcome IN ('accepted', 'quantity_changed', 'removed', 'added')",
            name=op.f("ck_feedback_outcomes_outcome"),
        ),
        sa.CheckConstraint(KINDS, name=op.f("ck_feedback_outcomes_kind")),
        sa.ForeignKeyConstraint(
            ["proposal_line_id"],
            ["proposal_lines.id"],
            name=op.f("fk_feedback_outcomes_proposal_line_id_proposal_lines"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_outcomes")),
        sa.UniqueConstraint(
            "customer_id",
            "order_date",
            "product_id",
            name=op.f("uq_feedback_outcomes_customer_id_order_date_product_id"),
        ),
    )
    op.create_index(
        op.f("ix_feedback_outcomes_proposal_line_id"), "feedback_outcomes", ["proposal_line_id"]
    )
    op.create_index(op.f("ix_feedback_outcomes_order_date"), "feedback_outcomes", ["order_date"])
    op.create_index(op.f("ix_feedback_outcomes_order_id"), "feedback_outcomes", ["order_id"])

    op.create_table(
        "resting_products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("product_id", sa.String(), nullable=False),
        sa.Column("rejections_in_a_row", sa.Integer(), nullable=False),
        sa.Column("last_rejected_on", sa.Date(), nullable=True),
        sa.Column("rest_until", sa.Date(), nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resting_products")),
        sa.UniqueConstraint(
            "customer_id", "product_id", name=op.f("uq_resting_products_customer_id_product_id")
        ),
    )
    op.create_index(op.f("ix_resting_products_rest_until"), "resting_products", ["rest_until"])

    op.create_table(
        "acceptance_calibrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fitted_at", TIMESTAMP, nullable=False),
        sa.Column("outcomes", sa.Integer(), nullable=False),
        sa.Column("parameters", JSON, nullable=False),
        sa.Column("ece_before", sa.Double(), nullable=True),
        sa.Column("ece_after", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acceptance_calibrations")),
    )
    op.create_index(
        op.f("ix_acceptance_calibrations_fitted_at"), "acceptance_calibrations", ["fitted_at"]
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_acceptance_calibrations_fitted_at"), table_name="acceptance_calibrations"
    )
    op.drop_table("acceptance_calibrations")

    op.drop_index(op.f("ix_resting_products_rest_until"), table_name="resting_products")
    op.drop_table("resting_products")

    op.drop_index(op.f("ix_feedback_outcomes_order_id"), table_name="feedback_outcomes")
    op.drop_index(op.f("ix_feedback_outcomes_order_date"), table_name="feedback_outcomes")
    op.drop_index(op.f("ix_feedback_outcomes_proposal_line_id"), table_name="feedback_outcomes")
    op.drop_table("feedback_outcomes")

    op.drop_index(op.f("ix_proposal_lines_run_id"), table_name="proposal_lines")
    op.drop_table("proposal_lines")

    op.drop_index(op.f("ix_proposal_runs_fingerprint"), table_name="proposal_runs")
    op.drop_table("proposal_runs")
