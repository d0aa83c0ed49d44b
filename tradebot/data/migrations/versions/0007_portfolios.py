"""Portfolio accounts and runs over several markets.

A portfolio backtest is a ``backtest_runs`` row plus one ``run_markets`` row per market and
its trades in ``run_market_trades``; a portfolio paper account is a ``portfolio_accounts``
row with its trades and equity. Nothing existing changes: one-market runs and accounts
are read and re-run as before.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 23:25:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
DOUBLE: sa.Double[float] = sa.Double()


def _trade_columns() -> list[sa.Column[object]]:
    return [
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
    ]


def upgrade() -> None:
    op.create_table(
        "run_markets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("data_source", sa.Text(), nullable=False),
        sa.Column("data_start_ms", sa.BigInteger(), nullable=False),
        sa.Column("data_end_ms", sa.BigInteger(), nullable=False),
        sa.Column("data_rows", sa.Integer(), nullable=False),
        sa.Column("data_sha256", sa.String(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["backtest_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "seq"),
    )
    op.create_table(
        "run_market_trades",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        *_trade_columns(),
        sa.ForeignKeyConstraint(["run_id"], ["backtest_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_run_market_trades_run_id", "run_market_trades", ["run_id"])
    op.create_table(
        "portfolio_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("exchange", sa.String(), nullable=False),
        sa.Column("timeframe", sa.String(), nullable=False),
        sa.Column("symbols", sa.JSON(), nullable=False),
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
        "portfolio_account_trades",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        *_trade_columns(),
        sa.ForeignKeyConstraint(["account_id"], ["portfolio_accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "seq"),
    )
    op.create_table(
        "portfolio_account_equity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("equity", DOUBLE, nullable=False),
        sa.Column("cash", DOUBLE, nullable=False),
        sa.Column("positions", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["portfolio_accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "ts_ms"),
    )


def downgrade() -> None:
    op.drop_table("portfolio_account_equity")
    op.drop_table("portfolio_account_trades")
    op.drop_table("portfolio_accounts")
    op.drop_index("ix_run_market_trades_run_id", table_name="run_market_trades")
    op.drop_table("run_market_trades")
    op.drop_table("run_markets")
