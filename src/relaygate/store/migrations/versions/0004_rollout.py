"""Gray rollout: the legacy channel, batches and their transitions, members, hand-overs, trips, disputes, checklist.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "rollout_settings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("base_url", sa.String(512)),
        sa.Column("unknown_keys", sa.String(8), nullable=False),
        sa.Column("source_dsn", sa.String(1024)),
        sa.Column("logs_dsn", sa.String(1024)),
        sa.Column("write_old", sa.Boolean, nullable=False),
        sa.Column("guard_seconds", sa.Float, nullable=False),
        sa.Column("updated_by", sa.String(128)),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "rollout_batches",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("selector", sa.JSON, nullable=False),
        sa.Column("switch_at", sa.BigInteger),
        sa.Column("rollback_deadline", sa.BigInteger),
        sa.Column("rollback_window_ms", sa.BigInteger),
        sa.Column("conditions", sa.JSON, nullable=False),
        sa.Column("window_seconds", sa.Integer, nullable=False),
        sa.Column("min_requests", sa.Integer, nullable=False),
        sa.Column("baseline_days", sa.Integer, nullable=False),
        sa.Column("auto_rollback", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("switches", sa.Integer, nullable=False),
        sa.Column("rollbacks", sa.Integer, nullable=False),
        sa.Column("switched_at", sa.BigInteger),
        sa.Column("first_switched_at", sa.BigInteger),
        sa.Column("completed_at", sa.BigInteger),
        sa.Column("created_by", sa.String(128)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "rollout_transitions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("batch_id", sa.Integer, nullable=False),
        sa.Column("from_state", sa.String(16)),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("detail", sa.JSON),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_rollout_transitions_batch", "rollout_transitions", ["batch_id", "id"])
    op.create_table(
        "rollout_members",
        sa.Column("owner_id", sa.String(32), primary_key=True),
        sa.Column("batch_id", sa.Integer, nullable=False),
        sa.Column("joined_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_rollout_members_batch", "rollout_members", ["batch_id"])
    op.create_table(
        "rollout_handovers",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("batch_id", sa.Integer, nullable=False),
        sa.Column("owner_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("cause", sa.String(16), nullable=False),
        sa.Column("old_user_id", sa.BigInteger, nullable=False),
        sa.Column("old_quota", sa.BigInteger),
        sa.Column("delta_quota", sa.BigInteger),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(40), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("actor", sa.String(128)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("owner_id", "seq", name="uq_rollout_handover_seq"),
    )
    op.create_index("ix_rollout_handovers_batch", "rollout_handovers", ["batch_id", "id"])
    op.create_table(
        "rollout_trips",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("batch_id", sa.Integer, nullable=False),
        sa.Column("switch_no", sa.Integer, nullable=False),
        sa.Column("error_class", sa.String(24), nullable=False),
        sa.Column("rate", sa.Float, nullable=False),
        sa.Column("baseline", sa.Float),
        sa.Column("threshold", sa.String(64), nullable=False),
        sa.Column("requests", sa.Integer, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("batch_id", "switch_no", "error_class", name="uq_rollout_trip"),
    )
    op.create_table(
        "rollout_disputes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("owner_id", sa.String(32), nullable=False),
        sa.Column("batch_id", sa.Integer),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("resolution", sa.Text),
        sa.Column("created_by", sa.String(128)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("resolved_at", sa.BigInteger),
    )
    op.create_table(
        "rollout_checklist",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("item", sa.Text, nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("done", sa.Boolean, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("done_by", sa.String(128)),
        sa.Column("done_at", sa.BigInteger),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for name in ("rollout_checklist", "rollout_disputes", "rollout_trips", "rollout_handovers", "rollout_members",
                 "rollout_transitions", "rollout_batches", "rollout_settings"):
        op.drop_table(name)
