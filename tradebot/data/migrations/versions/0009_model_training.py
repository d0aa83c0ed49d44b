"""Model training: tuning trials and the champion/challenger comparison of each model version.

``trials``: configurations this training tried (1, or the number of Optuna trials with
``tradebot train --tune N``), so the verdict of this and later versions deflates for them.
``tuning``: the search space, every trial's parameters and scores, and the chosen one.
``challenge``: the comparison with the champion on the most recent out-of-sample window
(``--promote-margin``) and its outcome.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 23:25:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ml_models") as batch:
        batch.add_column(sa.Column("trials", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("tuning", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("challenge", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ml_models") as batch:
        batch.drop_column("challenge")
        batch.drop_column("tuning")
        batch.drop_column("trials")
