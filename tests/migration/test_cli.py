"""`relaygate migrate …` on the command line: inspect (md / json), plan, import (dry run, apply, again), verify."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from relaygate.cli import main as cli_main
from tests.migration.conftest import Backend, make_backend
from tests.migration.fixtures import build_source


@pytest.fixture
async def sqlite_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Backend:
    backend = await make_backend("sqlite", tmp_path)
    await build_source(backend.src_url, backend.logs_url, "oneapi", int(time.time()))
    monkeypatch.setenv("RELAYGATE_DATABASE_URL", backend.dst_url)
    monkeypatch.setenv("RELAYGATE_LANG", "en")
    monkeypatch.setenv("COLUMNS", "200")
    return backend


def run(*args: str, ok: bool = True) -> Result:
    cli_main._register()
    result = CliRunner().invoke(cli_main.app, ["migrate", *args])
    if ok:
        assert result.exit_code == 0, (args, result.output, result.exception)
    return result


def test_inspect_plan_import_from_the_command_line(sqlite_source: Backend, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    src = ["--source", sqlite_source.src_dsn, "--logs-source", sqlite_source.logs_dsn]
    md = run("inspect", *src).stdout
    for heading in ("# Inventory of One API", "## Channels", "## Tokens", "## Users and balances",
                    "## Callers (last 30 days)", "## Errors per day (last 30 days)"):
        assert heading in md
    assert "expired-but-status-1" in md and "status column" in md
    inv = json.loads(run("inspect", *src, "--format", "json", "--limit", "3").stdout)
    assert inv["source"]["kind"] == "oneapi" and inv["tokens"]["listed"] == 3 and inv["tokens"]["total"] == 14
    forced = json.loads(run("inspect", *src, "--from", "newapi", "--format", "json").stdout)
    assert forced["source"]["evidence"][0].startswith("forced with --from newapi")
    out = tmp_path / "inventory.md"
    assert "written to" in run("inspect", *src, "-o", str(out)).output and out.read_text().startswith("# Inventory")
    bad = run("inspect", "--source", str(tmp_path / "missing.db"), ok=False)
    assert bad.exit_code == 2 and "no such SQLite file" in bad.output

    plan = tmp_path / "plan.yaml"
    made = run("plan", *src, "-o", str(plan))
    assert "Review the file, then: relaygate migrate import --plan" in made.output and plan.exists()
    summary = json.loads(run("plan", *src, "-o", str(plan), "--json").stdout)
    assert summary["models"] == 20 and summary["classes"]["same"] >= 5

    dry = run("import", "--plan", str(plan))
    assert "Dry run: nothing was written" in dry.output and "+ sk-" in dry.stdout
    applied = run("import", "--plan", str(plan), "--apply", "--report", str(tmp_path / "report.md"))
    assert "Import applied" in applied.output and "## Prices: old and new cost" in applied.stdout
    assert "| gpt-4o-mini | same | ratio | $0.00045 | $0.00045 | $0.00 |" in applied.stdout
    again = json.loads(run("import", "--plan", str(plan), "--apply", "--json").stdout)
    assert again["changes"]["keys"]["create"] == 0 and again["changes"]["keys"]["unchanged"] == 13
    assert [s["step"] for s in again["steps"]][-1] == "tasks in flight"

    # what the console's migration page shows: the applied plan, its report, and an inventory kept on request
    run("inspect", *src, "--record", "-o", str(tmp_path / "kept.md"))
    kept = asyncio.run(_documents(sqlite_source.dst_url))
    assert kept["inventory"]["created_by"].startswith("cli:") and kept["inventory"]["body"]["tokens"]["total"] == 14
    assert kept["plan"]["body"]["models"] and kept["import"]["body"]["dry_run"] is False

    monkeypatch.setenv("RELAYGATE_LANG", "zh-CN")
    assert "试运行" in run("import", "--plan", str(plan)).output
    assert "请用 --admin-token" in run("verify", "--plan", str(plan), ok=False).output


async def _documents(url: str) -> dict[str, Any]:
    from relaygate.services.migration import documents
    from relaygate.store.db import make_engine

    engine = make_engine(url)
    try:
        return {kind: await documents.latest(engine, kind) for kind in documents.KINDS}
    finally:
        await engine.dispose()


def test_plan_errors_are_readable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAYGATE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/rg.db")
    monkeypatch.setenv("RELAYGATE_LANG", "en")
    plan = tmp_path / "plan.yaml"
    plan.write_text("hello: world\n")
    result = run("import", "--plan", str(plan), ok=False)
    assert result.exit_code == 2 and "is not a relaygate migration plan" in result.output
