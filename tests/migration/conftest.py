"""Source and target databases for the migration tests: SQLite always, PostgreSQL and MariaDB when configured.

The One API / New API fixtures live in their own databases (rg_mig_src, and rg_mig_logs for the logs
table, as LOG_SQL_DSN would put it) and the relaygate target in rg_mig_dst, so they never collide with
the tables other tests create in the shared ``test`` database. The target is on the other server when
both are configured (MariaDB source → PostgreSQL target, PostgreSQL source → MariaDB target; SQLite →
SQLite), so the SQLite and PostgreSQL targets the migration issue names are both covered, by sources of
another engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.dbreset import reset_database
from tests.harness import MYSQL_URL, PG_URL
from tests.migration.fixtures import ensure_database, sibling_url

# a suite pointed at its own test database (test_h2, …) gets its own fixture databases too, so that
# several checkouts can run the suite side by side on one server
_OWN = (PG_URL or MYSQL_URL).rsplit("/", 1)[-1].split("?")[0]
_SUFFIX = "" if _OWN in ("", "test") else f"_{_OWN}"
SRC_DB, LOGS_DB, DST_DB = f"rg_mig_src{_SUFFIX}", f"rg_mig_logs{_SUFFIX}", f"rg_mig_dst{_SUFFIX}"


@dataclass
class Backend:
    name: str
    src_url: str  # SQLAlchemy URLs, to build the fixtures
    logs_url: str
    dst_url: str  # relaygate's database
    src_dsn: str  # the forms an operator types: a path, One API's MySQL DSN, postgres://
    logs_dsn: str


def _dsn(url: str) -> str:
    u = make_url(url)
    if u.get_backend_name() == "postgresql":
        return f"postgres://{u.username}@{u.host}:{u.port or 5432}/{u.database}"
    return f"{u.username}@tcp({u.host}:{u.port or 3306})/{u.database}?charset=utf8mb4&parseTime=True&loc=Local"


def backend_params() -> list[object]:
    hint = ("set RELAYGATE_TEST_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test and "
            "RELAYGATE_TEST_MYSQL_URL=mysql+aiomysql://root@127.0.0.1:3306/test (.ci/run does)")
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.skipif(not PG_URL, reason=f"PostgreSQL: {hint}")),
        pytest.param("mysql", id="mysql", marks=pytest.mark.skipif(not MYSQL_URL, reason=f"MariaDB: {hint}")),
    ]


async def make_backend(name: str, tmp_path: Path) -> Backend:
    if name == "sqlite":
        src, logs = tmp_path / "one-api.db", tmp_path / "one-api-logs.db"
        return Backend(name, f"sqlite+aiosqlite:///{src}", f"sqlite+aiosqlite:///{logs}",
                       f"sqlite+aiosqlite:///{tmp_path}/relaygate.db", str(src), str(logs))
    base = PG_URL if name == "postgres" else MYSQL_URL
    # relaygate's database on the other server when both are there: a MariaDB source is imported into
    # PostgreSQL and a PostgreSQL source into MariaDB (SQLite into SQLite), so every import crosses engines
    target = (MYSQL_URL if name == "postgres" else PG_URL) or base
    # suffixed with the test database's name, so engineers sharing a server never share these databases
    suffix = make_url(base).database or "test"
    src, logs = (sibling_url(base, f"{db}_{suffix}") for db in (SRC_DB, LOGS_DB))
    dst = sibling_url(target, f"{DST_DB}_{make_url(target).database or 'test'}")
    await ensure_database(dst)
    await reset_database(dst)
    return Backend(name, src, logs, dst, _dsn(src), _dsn(logs))


@pytest.fixture(params=backend_params())
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return await make_backend(request.param, tmp_path)
