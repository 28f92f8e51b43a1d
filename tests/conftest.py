"""Shared fixtures: a running gateway on SQLite, fake upstreams, database URLs for the matrix."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.servers import detect

SERVICES = detect()  # before the harness reads the RELAYGATE_TEST_* variables

from relaygate.fakeupstream import FakeUpstream  # noqa: E402
from tests.harness import MYSQL_URL, PG_URL, Running, running_gateway, start_fake  # noqa: E402

# Settings without a data folder use $XDG_DATA_HOME/relaygate: keep the suite's away from the user's
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="relaygate-test-data-")
# tests start CLI commands on fresh databases on purpose (tests/cli/test_db_path.py checks the refusal)
os.environ.setdefault("RELAYGATE_INIT", "true")


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """New passwords hash with scrypt's lowest cost in the suite (n=2, not 2**14: ~50 ms of CPU per sign-in,
    sign-up, reset and unknown-name check). The format, the salt and the check are unchanged: a hash keeps its
    own n, so a wrong password still fails, and CLI subprocesses and hashes made outside still use the real cost."""
    from relaygate.core import passwords

    monkeypatch.setattr(passwords, "_N", 2)


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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.section("database and cache servers")
    for found in SERVICES:
        terminalreporter.write_line(f"{found.name:<10} {found.how}" + (f" -> {found.url}" if found.url and
                                                                       "found" in found.how else ""))


def _why(name: str) -> str:
    return next(f"{f.name} {f.how}" for f in SERVICES if f.name == name)


def _backend_params() -> list[object]:
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.skipif(not PG_URL, reason=_why("PostgreSQL"))),
        pytest.param("mysql", id="mysql", marks=pytest.mark.skipif(not MYSQL_URL, reason=_why("MariaDB"))),
    ]


@pytest.fixture(params=_backend_params())
async def backend_url(request: pytest.FixtureRequest, sqlite_url: str) -> AsyncIterator[str]:
    """A clean database of each kind: SQLite always (a new file); PostgreSQL and MariaDB when configured, with
    the schema at head and no rows (tests/dbreset.py: migrated from empty once per session, then emptied)."""
    from tests.dbreset import empty_database

    url = {"sqlite": sqlite_url, "postgres": PG_URL, "mysql": MYSQL_URL}[request.param]
    if request.param != "sqlite":
        await empty_database(url)
    yield url
