"""Api tokens, sessions, audit log, bots and background jobs (tradebot serve).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 23:25:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("token_sha256", sa.String(), nullable=False),
        sa.Column("prefix", sa.String(), nullable=False),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=True),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.Column("last_used_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("name", name="uq_api_tokens_name"),
        sa.UniqueConstraint("token_sha256", name="uq_api_tokens_token_sha256"),
    )
    op.create_table(
        "api_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_sha256", sa.String(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("client", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["token_id"], ["api_tokens.id"], ondelete="CASCADE",
                                name="fk_api_sessions_token_id_api_tokens"),
        sa.PrimaryKeyConstraint("id", name="pk_api_sessions"),
        sa.UniqueConstraint("session_sha256", name="uq_api_sessions_session_sha256"),
    )
    op.create_index("ix_api_sessions_token_id", "api_sessions", ["token_id"])
    op.create_table(
        "api_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("token_name", sa.String(), nullable=True),
        sa.Column("client", sa.String(), nullable=False),
        sa.Column("method", sa.String(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_audit"),
    )
    op.create_index("ix_api_audit_at", "api_audit", ["at"])
    op.create_table(
        "api_bots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("last_run_at", TIMESTAMP, nullable=True),
        sa.Column("last_bar_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_result", sa.JSON(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("kill_switch", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_api_bots"),
        sa.UniqueConstraint("name", name="uq_api_bots_name"),
        sa.UniqueConstraint("account", name="uq_api_bots_account"),
    )
    op.create_table(
        "api_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("progress", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_jobs"),
    )
    op.create_index("ix_api_jobs_status", "api_jobs", ["status"])


def downgrade() -> None:
    op.drop_index("ix_api_jobs_status", table_name="api_jobs")
    op.drop_table("api_jobs")
    op.drop_table("api_bots")
    op.drop_index("ix_api_audit_at", table_name="api_audit")
    op.drop_table("api_audit")
    op.drop_index("ix_api_sessions_token_id", table_name="api_sessions")
    op.drop_table("api_sessions")
    op.drop_table("api_tokens")
