"""CLI start-up stays light, checked without timing: which heavy modules a command loads, in a fresh process.

Figures (CPU seconds and instructions per command) are in docs/benchmarks.md, from bench/cli_start.sh.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from relaygate.cli.main import LAZY

PROBE = """
import atexit, json, sys
atexit.register(lambda: sys.__stderr__.write("\\nMODULES=" + json.dumps(sorted(sys.modules)) + "\\n"))
sys.argv = ["relaygate", *json.loads(sys.argv[1])]
{body}
"""


def loaded(args: list[str], env: dict[str, str], body: str = "from relaygate.cli.main import main; main()") -> set[str]:
    done = subprocess.run([sys.executable, "-c", PROBE.format(body=body), json.dumps(args)], env=env,
                          capture_output=True, text=True, timeout=120)
    line = [x for x in done.stderr.splitlines() if x.startswith("MODULES=")]
    assert line, done.stdout + done.stderr
    return set(json.loads(line[-1].removeprefix("MODULES=")))


def heavy(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if n in modules)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYGATE_")}
    return {**env, "RELAYGATE_DATA_DIR": str(tmp_path / "data"), "RELAYGATE_LANG": "en", "COLUMNS": "200"}


# never needed to print help; the web stack and the request path are never needed by any CLI command but serve
SERVER = ("fastapi", "starlette", "uvicorn", "aiohttp", "prometheus_client", "opentelemetry", "jinja2",
          "relaygate.web", "relaygate.app", "relaygate.services.gateway")
DATABASE = ("sqlalchemy", "alembic", "aiosqlite", "asyncpg", "aiomysql", "cryptography", "relaygate.store",
            "relaygate.services")
# migrate loads asyncio at import; its start-up is checked by tests/migration/test_cli_extras.py
NOT_YET_LAZY = {"migrate"}


def test_root_help_loads_neither_the_database_nor_pydantic_nor_asyncio(env: dict[str, str]) -> None:
    mods = loaded(["--help"], env)
    assert "relaygate.cli.accounts" not in mods  # groups are listed without importing them
    assert heavy(mods, (*SERVER, *DATABASE, "pydantic", "asyncio", "relaygate.cli.i18n")) == []


def test_no_command_group_loads_services_to_show_its_help(env: dict[str, str]) -> None:
    """All group modules imported in one process: none brings the database, the server or the services."""
    modules = sorted({m for name, (mods, _, _) in LAZY.items() if name not in NOT_YET_LAZY for m in mods}
                     - {m for name in NOT_YET_LAZY for m in LAZY[name][0]})
    body = "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules)
    mods = loaded([], env, body)
    assert set(modules) <= mods
    assert heavy(mods, (*SERVER, *DATABASE, "asyncio")) == []


def test_a_database_command_loads_no_server_alembic_or_help_renderer(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "relaygate.cli", "--init", "db", "upgrade"], env=env, check=True,
                   capture_output=True, timeout=120)
    mods = loaded(["keys", "list"], env)
    assert "sqlalchemy" in mods and "relaygate.store.db" in mods  # the probe saw a real database command
    # alembic only when the schema is behind; typer's rich help renderer (rich.markdown, pygments) only for help
    assert heavy(mods, (*SERVER, "alembic", "typer.rich_utils", "rich.markdown", "pygments", "yaml",
                        "relaygate.cli.i18n", "relaygate.services.migration", "relaygate.services.rollout")) == []
