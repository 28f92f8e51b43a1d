"""Redemption codes with several uses: a code an operator makes for N redemptions (a promotion for a team),
each by a different owner, and a row per redemption so one owner cannot redeem the same code twice.
Existing and imported codes keep one use.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("redemption_codes", sa.Column("max_uses", sa.Integer, nullable=False, server_default="1"))
    op.add_column("redemption_codes", sa.Column("uses", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "redemption_uses",
        sa.Column("code_id", sa.String(40), primary_key=True),
        sa.Column("owner_id", sa.String(32), primary_key=True),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("redeemed_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("redemption_uses")
    op.drop_column("redemption_codes", "uses")
    op.drop_column("redemption_codes", "max_uses")
