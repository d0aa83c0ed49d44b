"""Api tokens, audit log, bots and background jobs (tradebot serve).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 23:25:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # placeholder: filled in by the feature that owns this revision


def downgrade() -> None:
    pass
