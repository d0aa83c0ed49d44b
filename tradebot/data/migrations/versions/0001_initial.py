"""Initial schema: datasets, strategies, backtest runs with trades and daily results, bot configs.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model types: migrations never import the models.
TIMESTAMP = sa.DateTime(timezone=True)
DOUBLE: sa.Double[float] = sa.Double()


def upgrade() -> None:
    op.create_table(
        "market_datasets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("exchange", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("timeframe", sa.String(), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("end_ms", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("gaps", sa.Integer(), nullable=False),
        sa.Column("missing", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_market_datasets"),
        sa.UniqueConstraint(
            "exchange", "symbol", "timeframe", name="uq_market_datasets_exchange_symbol_timeframe"
        ),
    )
    op.create_table(
        "strategies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("version", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("parameter_schema", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_strategies"),
        sa.UniqueConstraint("name", "version", name="uq_strategies_name_version"),
    )
    op.create_table(
        "backtest_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("strategy_name", sa.String(), nullable=False),
        sa.Column("strategy_version", sa.String(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("exchange", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("timeframe", sa.String(), nullable=False),
        sa.Column("data_source", sa.Text(), nullable=False),
        sa.Column("data_start_ms", sa.BigInteger(), nullable=True),
        sa.Column("data_end_ms", sa.BigInteger(), nullable=True),
        sa.Column("data_rows", sa.Integer(), nullable=False),
        sa.Column("data_sha256", sa.String(), nullable=True),
        sa.Column("code_version", sa.String(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_backtest_runs"),
    )
    op.create_index("ix_backtest_runs_created_at", "backtest_runs", ["created_at"])
    op.create_table(
        "trades",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
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
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["backtest_runs.id"],
            name="fk_trades_run_id_backtest_runs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_trades"),
    )
    op.create_index("ix_trades_run_id", "trades", ["run_id"])
    op.create_table(
        "daily_performance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("equity", DOUBLE, nullable=False),
        sa.Column("pnl", DOUBLE, nullable=False),
        sa.Column("return_pct", DOUBLE, nullable=False),
        sa.Column("trades", sa.Integer(), nullable=False),
        sa.Column("target_met", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["backtest_runs.id"],
            name="fk_daily_performance_run_id_backtest_runs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_daily_performance"),
        sa.UniqueConstraint("run_id", "day", name="uq_daily_performance_run_id_day"),
    )
    op.create_table(
        "bot_configs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_bot_configs"),
        sa.UniqueConstraint("name", name="uq_bot_configs_name"),
    )


def downgrade() -> None:
    op.drop_table("bot_configs")
    op.drop_table("daily_performance")
    op.drop_index("ix_trades_run_id", table_name="trades")
    op.drop_table("trades")
    op.drop_index("ix_backtest_runs_created_at", table_name="backtest_runs")
    op.drop_table("backtest_runs")
    op.drop_table("strategies")
    op.drop_table("market_datasets")
