"""The optimal order in the app: trained models in use, orders placed through Salescope (API,
the shop's page, the rep at a visit, automatic replenishment) with their idempotency keys and
outcomes, novelties held out from the uplift holdout, automatic orders until their cut-off,
shops' tasks, invitations of shop users.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

Written from autogenerate, then checked by hand: new tables only.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "held_out_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("order_date", sa.Date(), nullable=False),
        sa.Column("product_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("probability", sa.Double(), nullable=False),
        sa.Column("quantity", sa.Double(), nullable=False),
        sa.Column("promotion_id", sa.String(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "kind IN ('usual', 'development', 'extension', 'objective')",
            name=op.f("ck_held_out_lines_kind"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_held_out_lines")),
        sa.UniqueConstraint(
            "customer_id",
            "order_date",
            "product_id",
            name=op.f("uq_held_out_lines_customer_id_order_date_product_id"),
        ),
    )
    op.create_index(op.f("ix_held_out_lines_order_date"), "held_out_lines", ["order_date"])

    op.create_table(
        "model_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=150), nullable=True),
        sa.Column("folder", sa.String(), nullable=True),
        sa.Column("cutoff", sa.Date(), nullable=True),
        sa.Column("table_version", sa.String(length=16), nullable=True),
        sa.Column(
            "summary",
            JSON,
            nullable=False,
        ),
        sa.Column("message", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('training', 'ready', 'failed')", name=op.f("ck_model_runs_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_runs")),
    )
    op.create_index(op.f("ix_model_runs_status"), "model_runs", ["status"])

    op.create_table(
        "shop_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("region", sa.String(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column(
            "details",
            JSON,
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("created_by", sa.String(length=150), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column(
            "answer",
            JSON,
            nullable=False,
        ),
        sa.Column("answered_by", sa.String(length=150), nullable=True),
        sa.Column("answered_at", TIMESTAMP, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('delivery_window', 'survey', 'promotion')", name=op.f("ck_shop_tasks_kind")
        ),
        sa.CheckConstraint(
            "status IN ('open', 'done', 'declined', 'cancelled')", name=op.f("ck_shop_tasks_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shop_tasks")),
    )
    op.create_index(op.f("ix_shop_tasks_customer_id"), "shop_tasks", ["customer_id"])
    op.create_index(op.f("ix_shop_tasks_region"), "shop_tasks", ["region"])

    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("used_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_invitations_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
    )
    op.create_index(op.f("ix_invitations_user_id"), "invitations", ["user_id"])

    op.create_table(
        "placed_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("region", sa.String(), nullable=True),
        sa.Column("order_date", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("placed_by", sa.String(length=150), nullable=True),
        sa.Column("placed_at", TIMESTAMP, nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("proposal_date", sa.Date(), nullable=True),
        sa.Column(
            "outcomes",
            JSON,
            nullable=False,
        ),
        sa.Column("total_amount", sa.Double(), nullable=True),
        sa.Column("merged_version", sa.String(length=16), nullable=True),
        sa.CheckConstraint(
            "channel IN ('api', 'online', 'rep', 'automatic')",
            name=op.f("ck_placed_orders_channel"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_placed_orders_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_placed_orders")),
        sa.UniqueConstraint("order_id", name=op.f("uq_placed_orders_order_id")),
        sa.UniqueConstraint(
            "user_id", "idempotency_key", name=op.f("uq_placed_orders_user_id_idempotency_key")
        ),
    )
    op.create_index(op.f("ix_placed_orders_customer_id"), "placed_orders", ["customer_id"])
    op.create_index(op.f("ix_placed_orders_merged_version"), "placed_orders", ["merged_version"])
    op.create_index(op.f("ix_placed_orders_order_date"), "placed_orders", ["order_date"])
    op.create_index(op.f("ix_placed_orders_region"), "placed_orders", ["region"])
    op.create_index(op.f("ix_placed_orders_user_id"), "placed_orders", ["user_id"])

    op.create_table(
        "auto_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("region", sa.String(), nullable=True),
        sa.Column("order_date", sa.Date(), nullable=False),
        sa.Column("cutoff_at", TIMESTAMP, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "lines",
            JSON,
            nullable=True,
        ),
        sa.Column("placed_order_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_by", sa.String(length=150), nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "status IN ('scheduled', 'edited', 'cancelled', 'placed')",
            name=op.f("ck_auto_orders_status"),
        ),
        sa.ForeignKeyConstraint(
            ["placed_order_id"],
            ["placed_orders.id"],
            name=op.f("fk_auto_orders_placed_order_id_placed_orders"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auto_orders")),
        sa.UniqueConstraint(
            "customer_id", "order_date", name=op.f("uq_auto_orders_customer_id_order_date")
        ),
    )
    op.create_index(op.f("ix_auto_orders_customer_id"), "auto_orders", ["customer_id"])
    op.create_index(op.f("ix_auto_orders_cutoff_at"), "auto_orders", ["cutoff_at"])
    op.create_index(op.f("ix_auto_orders_region"), "auto_orders", ["region"])

    op.create_table(
        "placed_order_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.String(), nullable=False),
        sa.Column("quantity", sa.Double(), nullable=False),
        sa.Column("unit_price", sa.Double(), nullable=True),
        sa.Column("promotion_id", sa.String(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.CheckConstraint(
            "kind IN ('usual', 'development', 'extension', 'objective')",
            name=op.f("ck_placed_order_lines_kind"),
        ),
        sa.CheckConstraint(
            "outcome IN ('accepted', 'quantity_changed', 'removed', 'added')",
            name=op.f("ck_placed_order_lines_outcome"),
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_placed_order_lines_quantity")),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["placed_orders.id"],
            name=op.f("fk_placed_order_lines_order_id_placed_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_placed_order_lines")),
        sa.UniqueConstraint(
            "order_id", "product_id", name=op.f("uq_placed_order_lines_order_id_product_id")
        ),
    )
    op.create_index(op.f("ix_placed_order_lines_order_id"), "placed_order_lines", ["order_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_placed_order_lines_order_id"), table_name="placed_order_lines")
    op.drop_table("placed_order_lines")
    op.drop_index(op.f("ix_auto_orders_region"), table_name="auto_orders")
    op.drop_index(op.f("ix_auto_orders_cutoff_at"), table_name="auto_orders")
    op.drop_index(op.f("ix_auto_orders_customer_id"), table_name="auto_orders")
    op.drop_table("auto_orders")
    op.drop_index(op.f("ix_placed_orders_user_id"), table_name="placed_orders")
    op.drop_index(op.f("ix_placed_orders_region"), table_name="placed_orders")
    op.drop_index(op.f("ix_placed_orders_order_date"), table_name="placed_orders")
    op.drop_index(op.f("ix_placed_orders_merged_version"), table_name="placed_orders")
    op.drop_index(op.f("ix_placed_orders_customer_id"), table_name="placed_orders")
    op.drop_table("placed_orders")
    op.drop_index(op.f("ix_invitations_user_id"), table_name="invitations")
    op.drop_table("invitations")
    op.drop_index(op.f("ix_shop_tasks_region"), table_name="shop_tasks")
    op.drop_index(op.f("ix_shop_tasks_customer_id"), table_name="shop_tasks")
    op.drop_table("shop_tasks")
    op.drop_index(op.f("ix_model_runs_status"), table_name="model_runs")
    op.drop_table("model_runs")
    op.drop_index(op.f("ix_held_out_lines_order_date"), table_name="held_out_lines")
    op.drop_table("held_out_lines")
