"""`relaygate migrate` and `balance` as an operator runs them: dry runs that create nothing, reproducible
reports (--now), whole names in tables sent to a pipe, and start-up that loads only the command's modules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.harness import MYSQL_URL, PG_URL
from tests.migration.conftest import Backend, backend_params, make_backend
from tests.migration.fixtures import DAY, build_source, sibling_url
from tests.migration.test_cli import run


def _cli(*args: str, env: dict[str, str], extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *extra, "-m", "relaygate.cli", *args], env=env, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.fixture
async def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Backend, int]:
    backend = await make_backend("sqlite", tmp_path)
    now = int(time.time())
    await build_source(backend.src_url, backend.logs_url, "oneapi", now)
    monkeypatch.setenv("RELAYGATE_DATABASE_URL", backend.dst_url)
    monkeypatch.setenv("RELAYGATE_LANG", "en")
    return backend, now


@pytest.fixture(params=backend_params())
async def any_source(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[
        Backend, int]:
    """The One API fixture on SQLite, PostgreSQL and MariaDB."""
    backend = await make_backend(request.param, tmp_path)
    now = int(time.time())
    await build_source(backend.src_url, backend.logs_url, "oneapi", now)
    monkeypatch.setenv("RELAYGATE_DATABASE_URL", backend.dst_url)
    monkeypatch.setenv("RELAYGATE_LANG", "en")
    return backend, now


def test_dry_run_import_creates_no_database(source: tuple[Backend, int], tmp_path: Path) -> None:
    backend, _ = source
    target = tmp_path / "relaygate.db"
    assert backend.dst_url.endswith(str(target)) and not target.exists()
    plan = tmp_path / "plan.yaml"
    run("plan", "--source", backend.src_dsn, "--logs-source", backend.logs_dsn, "-o", str(plan))
    dry = run("import", "--plan", str(plan))
    assert "Dry run: nothing was written" in dry.output and "+ sk-" in dry.stdout
    assert "empty target" in dry.output
    assert not target.exists() and not list(tmp_path.glob("relaygate.db*"))  # not even an empty database


@pytest.mark.parametrize("server", [p for p in backend_params() if p.id != "sqlite"])  # type: ignore[attr-defined]
def test_dry_run_against_a_server_database_that_does_not_exist(source: tuple[Backend, int], tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch, server: str) -> None:
    """A PostgreSQL or MariaDB target database that does not exist yet is an empty target: the dry run shows
    every record as new and creates nothing (it crashed with a traceback before)."""
    backend, _ = source
    name = f"rg_mig_nowhere_{os.getpid()}"
    url = sibling_url(PG_URL if server == "postgres" else MYSQL_URL, name)
    monkeypatch.setenv("RELAYGATE_DATABASE_URL", url)
    plan = tmp_path / "plan.yaml"
    run("plan", "--source", backend.src_dsn, "--logs-source", backend.logs_dsn, "-o", str(plan))
    dry = run("import", "--plan", str(plan))
    assert "empty target" in dry.output and "+ sk-" in dry.stdout
    engine = create_async_engine(sibling_url(url, "postgres" if server == "postgres" else "mysql"))

    async def exists() -> bool:
        query = ("SELECT 1 FROM pg_database WHERE datname = :n" if server == "postgres" else
                 "SELECT 1 FROM information_schema.schemata WHERE schema_name = :n")
        async with engine.connect() as conn:
            found = (await conn.execute(text(query), {"n": name})).first() is not None
        await engine.dispose()
        return found

    import asyncio

    assert not asyncio.run(exists())


def test_inspect_now_makes_reports_reproducible(any_source: tuple[Backend, int]) -> None:
    backend, now = any_source
    src = ["--source", backend.src_dsn, "--logs-source", backend.logs_dsn, "--format", "json", "--limit", "0"]
    first = json.loads(run("inspect", *src, "--now", str(now)).stdout)
    second = json.loads(run("inspect", *src, "--now", str(now)).stdout)
    first.pop("took_seconds"), second.pop("took_seconds")
    assert first == second
    earlier = json.loads(run("inspect", *src, "--now", time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                        time.gmtime(now - 3 * DAY))).stdout)
    states = {t["name"]: t["state"] for t in earlier["tokens"]["items"]}
    assert states["expired-but-status-1"] == "active"  # it expired two days ago, not three
    assert earlier["logs"]["rows"] < first["logs"]["rows"]  # the window ends at --now
    bad = run("inspect", *src, "--now", "yesterday-ish", ok=False)
    assert bad.exit_code == 2 and "is not a time" in bad.output


def test_tables_to_a_pipe_keep_whole_names(source: tuple[Backend, int], tmp_path: Path) -> None:
    backend, _ = source
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    done = _cli("migrate", "plan", "--source", backend.src_dsn, "-o", str(tmp_path / "p.yaml"), env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any("claude-3-5-sonnet-20241022" in line and "ft:" not in line for line in lines)
    assert any("callers asking for my-finetune get ft:qwen2.5-72b:acme:42" in line for line in lines)
    assert "…" not in done.stdout


# Start time is import time (figures in docs/benchmarks.md). One process runs each command in turn, as
# the real entry point does, and after each one lists the modules it loaded: help and argument errors
# load no database, HTTP, YAML or service module; a real run loads what its work needs and no more.
_RUNNER = """
import json, sys
from relaygate.cli.main import app

steps, out = json.loads(sys.argv[1]), []
for argv in steps:
    try:
        code = app(argv, prog_name="relaygate", standalone_mode=False)
    except SystemExit as exc:
        code = exc.code
    except Exception as exc:
        code = getattr(exc, "exit_code", repr(exc))
    out.append({"argv": argv, "code": code, "modules": sorted(sys.modules)})
with open(sys.argv[2], "w") as f:
    json.dump(out, f)
"""
HEAVY = ("sqlalchemy", "aiosqlite", "asyncpg", "aiomysql", "aiohttp", "alembic", "yaml", "cryptography",
         "relaygate.services", "relaygate.store", "relaygate.providers", "relaygate.web", "relaygate.app")
SUBCOMMANDS = {"migrate": ("inspect", "plan", "import", "verify", "statuses"),
               "balance": ("show", "topup", "adjust", "statement", "check"),
               "prices": ("list", "set", "delete"), "groups": ("terms",)}


def _heavy(modules: list[str], banned: tuple[str, ...] = HEAVY) -> list[str]:
    return sorted(m for m in modules if m.startswith(banned) and (m in banned or m.startswith(
        tuple(b + "." for b in banned))))


def test_commands_start_without_heavy_modules(source: tuple[Backend, int], tmp_path: Path) -> None:
    backend, _ = source
    import asyncio

    from relaygate.services.operate.accounts import AccountsAdmin
    from relaygate.store.db import make_engine, upgrade

    async def owner() -> None:
        engine = make_engine(backend.dst_url)
        await upgrade(engine)
        await AccountsAdmin(engine).create_owner("acme")
        await engine.dispose()

    asyncio.run(owner())
    helps = [[group, "--help"] for group in SUBCOMMANDS] + [
        [group, sub, "--help"] for group, subs in SUBCOMMANDS.items() for sub in subs]
    refused = [["balance", "topup", "acme", "ten", "--reason", "x"],
               ["balance", "statement", "acme", "--format", "xml"],
               ["migrate", "inspect", "--source", backend.src_dsn, "--now", "soon"],
               ["migrate", "verify", "--plan", str(tmp_path / "p.yaml")], ["migrate", "statuses", "neither"],
               ["groups", "terms", "default", "--clear", "speed"]]
    real = [["balance", "show", "acme"],
            ["migrate", "inspect", "--source", backend.src_dsn, "-o", str(tmp_path / "i.md")]]
    env = {**os.environ, "RELAYGATE_ADMIN_TOKEN": ""}

    def run_steps(steps: list[list[str]], name: str) -> list[dict[str, Any]]:
        out = tmp_path / f"{name}.json"
        done = subprocess.run([sys.executable, "-c", _RUNNER, json.dumps(steps), str(out)], env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        return list(json.loads(out.read_text()))

    steps = run_steps(helps + refused, "light")  # one process: what any of them loads stays loaded
    assert [s["code"] for s in steps[:len(helps)]] == [0] * len(helps)  # each help was printed
    assert [s["code"] for s in steps[len(helps):]] == [2] * len(refused)  # each error said, before any work
    assert _heavy(steps[-1]["modules"]) == [], "help or an argument error loaded: " + ", ".join(_heavy(
        steps[-1]["modules"]))
    show, inspect = run_steps(real, "real")
    assert show["code"] is None and inspect["code"] is None, (show["code"], inspect["code"])  # both returned
    assert (tmp_path / "i.md").read_text().startswith("# Inventory")
    # a real run loads its database layer, and not the HTTP client, the schema migrator, other commands' services
    # or typer's help renderer (markdown_it)
    assert _heavy(show["modules"], ("aiohttp", "alembic", "yaml", "markdown_it", "relaygate.providers",
                                    "relaygate.web", "relaygate.app", "relaygate.services.migration",
                                    "relaygate.services.gateway")) == []
    assert "relaygate.services.operate.accounts" in show["modules"] and "sqlalchemy.ext.asyncio" in show["modules"]
    assert _heavy(inspect["modules"], ("aiohttp", "alembic", "markdown_it", "relaygate.providers", "relaygate.web",
                                       "relaygate.app", "relaygate.services.gateway")) == []


@pytest.mark.parametrize("target", ["none", "initialised"])
def test_dry_run_import_writes_no_secrets_key_and_binds_none(source: tuple[Backend, int], tmp_path: Path,
                                                             target: str) -> None:
    """A dry run creates no key file (nor warns to back one up), binds no key into the target database,
    whether the target does not exist yet or exists without a key file; --apply then does both."""
    backend, _ = source
    data = tmp_path / "data"
    db = data / "relaygate.db"
    env = {**os.environ, "RELAYGATE_DATA_DIR": str(data), "RELAYGATE_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
           "RELAYGATE_LANG": "en", "RELAYGATE_DEMO_UPSTREAM": "false", "COLUMNS": "200"}
    for name in ("RELAYGATE_SECRETS_KEY", "RELAYGATE_SECRETS_KEY_FILE"):
        env.pop(name, None)
    if target == "initialised":
        done = _cli("--init", "db", "upgrade", env=env)
        assert done.returncode == 0, done.stderr
    plan = tmp_path / "plan.yaml"
    done = _cli("migrate", "plan", "--source", backend.src_dsn, "--logs-source", backend.logs_dsn, "-o", str(plan),
                env=env)
    assert done.returncode == 0, done.stderr
    before = sorted(p.name for p in tmp_path.rglob("*"))
    dry = _cli("migrate", "import", "--plan", str(plan), env=env)
    assert dry.returncode == 0, dry.stderr
    assert "Dry run: nothing was written" in dry.stdout + dry.stderr and "+ sk-" in dry.stdout
    assert "secrets key" not in dry.stdout + dry.stderr and "back it up" not in dry.stdout + dry.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # no key file, no database, nothing
    if target == "initialised":
        engine = create_async_engine(f"sqlite+aiosqlite:///{db}")

        async def meta() -> list[Any]:
            async with engine.connect() as conn:
                rows = (await conn.execute(text("SELECT * FROM meta"))).all()
            await engine.dispose()
            return [tuple(r) for r in rows]

        import asyncio

        assert not [r for r in asyncio.run(meta()) if "secrets" in str(r[0])]  # no key bound
    applied = _cli("migrate", "import", "--plan", str(plan), "--apply", env=env)
    assert applied.returncode == 0, applied.stderr
    assert (data / "secrets.key").exists() and "back it up" in applied.stdout + applied.stderr
