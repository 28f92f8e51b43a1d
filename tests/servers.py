"""Find PostgreSQL, MariaDB and Redis on their default local ports, so one command runs the whole matrix.

For each server whose RELAYGATE_TEST_*_URL is not set, try 127.0.0.1 on its default port; when it
answers and lets us in (PostgreSQL as ``postgres``, MariaDB as ``root``, both without a password,
as a fresh local install or .ci/run sets up), create the test database if needed and set the
variable. What was found and what is skipped, with the reason, is printed in pytest's summary.
"""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass


@dataclass
class Found:
    name: str
    env: str
    url: str | None
    how: str  # "from $VAR", "found on 127.0.0.1:5432", or why it is skipped


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


async def _postgres(db: str, port: int = 5432) -> None:
    import asyncpg

    conn = await asyncpg.connect(user="postgres", host="127.0.0.1", port=port, database="postgres", timeout=3)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", db):
            await conn.execute(f'CREATE DATABASE "{db}"')
    finally:
        await conn.close()


async def _mysql(db: str, port: int = 3306) -> None:
    import aiomysql

    conn = await aiomysql.connect(host="127.0.0.1", port=port, user="root", connect_timeout=3)
    try:
        async with conn.cursor() as cur:
            await cur.execute("SHOW DATABASES LIKE %s", (db,))
            if not await cur.fetchone():
                await cur.execute(f"CREATE DATABASE `{db}`")
    finally:
        conn.close()


async def _redis(url: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=3)
    try:
        await client.ping()
    finally:
        await client.aclose()


SERVICES = (
    ("PostgreSQL", "RELAYGATE_TEST_POSTGRES_URL", 5432, "postgresql+asyncpg://postgres@127.0.0.1:5432/relaygate_test"),
    ("MariaDB", "RELAYGATE_TEST_MYSQL_URL", 3306, "mysql+aiomysql://root@127.0.0.1:3306/relaygate_test"),
    ("Redis", "RELAYGATE_TEST_REDIS_URL", 6379, "redis://127.0.0.1:6379/15"),
)


def detect(environ: os._Environ[str] | dict[str, str] = os.environ) -> list[Found]:
    """Set the RELAYGATE_TEST_* variables of the servers that answer; say what happened to each."""
    out: list[Found] = []
    for name, env, port, url in SERVICES:
        if environ.get(env):
            out.append(Found(name, env, environ[env], f"from ${env}"))
            continue
        if environ.get("RELAYGATE_TEST_NO_DETECT"):
            out.append(Found(name, env, None, f"skipped: RELAYGATE_TEST_NO_DETECT is set and ${env} is not"))
            continue
        if not _answers(port):
            out.append(Found(name, env, None, f"skipped: nothing answers on 127.0.0.1:{port} (start it, or set "
                                              f"${env})"))
            continue
        try:
            check = (_postgres("relaygate_test", port) if name == "PostgreSQL" else
                     _mysql("relaygate_test", port) if name == "MariaDB" else _redis(url))
            asyncio.run(asyncio.wait_for(check, 10))
        except Exception as exc:  # wrong credentials, a different server on that port, …
            out.append(Found(name, env, None, f"skipped: 127.0.0.1:{port} answers but refused us "
                                              f"({type(exc).__name__}: {str(exc)[:120]}); set ${env}"))
            continue
        environ[env] = url
        out.append(Found(name, env, url, f"found on 127.0.0.1:{port}"))
    return out
