"""Usage search and tail, and routing configuration export/apply, through the CLI."""

from __future__ import annotations

import threading
from pathlib import Path

import yaml
from sqlalchemy.engine import Engine

from relaygate.core.clock import now_ms
from relaygate.store import tables as t

from .conftest import Invoke, JsonRun


def _usage(engine: Engine, request_id: str, *, status: int = 200, error_code: str | None = None,
           model: str = "chat", key_id: str | None = "key_aaaaaaaaaaaa", ago_ms: int = 0) -> None:
    with engine.begin() as conn:
        conn.execute(t.usage_records.insert().values(
            request_id=request_id, ts=now_ms() - ago_ms, key_id=key_id, masked_key="sk-abcd…wxyz",
            requested_model=model, upstream_model=model, channel_id=1, status=status, error_code=error_code,
            total_tokens=42, latency_ms=120))


def test_logs_search_on_an_empty_database(cli: Invoke, cli_json: JsonRun) -> None:
    result = cli("logs", "search")
    assert "No usage records match." in result.output
    assert cli_json("logs", "search") == []
    assert cli_json("logs", "search", "--since", "1h", "--errors", "--model", "chat") == []


def test_logs_search_filters(cli: Invoke, cli_json: JsonRun, sync_db: Engine) -> None:
    _usage(sync_db, "req-old", ago_ms=3 * 3_600_000)
    _usage(sync_db, "req-ok")
    _usage(sync_db, "req-fail", status=504, error_code="upstream_timeout", model="slow")
    assert [r["request_id"] for r in cli_json("logs", "search")] == ["req-fail", "req-ok", "req-old"]
    assert [r["request_id"] for r in cli_json("logs", "search", "--since", "1h")] == ["req-fail", "req-ok"]
    assert [r["request_id"] for r in cli_json("logs", "search", "--errors")] == ["req-fail"]
    assert [r["request_id"] for r in cli_json("logs", "search", "--code", "upstream_timeout")] == ["req-fail"]
    assert [r["request_id"] for r in cli_json("logs", "search", "--status", "200", "--limit", "1")] == ["req-ok"]
    assert [r["request_id"] for r in cli_json("logs", "search", "--key", "key_aaaaaaaaaaaa",
                                              "--model", "slow")] == ["req-fail"]
    row = cli_json("logs", "search", "--request-id", "req-fail")[0]
    assert (row["status"], row["error_code"], row["total_tokens"], row["stream"]) == (
        504, "upstream_timeout", 42, False)
    assert "req-fail" in cli("logs", "search").output
    bad = cli("logs", "search", "--since", "yesterday", ok=False)
    assert (bad.exit_code, "is not a time" in bad.output) == (2, True)
    unknown_owner = cli("logs", "search", "--owner", "nobody", ok=False)
    assert (unknown_owner.exit_code, "No owner 'nobody'" in unknown_owner.output) == (2, True)


def test_logs_tail_prints_recent_then_new_rows(cli: Invoke, sync_db: Engine) -> None:
    for n in range(3):
        _usage(sync_db, f"req-{n}")
    recent = cli("logs", "tail", "--last", "2", "--count", "2", "--interval", "0.01")
    lines = recent.stdout.splitlines()
    assert len(lines) == 2
    assert "req-1" in lines[0] and "req-2" in lines[1]
    assert "Ctrl-C" in recent.stderr

    stop = threading.Event()

    def later() -> None:  # new rows keep coming until tail has shown one, however long it takes to start
        n = 0
        while not stop.wait(0.2):
            _usage(sync_db, f"req-new-{n}", status=502, error_code="upstream_error")
            n += 1

    writer = threading.Thread(target=later)
    writer.start()
    try:
        followed = cli("logs", "tail", "--count", "1", "--interval", "0.02", "--json")
    finally:
        stop.set()
        writer.join()
    assert '"request_id":"req-new-' in followed.stdout
    assert "req-2" not in followed.stdout  # only rows written after tail started


def test_config_export_apply_roundtrip(cli: Invoke, cli_json: JsonRun, tmp_path: Path) -> None:
    cli("groups", "add", "default")
    cli("models", "add", "chat", "--alias", "c")
    cli("channels", "add", "--name", "main", "--base-url", "https://up.example.com/v1",
        "--secret", "sk-upstream-secret-abcdef123456", "--models", "chat=up-chat", "--weight", "2")
    exported = cli("config", "export").stdout
    doc = yaml.safe_load(exported)
    assert doc["version"] == 1
    assert [c["name"] for c in doc["channels"]] == ["main"]
    assert "abcdef123456" not in exported

    path = tmp_path / "routing.yaml"
    assert "written" in cli("config", "export", "-o", str(path)).output
    assert path.read_text() == exported
    assert "Nothing to change." in cli("config", "apply", str(path)).output

    path.write_text(exported.replace("weight: 2", "weight: 9"))
    dry = cli("config", "apply", str(path), "--dry-run")
    assert "Dry run" in dry.output
    assert "update channel main: weight" in dry.output
    assert cli_json("channels", "show", "main")["weight"] == 2  # nothing changed
    applied = cli("config", "apply", str(path))
    assert "Applied:" in applied.output
    assert "update channel main: weight" in applied.output
    assert cli_json("channels", "show", "main")["weight"] == 9
    assert cli_json("channels", "show", "main")["secrets"] == ["sk-…3456"]  # kept without 'secrets'
    assert "Nothing to change." in cli("config", "apply", str(path)).output

    report = cli_json("config", "apply", str(path), "--prune", "--dry-run")
    assert report == {"applied": False, "dry_run": True, "changes": []}
    missing = cli("config", "apply", str(tmp_path / "nope.yaml"), ok=False)
    assert (missing.exit_code, "Cannot read" in missing.output) == (2, True)
    path.write_text("version: 2\n")
    wrong = cli("config", "apply", str(path), ok=False)
    assert (wrong.exit_code, "version: 1" in wrong.output) == (2, True)


def test_config_apply_from_stdin(cli: Invoke, cli_json: JsonRun) -> None:
    document = "version: 1\ngroups:\n- name: team-a\n  models: [chat]\n"
    applied = cli("config", "apply", "-", input=document)
    assert "create group team-a" in applied.output
    assert cli_json("groups", "list")[0]["models"] == ["chat"]
