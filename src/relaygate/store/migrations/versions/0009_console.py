"""Console: operators, web sessions, the audit log and hourly usage rollups for the charts.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        sa.Column("locked_until", sa.BigInteger),
        sa.Column("last_login_at", sa.BigInteger),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("subject_kind", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("subject_name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("ip", sa.String(64)),
        sa.Column("user_agent", sa.String(255)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_seen_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger),
        sa.Index("ix_web_sessions_subject", "subject_kind", "subject_id"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(255)),
        sa.Column("before", sa.JSON),
        sa.Column("after", sa.JSON),
        sa.Column("ip", sa.String(64)),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Index("ix_audit_ts", "ts"),
        sa.Index("ix_audit_actor_ts", "actor", "ts"),
        sa.Index("ix_audit_action_ts", "action", "ts"),
    )
    op.create_table(
        "usage_hourly",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("hour", sa.BigInteger, nullable=False),
        sa.Column("model", sa.String(128)),
        sa.Column("owner_id", sa.String(32)),
        sa.Column("key_id", sa.String(32)),
        sa.Column("client", sa.String(32)),
        sa.Column("klass", sa.String(16), nullable=False),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
        sa.Column("completion_tokens", sa.BigInteger, nullable=False),
        sa.Column("cost", sa.BigInteger, nullable=False),
        sa.Column("latency_hist", sa.JSON, nullable=False),
        sa.Column("ttft_hist", sa.JSON, nullable=False),
        sa.Index("ix_usage_hourly_hour", "hour"),
    )


def downgrade() -> None:
    for name in ("usage_hourly", "audit_log", "web_sessions", "operators"):
        op.drop_table(name)
