"""Portfolio accounts and runs over several markets.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 23:25:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # placeholder: filled in by the feature that owns this revision


def downgrade() -> None:
    pass
