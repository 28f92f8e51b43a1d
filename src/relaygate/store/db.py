"""Database engines and schema upgrades for SQLite (WAL), PostgreSQL and MariaDB/MySQL."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from relaygate.core.clock import now_ms
from relaygate.store.sealed import attach_default_keys
from relaygate.store.tables import meta
from relaygate.store.wide import register_sqlite

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create the async engine with the per-backend settings that matter under load."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        attach_default_keys(engine)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
            register_sqlite(dbapi_conn)  # exact sums and increments of wide money columns

        return engine
    if backend in {"mysql", "mariadb"}:
        kwargs.setdefault("pool_recycle", 3600)
    kwargs.setdefault("pool_pre_ping", True)
    engine = create_async_engine(url, **kwargs)
    attach_default_keys(engine)  # channel secrets are sealed: the keys travel with the engine
    return engine


def _alembic_config(connection: Connection) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    command.upgrade(_alembic_config(connection), revision)


def _current(connection: Connection) -> str | None:
    from sqlalchemy import inspect, text

    if not inspect(connection).has_table("alembic_version"):
        return None
    row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
    return None if row is None else str(row[0])


def head_revision() -> str | None:
    """The newest migration, read from the files (without importing Alembic, which costs a CLI ~0.2 s)."""
    import re

    revisions: dict[str, str | None] = {}
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        rev = re.search(r"^revision(?::\s*str)?\s*=\s*['\"]([^'\"]+)['\"]", source, re.M)
        down = re.search(r"^down_revision(?:[^=]*)=\s*(?:['\"]([^'\"]+)['\"]|None)", source, re.M)
        if rev is None or down is None:
            return None  # a form this reader does not know: let Alembic decide
        revisions[rev.group(1)] = down.group(1)
    heads = set(revisions) - {d for d in revisions.values() if d}
    return heads.pop() if len(heads) == 1 else None


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply Alembic migrations up to ``revision``; safe to call at every start (cheap when up to date)."""
    if revision == "head":
        head = head_revision()
        if head is not None:
            async with engine.connect() as conn:
                if await conn.run_sync(_current) == head:
                    return
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def get_meta(conn: AsyncConnection, key: str) -> str | None:
    row = (await conn.execute(select(meta.c.value).where(meta.c.key == key))).first()
    return None if row is None else str(row[0])


async def set_meta(conn: AsyncConnection, key: str, value: str) -> None:
    updated = await conn.execute(meta.update().where(meta.c.key == key).values(value=value))
    if updated.rowcount == 0:
        await conn.execute(meta.insert().values(key=key, value=value))


async def bump_config_version(conn: AsyncConnection) -> None:
    """Every admin write calls this in its transaction; workers reload when it changes."""
    await set_meta(conn, "config_version", f"{now_ms()}-{secrets.token_hex(4)}")
