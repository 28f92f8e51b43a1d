"""Billing and limits: prices, ledger, balances, alerts; key caps and limits; group multipliers and limits.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("groups") as batch:
        batch.add_column(sa.Column("multiplier_ppm", sa.Integer, nullable=False, server_default="1000000"))
        batch.add_column(sa.Column("rpm", sa.Integer))
        batch.add_column(sa.Column("tpm", sa.Integer))
        batch.add_column(sa.Column("concurrency", sa.Integer))
    with op.batch_alter_table("api_keys") as batch:
        for name in ("cap_total", "cap_daily", "cap_monthly"):
            batch.add_column(sa.Column(name, sa.BigInteger))
        for name in ("rpm", "tpm", "concurrency"):
            batch.add_column(sa.Column(name, sa.Integer))
    op.create_table(
        "prices",
        sa.Column("model", sa.String(128), primary_key=True),
        sa.Column("input_per_m", sa.BigInteger, nullable=False),
        sa.Column("cached_input_per_m", sa.BigInteger),
        sa.Column("output_per_m", sa.BigInteger, nullable=False),
        sa.Column("per_request", sa.BigInteger),
        sa.Column("free", sa.Boolean, nullable=False),
        sa.Column("max_output_tokens", sa.Integer),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("owner_id", sa.String(32), nullable=False),
        sa.Column("key_id", sa.String(32)),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("held", sa.BigInteger, nullable=False),
        sa.Column("request_id", sa.String(40)),
        sa.Column("model", sa.String(128)),
        sa.Column("reason", sa.Text),
        sa.Column("actor", sa.String(128)),
        sa.Column("ref", sa.String(255)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("kind", "request_id", name="uq_ledger_kind_request"),
    )
    op.create_index("ix_ledger_owner_time", "ledger_entries", ["owner_id", "created_at"])
    op.create_index("ix_ledger_key_time", "ledger_entries", ["key_id", "created_at"])
    op.create_index("ix_ledger_kind_time", "ledger_entries", ["kind", "created_at"])
    op.create_table(
        "balances",
        sa.Column("owner_id", sa.String(32), primary_key=True),
        sa.Column("balance", sa.BigInteger, nullable=False),
        sa.Column("held", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("target", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("threshold", sa.BigInteger, nullable=False),
        sa.Column("cap", sa.String(8)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "alert_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("rule_id", sa.Integer, nullable=False),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("target", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("value", sa.BigInteger, nullable=False),
        sa.Column("delivered", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_alert_events_time", "alert_events", ["created_at"])


def downgrade() -> None:
    for name in ("alert_events", "alert_rules", "balances", "ledger_entries", "prices"):
        op.drop_table(name)
    with op.batch_alter_table("api_keys") as batch:
        for name in ("cap_total", "cap_daily", "cap_monthly", "rpm", "tpm", "concurrency"):
            batch.drop_column(name)
    with op.batch_alter_table("groups") as batch:
        for name in ("multiplier_ppm", "rpm", "tpm", "concurrency"):
            batch.drop_column(name)
