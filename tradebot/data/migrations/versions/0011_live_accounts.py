"""Live accounts: the order ledger, fills and events of a live (or dry-run) account.

``portfolio_accounts.mode``: ``paper`` (every existing row), ``live`` or ``dry-run``.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 02:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("portfolio_accounts") as batch:
        batch.add_column(sa.Column("mode", sa.String(), nullable=False, server_default="paper"))
    op.create_table(
        "live_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("client_order_id", sa.String(), nullable=False),
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("bar_ms", sa.BigInteger(), nullable=False),
        sa.Column("intent", sa.String(), nullable=False),
        sa.Column("side", sa.String(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("amount", sa.Double(), nullable=False),
        sa.Column("price", sa.Double(), nullable=True),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("exchange_order_id", sa.String(), nullable=True),
        sa.Column("filled", sa.Double(), nullable=False),
        sa.Column("average", sa.Double(), nullable=True),
        sa.Column("fees", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_ms", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["portfolio_accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("client_order_id"),
    )
    op.create_index("ix_live_orders_account_id_state", "live_orders", ["account_id", "state"])
    op.create_table(
        "live_fills",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("trade_id", sa.String(), nullable=False),
        sa.Column("client_order_id", sa.String(), nullable=True),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("side", sa.String(), nullable=False),
        sa.Column("price", sa.Double(), nullable=False),
        sa.Column("amount", sa.Double(), nullable=False),
        sa.Column("fee_cost", sa.Double(), nullable=False),
        sa.Column("fee_currency", sa.String(), nullable=True),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["portfolio_accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "trade_id"),
    )
    op.create_index("ix_live_fills_account_id_ts_ms", "live_fills", ["account_id", "ts_ms"])
    op.create_table(
        "live_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["portfolio_accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_live_events_account_id_ts_ms", "live_events", ["account_id", "ts_ms"])


def downgrade() -> None:
    op.drop_index("ix_live_events_account_id_ts_ms", table_name="live_events")
    op.drop_table("live_events")
    op.drop_index("ix_live_fills_account_id_ts_ms", table_name="live_fills")
    op.drop_table("live_fills")
    op.drop_index("ix_live_orders_account_id_state", table_name="live_orders")
    op.drop_table("live_orders")
    with op.batch_alter_table("portfolio_accounts") as batch:
        batch.drop_column("mode")
