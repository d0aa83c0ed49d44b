"""Paper account ledger: balances per asset, orders, fills, open positions, risk events.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
DOUBLE: sa.Double[float] = sa.Double()


def _account_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["account_id"], ["paper_accounts.id"], ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "paper_balances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("asset", sa.String(), nullable=False),
        sa.Column("amount", DOUBLE, nullable=False),
        sa.Column("as_of_ms", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        _account_fk(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "asset"),
    )
    op.create_table(
        "paper_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("trade_entry_ms", sa.BigInteger(), nullable=False),
        sa.Column("first_fill_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_fill_ms", sa.BigInteger(), nullable=False),
        sa.Column("side", sa.String(), nullable=False),
        sa.Column("order_type", sa.String(), nullable=False),
        sa.Column("intent", sa.String(), nullable=False),
        sa.Column("qty", DOUBLE, nullable=False),
        sa.Column("cost", DOUBLE, nullable=False),
        sa.Column("avg_price", DOUBLE, nullable=False),
        sa.Column("fee", DOUBLE, nullable=False),
        sa.Column("fills", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("exit_reason", sa.String(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        _account_fk(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "seq"),
    )
    op.create_table(
        "paper_fills",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("side", sa.String(), nullable=False),
        sa.Column("qty", DOUBLE, nullable=False),
        sa.Column("price", DOUBLE, nullable=False),
        sa.Column("fee", DOUBLE, nullable=False),
        sa.Column("maker", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", TIMESTAMP, nullable=False),
        _account_fk(),
        sa.ForeignKeyConstraint(["order_id"], ["paper_orders.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "seq"),
    )
    op.create_index("ix_paper_fills_order_id", "paper_fills", ["order_id"])
    op.create_table(
        "paper_positions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("qty", DOUBLE, nullable=False),
        sa.Column("avg_entry_price", DOUBLE, nullable=False),
        sa.Column("entry_fee", DOUBLE, nullable=False),
        sa.Column("entry_ms", sa.BigInteger(), nullable=False),
        sa.Column("mark_price", DOUBLE, nullable=False),
        sa.Column("mark_ms", sa.BigInteger(), nullable=False),
        sa.Column("unrealized_pnl", DOUBLE, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        _account_fk(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "symbol"),
    )
    op.create_table(
        "paper_risk_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("rule", sa.String(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("recorded_at", TIMESTAMP, nullable=False),
        _account_fk(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "seq"),
    )
    op.create_index("ix_paper_risk_events_account_id_kind", "paper_risk_events",
                    ["account_id", "kind"])


def downgrade() -> None:
    op.drop_index("ix_paper_risk_events_account_id_kind", table_name="paper_risk_events")
    op.drop_table("paper_risk_events")
    op.drop_table("paper_positions")
    op.drop_index("ix_paper_fills_order_id", table_name="paper_fills")
    op.drop_table("paper_fills")
    op.drop_table("paper_orders")
    op.drop_table("paper_balances")
