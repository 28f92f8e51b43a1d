"""Media: tasks taken over from New API at `migrate import` (the id the client holds, the pre-charge), and the
callback URL an operator sets per key.

``source_id`` is the task id the old system gave the client (New API's ``tasks.task_id``, Midjourney's
``mj_id``): clients keep polling with it. ``prepaid`` is the old system's pre-charge in nanos, already
out of the imported balance: refunded here if the task fails, never charged again.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("media_tasks", sa.Column("source_id", sa.String(191)))
    op.add_column("media_tasks", sa.Column("prepaid", sa.BigInteger, nullable=False, server_default="0"))
    op.create_index("ix_media_tasks_source", "media_tasks", ["source_id"])
    op.create_table(
        "media_key_callbacks",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("callback_url", sa.String(1024), nullable=False),
        sa.Column("updated_by", sa.String(128)),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("media_key_callbacks")
    op.drop_index("ix_media_tasks_source", table_name="media_tasks")
    op.drop_column("media_tasks", "prepaid")
    op.drop_column("media_tasks", "source_id")
