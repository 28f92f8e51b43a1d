"""Media during a rollout: the video tasks the old entry created for an owner (their submits relayed through
the legacy route), so ``GET /v1/videos`` lists them with the owner's tasks here, before and after the switch.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media_legacy_tasks",
        sa.Column("owner_id", sa.String(32), primary_key=True),
        sa.Column("old_id", sa.String(191), primary_key=True),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("surface", sa.String(16), nullable=False),
        sa.Column("model", sa.String(128)),
        sa.Column("request_id", sa.String(40), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("answer", sa.JSON),
    )
    op.create_index("ix_media_legacy_tasks_owner", "media_legacy_tasks", ["owner_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_media_legacy_tasks_owner", table_name="media_legacy_tasks")
    op.drop_table("media_legacy_tasks")
