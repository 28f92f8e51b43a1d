"""Wide money and 64-bit limits; rollout members carry their own route, last move and failure.

Money columns that hold balances and old-system quotas become exact wide integers (NUMERIC(60,0) on
PostgreSQL and MariaDB; an affinity-free column on SQLite, see store/wide.py): balances beyond the
int64 nano range (One API root users hold 5*10^14 quota and more) are kept exactly. Limits and the
group multiplier become BIGINT (a tpm of 10^12 failed on PostgreSQL's int32). SQLite's INTEGER is
64-bit already, so only its money columns are rebuilt.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from relaygate.store.wide import WideInt

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

WIDE = {"ledger_entries": [("amount", False)], "balances": [("balance", False)],
        "rollout_handovers": [("old_quota", True), ("delta_quota", True), ("amount", False)]}
LIMITS = {"groups": [("multiplier_ppm", False), ("rpm", True), ("tpm", True), ("concurrency", True)],
          "api_keys": [("rpm", True), ("tpm", True), ("concurrency", True)],
          "prices": [("max_output_tokens", True)]}
DEFAULTS = {("groups", "multiplier_ppm"): "1000000"}  # server defaults 0002 set, kept through MODIFY
NUMERIC = "NUMERIC(60, 0)"  # what WideInt is on PostgreSQL and MariaDB (store/wide.py)
MEMBER_COLUMNS = [("route", "VARCHAR(8) NOT NULL DEFAULT 'legacy'"), ("step", "VARCHAR(16)"), ("failure", "TEXT"),
                  ("updated_at", "BIGINT")]


def _retype(table: str, cols: list[tuple[str, bool]], sql_type: str) -> None:
    """One ALTER TABLE per table (MariaDB rebuilds a table per statement, so one statement per column would
    multiply the time a fresh database takes to start)."""
    if op.get_bind().dialect.name == "postgresql":
        parts = [f"ALTER COLUMN {c} TYPE {sql_type}" for c, _ in cols]
    else:
        parts = [f"MODIFY {c} {sql_type}{'' if nullable else ' NOT NULL'}"  # MODIFY restates the whole column
                 + (f" DEFAULT {DEFAULTS[(table, c)]}" if (table, c) in DEFAULTS else "") for c, nullable in cols]
    op.execute(f"ALTER TABLE {table} {', '.join(parts)}")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:  # SQLite's INTEGER is 64-bit already; its money columns are rebuilt without affinity
        for table, cols in WIDE.items():
            with op.batch_alter_table(table, recreate="always") as batch:
                for name, nullable in cols:
                    batch.alter_column(name, type_=WideInt(), existing_type=sa.BigInteger(),
                                       existing_nullable=nullable)
        with op.batch_alter_table("rollout_members") as batch:
            batch.add_column(sa.Column("route", sa.String(8), nullable=False, server_default="legacy"))
            batch.add_column(sa.Column("step", sa.String(16)))
            batch.add_column(sa.Column("failure", sa.Text))
            batch.add_column(sa.Column("updated_at", sa.BigInteger))
    else:
        for table, cols in WIDE.items():
            _retype(table, cols, NUMERIC)
        for table, cols in LIMITS.items():
            _retype(table, cols, "BIGINT")
        op.execute("ALTER TABLE rollout_members " + ", ".join(f"ADD COLUMN {c} {d}" for c, d in MEMBER_COLUMNS))
    # members of batches served natively were moved with their batch until now
    op.execute("UPDATE rollout_members SET route = 'native', step = 'switch' WHERE batch_id IN "
               "(SELECT id FROM rollout_batches WHERE state IN ('switched', 'observing'))")
    op.execute("UPDATE rollout_members SET route = 'native', step = 'complete' WHERE batch_id IN "
               "(SELECT id FROM rollout_batches WHERE state = 'completed')")
    op.execute("UPDATE rollout_members SET step = 'rollback' WHERE batch_id IN "
               "(SELECT id FROM rollout_batches WHERE state = 'rolled_back')")


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("rollout_members") as batch:
        for name in ("updated_at", "failure", "step", "route"):
            batch.drop_column(name)
    if sqlite:
        for table, cols in WIDE.items():
            with op.batch_alter_table(table, recreate="always") as batch:
                for name, nullable in cols:
                    batch.alter_column(name, type_=sa.BigInteger(), existing_type=WideInt(),
                                       existing_nullable=nullable)
        return
    for table, cols in LIMITS.items():
        _retype(table, cols, "INTEGER")
    for table, cols in WIDE.items():
        _retype(table, cols, "BIGINT")
