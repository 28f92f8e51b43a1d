"""Usage records say which route served them: native routing or the legacy (old) entry.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(sa.Column("route", sa.String(16)))
    op.create_index("ix_usage_route_ts", "usage_records", ["route", "ts"])


def downgrade() -> None:
    op.drop_index("ix_usage_route_ts", "usage_records")
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("route")
