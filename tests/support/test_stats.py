"""`relaygate stats`: days cut in the caller's offset, classes, codes per client and owner, FAQ entries; every DB."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from relaygate.cli import main as cli_main
from relaygate.core.clock import now_ms
from relaygate.services.support.stats import error_stats
from relaygate.store import tables as t
from relaygate.store.db import make_engine, upgrade

NOW = int(datetime(2026, 11, 22, 2, 0, tzinfo=UTC).timestamp() * 1000)  # 10:00 in UTC+8
HOUR = 3_600_000


def rec(n: int, hours_ago: float, code: str | None, client: str, owner: str | None = None,
        detail: dict[str, Any] | None = None) -> dict[str, Any]:
    """A usage record ``hours_ago`` before NOW (``ts`` is shifted later for tests that use the real clock)."""
    status = {None: 200, "invalid_api_key": 401, "base_url_mistake": 404, "upstream_timeout": 504,
              "model_not_found": 404}[code]
    return {"request_id": f"req_{client}_{code}_{n}_{hours_ago}", "ts": int(NOW - hours_ago * HOUR), "status": status,
            "error_code": code, "client": client, "owner_id": owner, "detail": detail, "attempts": 0}


ROWS = [
    *(rec(i, 40, "invalid_api_key", "cherry-studio") for i in range(3)),  # 11-20 10:00 UTC, 18:00 in UTC+8
    rec(0, 40, None, "cherry-studio"),
    *(rec(i, 20, "base_url_mistake", "cherry-studio", "own_a", {"mistake": "version_twice"}) for i in range(2)),
    rec(0, 20, "base_url_mistake", "openai-python", "own_a", {"mistake": "endpoint_twice"}),
    rec(0, 9, "upstream_timeout", "openai-python", "own_a"),  # 11-21 17:00 UTC: 11-21 in UTC, 11-22 in UTC+8
    rec(0, 1, "model_not_found", "claude-code", "own_b"),
    rec(0, 200, "model_not_found", "claude-code", "own_b"),  # outside a 3-day window
]


async def seed(url: str, now: int = NOW) -> None:
    engine = make_engine(url)
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            await conn.execute(t.owners.insert(), [
                {"id": "own_a", "name": "data team", "kind": "team", "created_at": NOW, "updated_at": NOW},
                {"id": "own_b", "name": "bo", "kind": "person", "created_at": NOW, "updated_at": NOW}])
            await conn.execute(t.usage_records.insert(), [{**r, "ts": r["ts"] - NOW + now} for r in ROWS])
    finally:
        await engine.dispose()


async def test_stats_on_every_database(backend_url: str) -> None:
    await seed(backend_url)
    engine = make_engine(backend_url)
    try:
        utc = await error_stats(engine, days=3, utc_offset_hours=0, now=NOW)
        china = await error_stats(engine, days=3, utc_offset_hours=8, now=NOW)
    finally:
        await engine.dispose()
    assert [d["day"] for d in utc["per_day"]] == ["2026-11-20", "2026-11-21", "2026-11-22"]
    assert [(d["requests"], d["errors"]) for d in utc["per_day"]] == [(4, 3), (4, 4), (1, 1)]
    assert [d["day"] for d in china["per_day"]] == ["2026-11-20", "2026-11-21", "2026-11-22"]
    assert [(d["requests"], d["errors"]) for d in china["per_day"]] == [(4, 3), (3, 3), (2, 2)]
    assert utc["per_day"][1]["by_class"] == {"base_url": 3, "upstream": 1}
    assert utc["requests"] == 9 and utc["errors"] == 8
    assert utc["by_code"][:2] == [{"code": "base_url_mistake", "class": "base_url", "count": 3},
                                  {"code": "invalid_api_key", "class": "auth", "count": 3}]  # ties by name
    assert utc["by_client"][0] == {"client": "cherry-studio", "code": "invalid_api_key", "count": 3}
    assert {"client": "cherry-studio", "code": "base_url_mistake", "count": 2} in utc["by_client"]
    owners = {(r["owner"], r["code"]): r["count"] for r in utc["by_owner"]}
    assert owners[("data team", "base_url_mistake")] == 3 and owners[("bo", "model_not_found")] == 1
    assert owners[(None, "invalid_api_key")] == 3
    assert utc["mistakes"] == [{"mistake": "version_twice", "count": 2}, {"mistake": "endpoint_twice", "count": 1}]
    first = utc["faq_next"][0]
    assert first["title_en"] == "Cherry Studio: 'The API key is not known to this gateway'"
    assert first["title_zh"] == "Cherry Studio：提示 API Key 在本网关中不存在" and first["count"] == 3


async def test_stats_cli_table_and_json(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    await seed(f"sqlite+aiosqlite:///{db}", now_ms())
    env = {"RELAYGATE_DATABASE_URL": f"sqlite+aiosqlite:///{db}", "RELAYGATE_LANG": "en", "COLUMNS": "200"}
    cli_main._register()
    days = "3"
    result = await asyncio.to_thread(CliRunner().invoke, cli_main.app, ["stats", "--days", days, "--json"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["errors"] == 8 and data["by_client"][0]["client"] == "cherry-studio"
    table = await asyncio.to_thread(CliRunner().invoke, cli_main.app, ["stats", "--days", days, "--top", "3"],
                                    env=env)
    assert table.exit_code == 0, table.output
    for part in ("Errors per day", "Most repeated error codes per client", "Most repeated error codes per owner",
                 "data team", "Base-URL mistakes by kind", "version_twice", "FAQ entries to write next",
                 "1. Cherry Studio: 'The API key is not known to this gateway'", "█"):
        assert part in table.output, part
    zh = await asyncio.to_thread(CliRunner().invoke, cli_main.app, ["stats", "--days", days],
                                 env={**env, "RELAYGATE_LANG": "zh-CN"})
    assert "每日错误" in zh.output and "接下来应写的常见问题" in zh.output and "密钥与鉴权" in zh.output
    empty_db = tmp_path / "empty.db"
    empty = await asyncio.to_thread(CliRunner().invoke, cli_main.app, ["stats"],
                                    env={**env, "RELAYGATE_DATABASE_URL": f"sqlite+aiosqlite:///{empty_db}"})
    assert "No errors in the last 7 days." in empty.output
