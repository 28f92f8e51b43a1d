"""`relaygate migrate` and `balance` as an operator runs them: dry runs that create nothing, reproducible
reports (--now), whole names in tables sent to a pipe, and start-up that loads only the command's modules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.migration.conftest import Backend, make_backend
from tests.migration.fixtures import DAY, build_source
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


def test_inspect_now_makes_reports_reproducible(source: tuple[Backend, int]) -> None:
    backend, now = source
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


@pytest.mark.parametrize("command", [["migrate", "--help"], ["migrate", "import", "--help"]])
def test_commands_start_without_the_database_layers(command: list[str]) -> None:
    """Start time is import time: a migrate or balance command loads its database, HTTP and service
    modules when it runs, not when it starts (figures in docs/benchmarks.md)."""
    done = _cli(*command, env=dict(os.environ), extra=("-X", "importtime"))
    assert done.returncode == 0, done.stderr
    loaded = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    heavy = sorted(m for m in loaded if m.split(".")[0] in ("sqlalchemy", "aiohttp", "alembic", "asyncpg")
                   or m.startswith(("relaygate.services", "relaygate.store", "relaygate.providers")))
    assert heavy == [], heavy
