"""Reset a test database: drop every table (an empty schema), or keep the migrated schema and drop the rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import MetaData, inspect, text
from sqlalchemy.engine import Connection

from relaygate.store.db import head_revision, make_engine, upgrade
from relaygate.store.tables import metadata

_migrated: set[str] = set()  # the URLs migrated from empty in this session


async def reset_database(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            meta = MetaData()
            await conn.run_sync(meta.reflect)
            await conn.run_sync(meta.drop_all)
    finally:
        await engine.dispose()


def _at_head(conn: Connection) -> bool:
    names = set(inspect(conn).get_table_names())
    if names != {*metadata.tables, "alembic_version"}:
        return False
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision()


def _no_rows(conn: Connection) -> bool:
    """True when the migrations seeded no row (then deleting every row gives back what they made)."""
    return not any(conn.execute(text(f"SELECT 1 FROM {conn.dialect.identifier_preparer.quote(name)}")).first()
                   for name in metadata.tables)


def _delete_rows(conn: Connection) -> None:
    tables = [name for name in metadata.tables if name != "alembic_version"]
    if conn.dialect.name == "postgresql":  # ids start at 1 again, as in a new database
        conn.execute(text("TRUNCATE " + ", ".join(f'"{n}"' for n in tables) + " RESTART IDENTITY CASCADE"))
        return
    # MariaDB: TRUNCATE re-creates each table (~1.3 s for all); DELETE and a counter reset take ~0.2 s
    counters: dict[str, Any] = dict(conn.execute(text(
        "SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()")).all())
    conn.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
    try:
        for name in tables:
            conn.execute(text(f"DELETE FROM `{name}`"))
            if (counters.get(name) or 0) > 1:
                conn.execute(text(f"ALTER TABLE `{name}` AUTO_INCREMENT = 1"))
    finally:
        conn.execute(text("SET FOREIGN_KEY_CHECKS = 1"))


async def empty_database(url: str) -> None:
    """The schema at head with no rows, as the gateway's first start on a new database leaves it before seeding.

    The first call per URL in a session drops everything and runs the Alembic migrations from empty; later
    calls keep that schema when it is still exactly the head schema and delete the rows (identity counters
    restart at 1), which on MariaDB is ~0.2 s instead of ~3-6 s of DDL. Migrating from empty is still checked
    on every backend by tests/store/test_backends.py::test_migrations_create_exactly_the_tables."""
    engine = make_engine(url)
    try:
        if url in _migrated:
            async with engine.connect() as conn:
                fast = await conn.run_sync(_at_head)
            if fast:
                async with engine.begin() as conn:
                    await conn.run_sync(_delete_rows)
                return
        await reset_database(url)
        await upgrade(engine)
        async with engine.connect() as conn:
            if await conn.run_sync(_no_rows):  # a migration that seeds rows: migrate from empty every time
                _migrated.add(url)
    finally:
        await engine.dispose()
