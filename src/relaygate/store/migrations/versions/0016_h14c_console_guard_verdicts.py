"""Rollout guard: each batch's last verdict kept in the database (one row per batch, replaced at each
judgement), so every worker's console shows the same verdict whichever worker reached it.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollout_verdicts",
        sa.Column("batch_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("verdict", sa.JSON(), nullable=False),
        sa.Column("judged_at", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rollout_verdicts")
