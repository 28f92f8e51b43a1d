"""Media: per-unit prices, asynchronous tasks (video) and their callback deliveries.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "media_prices",
        sa.Column("model", sa.String(128), primary_key=True),
        sa.Column("unit", sa.String(16), primary_key=True),
        sa.Column("variant", sa.String(64), primary_key=True),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "media_tasks",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("request_id", sa.String(40), nullable=False, unique=True),
        sa.Column("owner_id", sa.String(32), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("masked_key", sa.String(32)),
        sa.Column("group_name", sa.String(64)),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("surface", sa.String(16), nullable=False),
        sa.Column("protocol", sa.String(32), nullable=False),
        sa.Column("channel_id", sa.Integer, nullable=False),
        sa.Column("upstream_model", sa.String(128)),
        sa.Column("upstream_task_id", sa.String(255)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("upstream_started", sa.Boolean, nullable=False),
        sa.Column("progress", sa.Integer, nullable=False),
        sa.Column("prompt_summary", sa.String(255)),
        sa.Column("params", sa.JSON),
        sa.Column("refs", sa.JSON),
        sa.Column("callback_url", sa.String(1024)),
        sa.Column("callback_state", sa.String(16)),
        sa.Column("callback_attempts", sa.Integer, nullable=False),
        sa.Column("callback_next_at", sa.BigInteger),
        sa.Column("result", sa.JSON),
        sa.Column("download_state", sa.String(16)),
        sa.Column("result_expires_at", sa.BigInteger),
        sa.Column("review", sa.String(255)),
        sa.Column("error_code", sa.String(48)),
        sa.Column("error_message", sa.String(512)),
        sa.Column("hold", sa.BigInteger, nullable=False),
        sa.Column("cost", sa.BigInteger, nullable=False),
        sa.Column("units", sa.JSON),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("finished_at", sa.BigInteger),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("next_poll_at", sa.BigInteger),
        sa.Column("poll_failures", sa.Integer, nullable=False),
    )
    op.create_index("ix_media_tasks_owner", "media_tasks", ["owner_id", "created_at"])
    op.create_index("ix_media_tasks_state_poll", "media_tasks", ["state", "next_poll_at"])
    op.create_table(
        "media_deliveries",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.String(40), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("url_host", sa.String(255)),
        sa.Column("status", sa.Integer),
        sa.Column("error", sa.String(255)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_media_deliveries_task", "media_deliveries", ["task_id"])


def downgrade() -> None:
    op.drop_table("media_deliveries")
    op.drop_table("media_tasks")
    op.drop_table("media_prices")
