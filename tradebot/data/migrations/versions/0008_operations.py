"""Operations: recorded errors, incidents and heartbeats.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 23:25:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ops_errors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.Column("command", sa.String(), nullable=False),
        sa.Column("account", sa.String(), nullable=True),
        sa.Column("error_type", sa.String(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ops_errors"),
    )
    op.create_index("ix_ops_errors_occurred_at", "ops_errors", ["occurred_at"])
    op.create_index("ix_ops_errors_account", "ops_errors", ["account"])
    op.create_table(
        "ops_incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("opened_at", TIMESTAMP, nullable=False),
        sa.Column("resolved_at", TIMESTAMP, nullable=True),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ops_incidents"),
    )
    op.create_index("ix_ops_incidents_key_resolved_at", "ops_incidents", ["key", "resolved_at"])
    op.create_table(
        "ops_heartbeats",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("last_ok_at", TIMESTAMP, nullable=True),
        sa.Column("last_failed_at", TIMESTAMP, nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("runs_ok", sa.Integer(), nullable=False),
        sa.Column("last_duration_s", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_ops_heartbeats"),
    )


def downgrade() -> None:
    op.drop_table("ops_heartbeats")
    op.drop_index("ix_ops_incidents_key_resolved_at", table_name="ops_incidents")
    op.drop_table("ops_incidents")
    op.drop_index("ix_ops_errors_account", table_name="ops_errors")
    op.drop_index("ix_ops_errors_occurred_at", table_name="ops_errors")
    op.drop_table("ops_errors")
