"""Ml decisions: model version behind each paper decision.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 23:25:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # placeholder: filled in by the feature that owns this revision


def downgrade() -> None:
    pass
