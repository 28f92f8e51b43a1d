"""Portal accounts: sign-up, invites, password reset and e-mail verification tokens, OpenID Connect links,
per-owner self-service key policies and key holders' low-balance notices.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

from relaygate.store.wide import WideInt

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("portal_users") as batch:
        batch.add_column(sa.Column("email_verified_at", sa.BigInteger))
        batch.add_column(sa.Column("verify_pending", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("oidc_subject", sa.String(64)))
        batch.create_index("ix_portal_users_oidc", ["oidc_subject"], unique=True)
        batch.create_index("ix_portal_users_email", ["email"])
    op.create_table(
        "portal_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("user_id", sa.String(32)),
        sa.Column("owner_id", sa.String(32)),
        sa.Column("username", sa.String(128)),
        sa.Column("email", sa.String(255)),
        sa.Column("uses_left", sa.Integer, nullable=False),
        sa.Column("max_uses", sa.Integer, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("used_at", sa.BigInteger),
        sa.Column("revoked_at", sa.BigInteger),
        sa.Column("note", sa.String(255)),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_portal_tokens_purpose_user", "portal_tokens", ["purpose", "user_id"])
    op.create_table(
        "owner_portal",
        sa.Column("owner_id", sa.String(32), primary_key=True),
        sa.Column("self_keys", sa.Boolean, nullable=False),
        sa.Column("max_keys", sa.Integer),
        sa.Column("group_name", sa.String(64)),
        sa.Column("models", sa.JSON),
        sa.Column("max_cap_total", sa.BigInteger),
        sa.Column("max_cap_daily", sa.BigInteger),
        sa.Column("max_cap_monthly", sa.BigInteger),
        sa.Column("max_rpm", sa.BigInteger),
        sa.Column("max_tpm", sa.BigInteger),
        sa.Column("max_concurrency", sa.BigInteger),
        sa.Column("max_days", sa.Integer),
        sa.Column("keys_created", sa.Integer, nullable=False),
        sa.Column("updated_by", sa.String(128)),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "balance_notices",
        sa.Column("owner_id", sa.String(32), primary_key=True),
        sa.Column("threshold", sa.BigInteger, nullable=False),
        sa.Column("email", sa.String(255)),
        sa.Column("webhook_url", sa.String(1024)),
        sa.Column("lang", sa.String(8), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("pending", sa.JSON),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_at", sa.BigInteger),
        sa.Column("crossed_at", sa.BigInteger),
        sa.Column("balance", WideInt),
        sa.Column("last_sent_at", sa.BigInteger),
        sa.Column("last_error", sa.String(255)),
        sa.Column("updated_by", sa.String(128)),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("balance_notices")
    op.drop_table("owner_portal")
    op.drop_index("ix_portal_tokens_purpose_user", "portal_tokens")
    op.drop_table("portal_tokens")
    with op.batch_alter_table("portal_users") as batch:
        batch.drop_index("ix_portal_users_email")
        batch.drop_index("ix_portal_users_oidc")
        batch.drop_column("oidc_subject")
        batch.drop_column("verify_pending")
        batch.drop_column("email_verified_at")
