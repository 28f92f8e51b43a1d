"""`relaygate rollout` on the command line: a One API imported with `migrate`, then legacy, plan, switch,
rollback, complete, disputes, checklist and the report, in English and in Chinese."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner, Result

from relaygate.cli import main as cli_main
from tests.migration.fixtures import load_tables
from tests.migration.schemas import oneapi_logs_metadata, oneapi_metadata
from tests.rollout.conftest import one_api_rows


class Cli:
    def __init__(self, tmp_path: Path) -> None:
        cli_main._register()
        self.runner = CliRunner()
        self.src = tmp_path / "one-api.db"
        self.logs = tmp_path / "one-api-logs.db"
        self.tmp = tmp_path

    def __call__(self, *args: str, ok: bool = True) -> Result:
        result = self.runner.invoke(cli_main.app, list(args))
        if ok:
            assert result.exit_code == 0, (args, result.output, result.exception)
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)

    def old_quota(self, uid: int) -> int:
        engine = create_engine(f"sqlite:///{self.src}")
        with engine.connect() as conn:
            value = int(conn.execute(text("SELECT quota FROM users WHERE id = :i"), {"i": uid}).scalar_one())
        engine.dispose()
        return value


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("RELAYGATE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/relaygate.db")
    monkeypatch.setenv("RELAYGATE_DEMO_UPSTREAM", "false")
    monkeypatch.setenv("RELAYGATE_LANG", "en")
    monkeypatch.setenv("RELAYGATE_CONFIG_POLL_SECONDS", "0.05")
    monkeypatch.setenv("COLUMNS", "220")
    run = Cli(tmp_path)
    rows, _ = one_api_rows("http://127.0.0.1:9")
    asyncio.run(load_tables(f"sqlite+aiosqlite:///{run.src}", oneapi_metadata(), rows))
    asyncio.run(load_tables(f"sqlite+aiosqlite:///{run.logs}", oneapi_logs_metadata(), {}))
    plan = tmp_path / "plan.yaml"
    run("migrate", "plan", "--source", str(run.src), "--logs-source", str(run.logs), "-o", str(plan))
    run("migrate", "import", "--plan", str(plan), "--apply")
    return run


def test_the_whole_road_on_the_command_line(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    out = cli("rollout", "legacy", "set", "--base-url", "http://old:3000/v1", "--source", str(cli.src),
              "--logs-source", str(cli.logs), "--write-old", "--by", "ops").stdout
    assert "Old entry http://old:3000 (active)" in out and "5 imported owner(s) on the old entry" in out
    internal = cli.json("rollout", "plan", "internal", "--owners", "alice,bob", "-c", "5xx>+5%", "-c", "401>3x",
                        "--window", "10m", "--min-requests", "5", "--rollback-window", "2d")
    assert internal["owners"] == 2 and internal["conditions"] == ["5xx>+5%", "401>3x"]
    cli("rollout", "plan", "users", "--percent", "50")
    cli("rollout", "plan", "production", "--rest", "--no-auto-rollback")
    status = cli.json("rollout", "status")
    assert [b["name"] for b in status] == ["internal", "users", "production"]
    assert sum(b["owners"] for b in status) == 5 and all(b["state"] == "planned" for b in status)
    table = cli("rollout", "status").stdout
    assert "internal" in table and "planned" in table

    moved = cli.json("rollout", "switch", "internal", "--reason", "internal tests first", "--by", "ana")
    assert moved["state"] == "switched" and moved["handover"]["writes"] == {"written": 2}
    assert cli.old_quota(2) == 0 and cli.old_quota(3) == 0 and cli.old_quota(4) == 800_000
    assert cli("rollout", "switch", "internal", "--reason", "twice", ok=False).exit_code == 2

    cli("rollout", "dispute", "add", "--owner", "alice", "--note", "my balance looks 0.01 short")
    assert cli.json("rollout", "dispute", "list")[0]["batch"] == "internal"
    items = cli.json("rollout", "checklist", "list")
    assert [i["kind"] for i in items] == ["docs", "screenshots", "macros", "base_url"]
    cli("rollout", "checklist", "assign", "1", "--owner", "li")
    cli("rollout", "checklist", "done", "1", "--note", "wiki updated", "--by", "li")
    assert cli.json("rollout", "checklist", "list")[0]["owner"] == "li"
    cli("rollout", "checklist", "add", "Pinned Slack message with the old URL", "--owner", "li", "--kind", "docs")

    back = cli.json("rollout", "rollback", "internal", "--reason", "tickets about 402")
    assert back["state"] == "rolled_back" and cli.old_quota(2) == 1_000_000  # nothing spent: all of it back
    history = cli.json("rollout", "history", "internal")
    assert (history[-2]["to"], history[-2]["actor"]) == ("switched", "cli:ana")
    assert history[-1]["to"] == "rolled_back" and history[-1]["reason"] == "tickets about 402"
    cli("rollout", "switch", "internal", "--reason", "again")
    cli("rollout", "complete", "internal", "--reason", "quiet for a day")
    assert cli("rollout", "rollback", "internal", "--reason", "too late", ok=False).exit_code == 2

    folder = cli.tmp / "report"
    cli("rollout", "report", "--out", str(folder))
    md = (folder / "report.md").read_text()
    assert "# Gray rollout report" in md and "### internal — completed" in md and "Retirement checklist" in md
    assert (folder / "owner_share.svg").read_text().startswith("<svg xmlns=\"http://www.w3.org/2000/svg\"")
    import xml.etree.ElementTree as ET

    for name in ("owner_share", "error_rates"):
        assert ET.parse(folder / f"{name}.svg").getroot().tag.endswith("svg")  # well-formed XML
    assert "error_rates.svg" in md  # the completed batch has before/after figures to draw
    data = json.loads(cli("rollout", "report", "--format", "json").stdout)
    assert data["checklist"] == {**data["checklist"], "done": 1, "total": 5}
    assert data["disputes"]["open"] == 1 and data["batches"][0]["rollbacks"] == 1

    monkeypatch.setenv("RELAYGATE_LANG", "zh-CN")
    assert "灰度切换报告" in cli("rollout", "report").stdout
    assert "旧入口 http://old:3000（启用）" in cli("rollout", "legacy", "show").stdout
    refused = cli("rollout", "legacy", "retire", ok=False)
    assert refused.exit_code == 2 and "仍有 3 个负责人由旧入口服务" in refused.stdout


def test_rollback_is_refused_after_the_deadline(cli: Cli) -> None:
    cli("rollout", "legacy", "set", "--base-url", "http://old:3000", "--source", str(cli.src))
    cli("rollout", "plan", "scripts", "--owners", "dave", "--rollback-window", "1s")
    cli("rollout", "switch", "scripts", "--reason", "low-risk scripts")
    time.sleep(1.2)
    refused = cli("rollout", "rollback", "scripts", "--reason", "late", ok=False)
    assert refused.exit_code == 2 and "closed at" in refused.stdout and "refused after the deadline" in refused.stdout
    assert cli.json("rollout", "show", "scripts")["state"] == "switched"


def test_switch_needs_the_old_database_or_an_explicit_no_handover(cli: Cli) -> None:
    cli("rollout", "legacy", "set", "--base-url", "http://old:3000")
    cli("rollout", "plan", "scripts", "--owners", "dave")
    refused = cli("rollout", "switch", "scripts", "--reason", "x", ok=False)
    assert refused.exit_code == 2 and "--no-handover" in refused.stdout
    moved = cli.json("rollout", "switch", "scripts", "--reason", "balances moved by hand", "--no-handover")
    assert moved["state"] == "switched" and moved["complete"] and moved["handover"]["moved"] == 1


def test_an_owner_that_did_not_move_is_named_and_the_command_fails(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from relaygate.services.rollout import handover

    cli("rollout", "legacy", "set", "--base-url", "http://old:3000", "--source", str(cli.src), "--write-old")
    cli("rollout", "plan", "internal", "--owners", "alice,bob")

    async def fail(point: str, owner_id: str) -> None:
        if point == "synced" and owner_id == "own_oa_3":
            raise RuntimeError("disk full")
    original = handover.checkpoint
    monkeypatch.setattr(handover, "checkpoint", fail)
    out = cli("rollout", "switch", "internal", "--reason", "first", ok=False)
    assert out.exit_code == 1
    assert "1 owner(s) did NOT move" in out.stdout
    assert "own_oa_3: Its hand-over failed and was rolled back" in out.stdout
    assert "disk full" in out.stdout and cli.old_quota(3) == 600_000 and cli.old_quota(2) == 0
    status = cli("rollout", "status").stdout
    assert "internal / own_oa_3" in status and "disk full" in status
    monkeypatch.setattr(handover, "checkpoint", original)
    done = cli.json("rollout", "switch", "internal", "--reason", "retry")  # exit 0: nothing left
    assert done["complete"] and cli.old_quota(3) == 0 and not done["failures"]
