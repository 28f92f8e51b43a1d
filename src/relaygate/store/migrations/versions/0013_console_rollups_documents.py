"""Console: migration documents (inventories, reviewed plans with verification, import reports); usage
rollups per hour and per day with the top-list dimensions apart (usage_hourly's one cube grew as large as
usage_records itself: a month's chart read a million rows). The rollups are rebuilt from usage_records by
the usage-rollups task after the upgrade. An index on usage_records (error_code, ts) for the error-code
filter and the support desk's base-URL mistakes.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
META = sa.table("meta", sa.column("key", sa.String))
ROLLUP_KEYS = ("rollup_last_id", "rollup_final_until", "rollup_refreshed_at")  # rebuilt from usage_records


def upgrade() -> None:
    op.create_table(
        "migration_documents",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source", sa.String(255)),
        sa.Column("body", sa.Text().with_variant(mysql.LONGTEXT(), "mysql"), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_migration_documents_kind", "migration_documents", ["kind", "id"])
    op.drop_table("usage_hourly")
    op.execute(META.delete().where(META.c.key.in_(ROLLUP_KEYS)))
    op.create_index("ix_usage_code_ts", "usage_records", ["error_code", "ts"])
    op.create_table(
        "usage_rollup",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("span", sa.String(1), nullable=False),
        sa.Column("start", sa.BigInteger, nullable=False),
        sa.Column("klass", sa.String(16), nullable=False),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
        sa.Column("completion_tokens", sa.BigInteger, nullable=False),
        sa.Column("cost", sa.BigInteger, nullable=False),
        sa.Column("latency_hist", sa.JSON, nullable=False),
        sa.Column("ttft_hist", sa.JSON, nullable=False),
        sa.Index("ix_usage_rollup_span_start", "span", "start"),
    )
    op.create_table(
        "usage_rollup_dims",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("span", sa.String(1), nullable=False),
        sa.Column("start", sa.BigInteger, nullable=False),
        sa.Column("dim", sa.String(8), nullable=False),
        sa.Column("value", sa.String(128), nullable=False),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.Column("errors", sa.BigInteger, nullable=False),
        sa.Column("tokens", sa.BigInteger, nullable=False),
        sa.Column("cost", sa.BigInteger, nullable=False),
        sa.Index("ix_usage_rollup_dims_span_start", "span", "start"),
        sa.Index("ix_usage_rollup_dims_value", "dim", "value", "span", "start"),
        sa.Index("ix_usage_rollup_dims_range", "dim", "span", "start"),
    )


def downgrade() -> None:
    op.drop_index("ix_usage_code_ts", table_name="usage_records")
    op.drop_table("migration_documents")
    op.drop_table("usage_rollup_dims")
    op.drop_table("usage_rollup")
    op.execute(META.delete().where(META.c.key.in_(ROLLUP_KEYS)))
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
