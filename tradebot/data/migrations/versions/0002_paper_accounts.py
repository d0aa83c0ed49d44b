"""Paper accounts: account state, closed trades, equity per processed candle.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
DOUBLE: sa.Double[float] = sa.Double()


def upgrade() -> None:
    op.create_table(
        "paper_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("exchange", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("timeframe", sa.String(), nullable=False),
        sa.Column("strategy", sa.String(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("initial_capital", DOUBLE, nullable=False),
        sa.Column("history_start_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_bar_ms", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("trades_count", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "paper_trades",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("entry_ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("exit_ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("direction", sa.SmallInteger(), nullable=False),
        sa.Column("units", DOUBLE, nullable=False),
        sa.Column("entry_price", DOUBLE, nullable=False),
        sa.Column("exit_price", DOUBLE, nullable=False),
        sa.Column("entry_fee", DOUBLE, nullable=False),
        sa.Column("exit_fee", DOUBLE, nullable=False),
        sa.Column("pnl", DOUBLE, nullable=False),
        sa.Column("return_pct", DOUBLE, nullable=False),
        sa.Column("exit_reason", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["paper_accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "seq"),
    )
    op.create_table(
        "paper_equity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("equity", DOUBLE, nullable=False),
        sa.Column("position", DOUBLE, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["paper_accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "ts_ms"),
    )


def downgrade() -> None:
    op.drop_table("paper_equity")
    op.drop_table("paper_trades")
    op.drop_table("paper_accounts")
