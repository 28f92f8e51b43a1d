"""Shared fixtures: a running gateway on SQLite, fake upstreams, database URLs for the matrix."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relaygate.fakeupstream import FakeUpstream
from tests.harness import MYSQL_URL, PG_URL, Running, running_gateway, start_fake


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/relaygate.db"


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    server = await start_fake()
    yield server
    await server.stop()


@pytest.fixture
async def gw(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Running]:
    async with running_gateway(sqlite_url, data_dir=str(tmp_path)) as running:
        yield running


def _backend_params() -> list[object]:
    hint = ("set RELAYGATE_TEST_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test and "
            "RELAYGATE_TEST_MYSQL_URL=mysql+aiomysql://root@127.0.0.1:3306/test (.ci/run does)")
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.skipif(not PG_URL, reason=f"PostgreSQL: {hint}")),
        pytest.param("mysql", id="mysql", marks=pytest.mark.skipif(not MYSQL_URL, reason=f"MariaDB: {hint}")),
    ]


@pytest.fixture(params=_backend_params())
async def backend_url(request: pytest.FixtureRequest, sqlite_url: str) -> AsyncIterator[str]:
    """A clean database of each kind: SQLite always; PostgreSQL and MariaDB when configured."""
    from tests.dbreset import reset_database

    url = {"sqlite": sqlite_url, "postgres": PG_URL, "mysql": MYSQL_URL}[request.param]
    if request.param != "sqlite":
        await reset_database(url)
    yield url
