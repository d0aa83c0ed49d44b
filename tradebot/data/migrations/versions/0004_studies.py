"""Optimization studies: studies, their trials and walk-forward windows.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 04:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("strategy_name", sa.String(), nullable=False),
        sa.Column("method", sa.String(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("space", sa.JSON(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("exchange", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("timeframe", sa.String(), nullable=False),
        sa.Column("data_source", sa.Text(), nullable=False),
        sa.Column("data_start_ms", sa.BigInteger(), nullable=False),
        sa.Column("data_end_ms", sa.BigInteger(), nullable=False),
        sa.Column("data_rows", sa.Integer(), nullable=False),
        sa.Column("data_sha256", sa.String(), nullable=False),
        sa.Column("code_version", sa.String(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "study_trials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("window", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("batch", sa.Integer(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("daily_returns", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("study_id", "window", "number"),
    )
    op.create_index("ix_study_trials_study_id", "study_trials", ["study_id"])
    op.create_table(
        "study_windows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("window", sa.Integer(), nullable=False),
        sa.Column("is_start_ms", sa.BigInteger(), nullable=False),
        sa.Column("is_end_ms", sa.BigInteger(), nullable=False),
        sa.Column("oos_start_ms", sa.BigInteger(), nullable=True),
        sa.Column("oos_end_ms", sa.BigInteger(), nullable=True),
        sa.Column("best_number", sa.Integer(), nullable=False),
        sa.Column("best_params", sa.JSON(), nullable=False),
        sa.Column("is_metrics", sa.JSON(), nullable=False),
        sa.Column("oos_metrics", sa.JSON(), nullable=True),
        sa.Column("oos_daily_returns", sa.LargeBinary(), nullable=True),
        sa.Column("oos_daily_ms", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("study_id", "window"),
    )
    op.create_index("ix_study_windows_study_id", "study_windows", ["study_id"])


def downgrade() -> None:
    op.drop_table("study_windows")
    op.drop_table("study_trials")
    op.drop_table("studies")
