"""Verification through a running relaygate: probes per model, results in the plan, nothing left behind."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from relaygate.cli import main as cli_main
from relaygate.services.migration.importer import run_import
from relaygate.services.migration.plan import load_plan, save_plan
from relaygate.services.migration.verify import verify
from tests.harness import plan as script
from tests.harness import running_gateway, start_fake
from tests.migration.conftest import Backend, make_backend
from tests.migration.helpers import source_and_plan


async def test_verify_writes_results_into_the_plan(tmp_path: Path) -> None:
    backend = await make_backend("sqlite", tmp_path)
    fake = await start_fake()
    try:
        async with running_gateway(backend.dst_url, data_dir=str(tmp_path), unpriced_models="refuse") as gw:
            facts, plan = await source_and_plan(backend, "oneapi", fake.base_url.removesuffix("/v1"),
                                                int(time.time()))
            models = {m["old_name"]: m for m in plan["models"]}
            models["gpt-4"]["replacement"] = "gpt-4o"  # the operator's answer to an unsupported model
            await run_import(plan, gw.gateway.engine, gw.gateway.settings, ["openai"], apply=True)
            await gw.gateway.state.reload()
            owners_before = {o["name"] for o in await gw.gateway.accounts.list_owners()}
            keys_before = len(await gw.gateway.accounts.list_keys())
            await script(fake, "gpt-4o", {"kind": "status", "status": 500}, sticky=True)
            wanted = ["gpt-4o-mini", "text-embedding-3-small", "gpt-4o", "gpt-4", "dall-e-3", "claude-3-haiku-20240307"]
            result = await verify(plan, gw.base_url, facts.admin_tokens["carol"], wanted)
            assert {o["name"] for o in await gw.gateway.accounts.list_owners()} == owners_before
            assert len(await gw.gateway.accounts.list_keys()) == keys_before
            assert "rg-verify" not in str(await gw.gateway.accounts.list_groups())
    finally:
        await fake.stop()
    outcome = {r["model"]: r for r in result["models"]}
    mini = outcome["gpt-4o-mini"]["probes"]
    assert {p: mini[p]["outcome"] for p in mini} == {"normal": "pass", "stream": "pass", "insufficient_balance": "pass",
                                                    "rate_limit": "pass", "unavailable": "pass"}
    assert mini["insufficient_balance"]["status"] == 402 and mini["rate_limit"]["status"] == 429
    emb = outcome["text-embedding-3-small"]["probes"]
    assert emb["normal"]["outcome"] == "pass" and emb["stream"]["outcome"] == "n/a"
    assert outcome["gpt-4o"]["result"] == "fail" and "normal" in outcome["gpt-4o"]["why"]
    assert outcome["gpt-4"]["probes"]["unavailable"] == {"outcome": "pass", "status": 404,
                                                         "detail": "404 model_unsupported"}
    # an image model is probed on its own endpoint and charged the plan's per-image price; never on chat
    dalle = outcome["dall-e-3"]["probes"]
    assert dalle["normal"]["outcome"] == "pass" and "charged 40000000 nanos" in dalle["normal"]["detail"]
    assert dalle["insufficient_balance"]["status"] == 402 and dalle["unavailable"]["status"] == 400
    assert outcome["claude-3-haiku-20240307"]["result"] == "pass"  # refused clearly: 503, channel disabled
    assert result["summary_text"] == "5 passed, 1 failed, 0 skipped"
    assert models["gpt-4o-mini"]["verification"]["result"] == "pass"
    assert models["gpt-4o"]["verification"]["result"] == "fail" and models["gpt-4o"]["verification"]["why"]
    assert models["gpt-3.5-turbo"]["verification"] == {"result": "not run"}
    assert plan["verification"]["failed"][0]["model"] == "gpt-4o"


async def test_verify_on_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = await make_backend("sqlite", tmp_path)
    monkeypatch.setenv("RELAYGATE_LANG", "en")
    fake = await start_fake()
    try:
        async with running_gateway(backend.dst_url, data_dir=str(tmp_path), unpriced_models="refuse") as gw:
            facts, plan = await source_and_plan(backend, "oneapi", fake.base_url.removesuffix("/v1"))
            await run_import(plan, gw.gateway.engine, gw.gateway.settings, ["openai"], apply=True)
            await gw.gateway.state.reload()
            path = tmp_path / "plan.yaml"
            save_plan(plan, path)
            cli_main._register()
            args = ["migrate", "verify", "--plan", str(path), "--gateway", gw.root, "--admin-token",
                    facts.admin_tokens["root"], "--models", "gpt-4o-mini,gpt-3.5-turbo", "--json"]
            result = await asyncio.get_running_loop().run_in_executor(
                None, lambda: CliRunner().invoke(cli_main.app, args))
    finally:
        await fake.stop()
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary_text"] == "2 passed, 0 failed, 0 skipped"
    assert "Results written into" in result.stderr
    saved = load_plan(path)
    assert saved["verification"]["passed"] == ["gpt-3.5-turbo", "gpt-4o-mini"]
    assert {m["old_name"]: m["verification"]["result"] for m in saved["models"]}["gpt-4o-mini"] == "pass"


@pytest.mark.parametrize("kind", ["oneapi", "newapi"])
async def test_a_consistent_source_verifies_clean(backend: Backend, tmp_path: Path, kind: str) -> None:
    """Every model of a One API or New API source (SQLite, PostgreSQL, MariaDB) whose channels all answer:
    refusals the source made too (disabled channels, image models on chat, New API's unpriced models) pass
    with their reason; nothing fails, and the plan's summary says so."""
    fake = await start_fake()
    try:
        async with running_gateway(backend.dst_url, data_dir=str(tmp_path), unpriced_models="refuse") as gw:
            facts, plan = await source_and_plan(backend, kind, fake.base_url.removesuffix("/v1")
                                                if kind == "oneapi" else fake.base_url, int(time.time()))
            for ch in plan["channels"]:  # every upstream the source used answers (the fake stands in for them)
                if ch.get("protocol") == "openai":
                    ch["base_url"] = fake.base_url
            # a transcription model comes priced per 1M output tokens (One API: the transcript's tokens as
            # quota; New API: tokens at its ratio), with no open question left
            models = {m["old_name"]: m for m in plan["models"]}
            transcribe = models["whisper-1" if kind == "oneapi" else "gpt-4o-transcribe"]
            assert transcribe["media_price"]["unit"] == "mtokens"
            await run_import(plan, gw.gateway.engine, gw.gateway.settings, ["openai"], apply=True)
            await gw.gateway.state.reload()
            admin = facts.admin_tokens["carol" if kind == "oneapi" else "grace"]
            result = await verify(plan, gw.base_url, admin)
    finally:
        await fake.stop()
    outcome = {r["model"]: r for r in result["models"]}
    assert result["failed"] == 0, [(r["model"], r["why"]) for r in result["models"] if r["result"] == "fail"]
    assert plan["verification"]["result"] == "pass" and plan["verification"]["failed"] == []
    assert plan["verification"]["summary"] == result["summary_text"] == (
        f"{result['passed']} passed, 0 failed, {result['skipped']} skipped")
    assert result["passed"] >= 8
    # an image model is refused on chat completions, never forwarded and counted as a 200
    dalle = outcome["dall-e-3"]["probes"]
    assert dalle["unavailable"]["outcome"] == "pass" and dalle["unavailable"]["status"] == 400  # media_not_served
    assert dalle["normal"]["outcome"] == "pass" and "charged" in dalle["normal"]["detail"]  # on /v1/images
    heard = outcome["whisper-1" if kind == "oneapi" else "gpt-4o-transcribe"]["probes"]  # priced per token
    assert heard["normal"]["outcome"] == "pass" and heard["insufficient_balance"]["status"] == 402
    if kind == "oneapi":
        gemini = outcome["gemini-1.5-pro"]["probes"]  # its only channel is auto-disabled in One API
        assert gemini["unavailable"]["outcome"] == "pass" and gemini["unavailable"]["status"] == 503
    else:
        unpriced = outcome["gpt-unpriced"]["probes"]["normal"]  # New API refused it: a pass with the reason
        assert (unpriced["outcome"], unpriced["status"]) == ("pass", 403) and "refused as expected" in unpriced[
            "detail"]
        hd = outcome["tts-1-hd"]["probes"]["normal"]  # priced by ratio: "ping" × 15 quota a character
        assert hd["outcome"] == "pass" and f"charged {4 * 15 * 2000} nanos" in hd["detail"]
        whisper = outcome["whisper-1"]["probes"]["normal"]  # no price, no ratio: New API refused it on its endpoint
        assert (whisper["outcome"], whisper["status"]) == ("pass", 403)
        # unsupported here (no gemini adapter in this run) and unpriced: the price check answers first, a pass
        pro = outcome["gemini-2.5-pro"]["probes"]["unavailable"]
        assert (pro["outcome"], pro["status"]) == ("pass", 403) and "model_price_missing" in pro["detail"]
        broken = outcome["internal-chat"]["probes"]["normal"]  # New API failed every request on that channel
        assert (broken["outcome"], broken["status"]) == ("pass", 503)
