"""Initial schema: owners, groups, keys, channels, models, health, usage records, admin tokens, meta.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "owners",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("email", sa.String(255)),
        sa.Column("note", sa.Text),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "groups",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("description", sa.Text),
        sa.Column("models", sa.JSON),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("masked", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("owner_id", sa.String(32), sa.ForeignKey("owners.id"), nullable=False),
        sa.Column("group_name", sa.String(64), nullable=False),
        sa.Column("environment", sa.String(16), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("disabled_reason", sa.String(255)),
        sa.Column("expires_at", sa.BigInteger),
        sa.Column("allowed_models", sa.JSON),
        sa.Column("allowed_networks", sa.JSON),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_api_keys_owner", "api_keys", ["owner_id"])
    op.create_index("ix_api_keys_updated", "api_keys", ["updated_at"])
    op.create_table(
        "channels",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("protocol", sa.String(32), nullable=False),
        sa.Column("base_url", sa.String(512), nullable=False),
        sa.Column("secrets", sa.JSON, nullable=False),
        sa.Column("models", sa.JSON, nullable=False),
        sa.Column("groups", sa.JSON),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("weight", sa.Integer, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("disabled_reason", sa.String(255)),
        sa.Column("connect_timeout", sa.Float, nullable=False),
        sa.Column("first_byte_timeout", sa.Float, nullable=False),
        sa.Column("total_timeout", sa.Float, nullable=False),
        sa.Column("options", sa.JSON),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "models",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("aliases", sa.JSON),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("replacement", sa.String(128)),
        sa.Column("description", sa.Text),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "channel_health",
        sa.Column("channel_id", sa.Integer, primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(512)),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        sa.Column("cooldown_until", sa.BigInteger),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "usage_records",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(40), nullable=False, unique=True),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("key_id", sa.String(32)),
        sa.Column("masked_key", sa.String(32)),
        sa.Column("owner_id", sa.String(32)),
        sa.Column("group_name", sa.String(64)),
        sa.Column("environment", sa.String(16)),
        sa.Column("client", sa.String(32)),
        sa.Column("client_version", sa.String(32)),
        sa.Column("entry_path", sa.String(128)),
        sa.Column("host", sa.String(255)),
        sa.Column("requested_model", sa.String(128)),
        sa.Column("upstream_model", sa.String(128)),
        sa.Column("channel_id", sa.Integer),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("error_code", sa.String(48)),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("total_tokens", sa.Integer, nullable=False),
        sa.Column("cached_tokens", sa.Integer, nullable=False),
        sa.Column("stream", sa.Boolean, nullable=False),
        sa.Column("latency_ms", sa.Integer, nullable=False),
        sa.Column("ttft_ms", sa.Integer),
        sa.Column("caller_ip", sa.String(64)),
        sa.Column("estimated", sa.Boolean, nullable=False),
        sa.Column("cost", sa.BigInteger, nullable=False),
        sa.Column("detail", sa.JSON),
        sa.Column("body", sa.Text),
    )
    op.create_index("ix_usage_key_ts", "usage_records", ["key_id", "ts"])
    op.create_index("ix_usage_owner_ts", "usage_records", ["owner_id", "ts"])
    op.create_index("ix_usage_ts", "usage_records", ["ts"])
    op.create_table(
        "admin_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for name in ("meta", "admin_tokens", "usage_records", "channel_health", "models", "channels",
                 "api_keys", "groups", "owners"):
        op.drop_table(name)
