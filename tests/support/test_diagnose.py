"""`support diagnose` on the CLI and the admin API, over records written by a real gateway (prompts stored on)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio
from typer.testing import CliRunner

from relaygate.cli import main as cli_main
from relaygate.core.keys import key_hash, mask_key
from tests.harness import Running, plan, running_gateway, start_fake
from tests.support.conftest import DOCS, PUBLIC, raw_request

pytestmark = pytest.mark.asyncio(loop_scope="module")

PROMPT = "the confidential prompt: quarterly numbers 4242"


@dataclass
class Scene:
    gw: Running
    db_file: Path
    secret: str
    key_id: str
    idle_secret: str
    idle_key_id: str
    rids: dict[str, str]

    def env(self, **extra: str) -> dict[str, str]:
        return {"RELAYGATE_DATABASE_URL": f"sqlite+aiosqlite:///{self.db_file}", "RELAYGATE_LANG": "en",
                "RELAYGATE_PUBLIC_BASE_URL": PUBLIC, "RELAYGATE_DOCS_URL": DOCS, "RELAYGATE_DEMO_UPSTREAM": "false",
                "COLUMNS": "200", **extra}

    def secrets(self) -> list[str]:
        """What must never appear in any output: full keys, their hashes, the stored prompt."""
        return [self.secret, self.idle_secret, key_hash(self.secret), PROMPT, "quarterly numbers"]


async def chat(gw: Running, headers: dict[str, str], model: str = "gpt-4o-mini", path: str = "/v1/chat/completions",
               ) -> str:
    body = orjson.dumps({"model": model, "messages": [{"role": "user", "content": PROMPT}]})
    reply = await raw_request(gw.port, "POST", path, headers, body)
    return reply.headers["x-request-id"]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def scene(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Scene]:
    tmp = tmp_path_factory.mktemp("diagnose")
    db_file = tmp / "relaygate.db"
    fake = await start_fake()
    async with running_gateway(f"sqlite+aiosqlite:///{db_file}", data_dir=str(tmp), public_base_url=PUBLIC,
                               docs_url=DOCS, store_prompts=True) as gw:
        gw.fakes.append(fake)
        await gw.add_channel(fake, "acct-main-7", {"gpt-4o-mini": "gpt-4o-mini", "gpt-4o": "gpt-4o"}, priority=5)
        await gw.add_channel(fake, "acct-backup-9", {"gpt-4o": "gpt-4o"})
        await plan(fake, "gpt-4o", {"kind": "status", "status": 502}, sticky=True)
        secret, key_id = await gw.add_key("erin", name="erin laptop")
        idle_secret, idle_key_id = await gw.add_key("frank", name="never used")
        auth = {"Authorization": f"Bearer {secret}"}
        rids = {
            "ok": await chat(gw, {**auth, "User-Agent": "OpenAI/Python 1.54.0"}),
            "old_model": await chat(gw, {**auth, "User-Agent": "CherryStudio/1.9.6"}, model="gpt-3.5-turbo"),
            "upstream": await chat(gw, auth, model="gpt-4o"),
            "v1_twice": await chat(gw, {**auth, "User-Agent": "CherryStudio/1.9.6"}, path="/v1/v1/chat/completions"),
            "old_host": await chat(gw, {"Authorization": "Bearer sk-" + "O" * 44 + "1234",
                                        "Host": "old.example.com", "User-Agent": "Chatbox/1.15.1"}),
        }
        for rid in rids.values():
            await gw.usage_for(rid)
        yield Scene(gw, db_file, secret, key_id, idle_secret, idle_key_id, rids)


async def run_cli(scene: Scene, *args: str, ok: bool = True, **env: str) -> str:
    """`relaygate …` in a thread (it runs its own event loop), on the gateway's database file."""
    cli_main._register()
    result = await asyncio.to_thread(CliRunner().invoke, cli_main.app, list(args), env=scene.env(**env))
    if ok:
        assert result.exit_code == 0, (args, result.output, result.exception)
    for secret in scene.secrets():
        assert secret not in result.output, f"{args} printed a secret or the prompt"
    return result.output


async def diagnose_json(scene: Scene, *args: str) -> dict[str, Any]:
    out = await run_cli(scene, "support", "diagnose", *args, "--json")
    data: dict[str, Any] = json.loads(out)
    return data


async def test_the_prompt_really_is_in_the_database(scene: Scene) -> None:
    """Precondition of the safety tests: the stored body holds the prompt, so leaking it would be possible."""
    with sqlite3.connect(scene.db_file) as db:
        bodies = [row[0] for row in db.execute("select body from usage_records where body is not null")]
    assert any(PROMPT in b for b in bodies)


async def test_successful_request(scene: Scene) -> None:
    data = await diagnose_json(scene, scene.rids["ok"])
    ev = data["evidence"]
    assert data["found"] == "request" and data["rule"] == "succeeded"
    assert ev["status"] == 200 and ev["error_code"] is None and ev["client"] == "openai-python"
    assert ev["key_id"] == scene.key_id and ev["masked_key"] == mask_key(scene.secret)
    assert ev["requested_model"] == "gpt-4o-mini" and ev["upstream_model"] == "gpt-4o-mini"
    assert ev["group_name"] == "default" and ev["owner"] == "erin" and ev["entry_path"] == "/v1/chat/completions"
    assert ev["host"] == "127.0.0.1" and ev["time"].endswith("Z")
    assert data["key"]["id"] == scene.key_id and "key_hash" not in data["key"]


async def test_old_model_name_with_the_plan(scene: Scene, tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text("old_base_url: https://old.example.com/v1\nmodel_mapping:\n"
                         "  - {old: gpt-3.5-turbo, new: gpt-4o-mini, class: replace, note: same family}\n"
                         "steps: [ignored, extra, fields]\n")
    data = await diagnose_json(scene, scene.rids["old_model"], "--plan", str(plan_file), "--reply", "en")
    assert data["evidence"]["error_code"] == "model_not_found" and data["rule"] == "old_model_name"
    assert "'gpt-4o-mini'" in data["cause"]
    assert "relaygate models add gpt-4o-mini --alias gpt-3.5-turbo" in data["action"]
    assert "Use the model name 'gpt-4o-mini' instead of 'gpt-3.5-turbo'." in data["reply"]
    assert "Cherry Studio 1.9.6" in data["reply"] and mask_key(scene.secret) in data["reply"]
    zh = await diagnose_json(scene, scene.rids["old_model"], "--plan", str(plan_file), "--reply", "zh-CN")
    assert "请把模型名 'gpt-3.5-turbo' 改为 'gpt-4o-mini'。" in zh["reply"]
    assert f"{DOCS}/errors/model_not_found" in zh["reply"]


async def test_upstream_failure_shows_attempts_but_the_reply_hides_routing(scene: Scene) -> None:
    data = await diagnose_json(scene, scene.rids["upstream"], "--reply", "en")
    ev = data["evidence"]
    assert ev["error_code"] == "upstream_error" and ev["status"] == 502
    assert [(a["channel"], a["status"]) for a in ev["attempts"]] == [("acct-main-7", 502), ("acct-backup-9", 502)]
    assert "acct-main-7" in data["cause"] and "acct-backup-9" in data["cause"]
    assert "acct-" not in data["reply"] and "gpt-4o" in data["reply"]  # names the model, not the routing


async def test_base_url_mistake_answers_for_the_callers_client(scene: Scene) -> None:
    data = await diagnose_json(scene, scene.rids["v1_twice"], "--reply", "zh-CN")
    assert data["evidence"]["mistake"] == "version_twice" and data["rule"] == "base_url:version_twice"
    assert "Cherry Studio: set API Host to https://ai.example.com." in data["action"]
    assert "Cherry Studio：请把 API 地址 设为 https://ai.example.com。" in data["reply"]


async def test_invalid_key_from_the_old_host(scene: Scene) -> None:
    data = await diagnose_json(scene, scene.rids["old_host"], "--old-host", "old.example.com", "--reply", "en")
    assert data["evidence"]["error_code"] == "invalid_api_key" and data["rule"] == "old_base_url"
    assert "still points at the old base URL" in data["cause"]
    assert "Chatbox: set API Host to https://ai.example.com." in data["reply"]
    plain = await diagnose_json(scene, scene.rids["old_host"])
    assert plain["rule"] == "invalid_api_key"  # without knowing the old host, the guide answers


async def test_by_key_id_and_masked_key(scene: Scene) -> None:
    by_id = await diagnose_json(scene, scene.key_id)
    by_masked = await diagnose_json(scene, mask_key(scene.secret))
    by_dots = await diagnose_json(scene, mask_key(scene.secret).replace("…", "..."))
    assert by_id["found"] == by_masked["found"] == by_dots["found"] == "key"
    assert by_id["evidence"]["request_id"] == by_masked["evidence"]["request_id"]
    assert by_id["evidence"]["error_code"] is not None  # the newest failure is in focus
    assert by_id["recent"]["total"] >= 4 and by_id["recent"]["errors"]["upstream_error"] == 1


async def test_a_pasted_full_key_is_never_echoed_and_is_called_leaked(scene: Scene) -> None:
    data = await diagnose_json(scene, scene.secret)
    assert data["query"] == mask_key(scene.secret) and data["found"] == "key"
    assert "leaked" in data["warnings"][0]
    out = await run_cli(scene, "support", "diagnose", "sk-" + "Z" * 48, ok=False)
    assert "sk-ZZZZ…ZZZZ" in out and "Nothing matches" in out


async def test_a_key_with_no_requests_points_at_the_old_base_url(scene: Scene) -> None:
    data = await diagnose_json(scene, scene.idle_key_id, "--reply", "en")
    assert data["rule"] == "no_requests_here" and data["evidence"] is None
    assert "We see no request from your key on the new entry yet." in data["reply"]


async def test_human_output_in_both_languages(scene: Scene) -> None:
    out = await run_cli(scene, "support", "diagnose", scene.rids["upstream"], "--reply", "en")
    for part in ("Diagnosis of", "Evidence (safe fields only)", "Upstream attempts", "Likely cause:",
                 "Next action:", "Reply draft (en)", "upstream_error"):
        assert part in out
    zh = await run_cli(scene, "support", "diagnose", scene.rids["v1_twice"], RELAYGATE_LANG="zh-CN")
    assert "证据（仅安全字段）" in zh and "可能原因" in zh and "Base URL 错误" in zh


async def test_admin_api_diagnose(scene: Scene) -> None:
    gw = scene.gw
    url = f"{gw.root}/api/support/diagnose/{scene.rids['old_model']}"
    async with aiohttp.ClientSession() as s:
        async with s.get(url) as resp:
            assert resp.status == 401
        headers = {"Authorization": f"Bearer {gw.admin_token}", "Accept-Language": "zh-CN"}
        async with s.get(url, params={"reply": "en"}, headers=headers) as resp:
            assert resp.status == 200
            text = await resp.text()
            data = json.loads(text)
        async with s.post(url, data="model_mapping: {gpt-3.5-turbo: gpt-4o-mini}\n", headers=headers) as resp:
            with_plan = await resp.json()
        async with s.get(f"{gw.root}/api/support/diagnose/req_nothing", headers=headers) as resp:
            missing = (resp.status, await resp.json())
    assert data["evidence"]["error_code"] == "model_not_found" and "Hello," in data["reply"]
    assert "模型" in data["cause"] or "model" in data["cause"]
    assert with_plan["rule"] == "old_model_name"
    assert missing[0] == 404 and "req_nothing" in missing[1]["error"]["message"]
    for secret in scene.secrets():
        assert secret not in text


async def test_relay_paths_under_api_v1_are_named(scene: Scene) -> None:
    reply = await raw_request(scene.gw.port, "POST", "/api/v1/chat/completions",
                              {"Authorization": f"Bearer {scene.secret}"}, b'{"model":"gpt-4o-mini"}')
    err = reply.json()["error"]
    assert reply.status == 404 and err["code"] == "base_url_mistake" and err["hint"]["mistake"] == "extra_prefix"
    assert "/api" in err["message"] and "https://ai.example.com/v1" in err["message"]
    rec = await scene.gw.usage_for(reply.headers["x-request-id"])
    assert rec["key_id"] == scene.key_id and rec["detail"]["mistake"] == "extra_prefix"
    other = await raw_request(scene.gw.port, "GET", "/api/v1/whatever")
    assert other.status == 404 and other.json() == {"detail": "Not Found"}


async def test_admin_api_stats_shows_clients(scene: Scene) -> None:
    gw = scene.gw
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{gw.root}/api/support/stats", params={"days": 1, "utc_offset": 8},
                         headers={"Authorization": f"Bearer {gw.admin_token}"}) as resp:
            assert resp.status == 200
            data = await resp.json()
    pairs = {(r["client"], r["code"]) for r in data["by_client"]}
    assert ("cherry-studio", "model_not_found") in pairs and ("chatbox", "invalid_api_key") in pairs
    assert ("cherry-studio", "base_url_mistake") in pairs
    assert {"owner_id", "owner", "code", "count"} <= set(data["by_owner"][0])
    assert any(item["title_en"].startswith("Cherry Studio: ") for item in data["faq_next"])
