"""Imported keys answer as One API / New API did: token groups, auto groups, channel pins, refusal statuses.

A New API database (SQLite, MariaDB, PostgreSQL) is imported into a running relaygate; the old keys
are sent through the official openai SDK and plain HTTP.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import openai
import pytest
from sqlalchemy import select

from relaygate.core.compat import REFUSALS, KeyRules, differences_markdown, source_status, status_table_markdown
from relaygate.services.migration.import_rules import set_statuses
from relaygate.services.migration.importer import run_import
from relaygate.store import tables as t
from tests.harness import running_gateway, start_fake
from tests.migration.conftest import Backend
from tests.migration.helpers import client, refused, source_and_plan

ASK = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 20}


async def http(base_url: str, key: str, model: str) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as s, s.post(f"{base_url}/chat/completions", json={"model": model, **ASK},
                                                    headers={"Authorization": f"Bearer {key}"}) as resp:
        return resp.status, (await resp.json())


async def test_newapi_groups_pins_and_statuses(backend: Backend, tmp_path: Path) -> None:
    fake = await start_fake()
    try:
        async with running_gateway(backend.dst_url, data_dir=str(tmp_path), unpriced_models="refuse") as gw:
            facts, plan = await source_and_plan(backend, "newapi", fake.base_url, int(time.time()))
            assert plan["policy"]["statuses"] == "source"
            report = await run_import(plan, gw.gateway.engine, gw.gateway.settings, ["openai"], apply=True)
            assert report["changes"]["key rules"]["create"] > 0
            await gw.gateway.state.reload()
            await gw.gateway.balance_sync.apply_credits()
            tok = {name: "sk-" + fact.key for name, fact in facts.tokens.items()}
            base = gw.base_url

            # a token group its user may not use, and one New API deprecated: 403 with New API's reason
            status, code, message = await refused(base, tok["na-svip"])
            assert (status, code) == (403, "group_not_allowed") and "'svip'" in message
            status, body = await http(base, tok["na-svip"], "gpt-4o-mini")
            assert status == 403 and body["error"]["code"] == "group_not_allowed"  # type: ignore[index]
            status, code, message = await refused(base, tok["na-legacy"])
            assert (status, code) == (403, "group_deprecated") and "'legacy'" in message

            # 'auto' tries AutoGroups (default, vip) in order: gpt-4o-vip is only served in vip
            raw = await client(base, tok["na-auto"]).chat.completions.with_raw_response.create(
                model="gpt-4o-vip", **ASK)  # type: ignore[call-overload]
            assert raw.http_response.status_code == 200
            assert (await gw.usage_for(raw.headers["x-request-id"]))["group_name"] == "vip"
            raw = await client(base, tok["na-auto"]).chat.completions.with_raw_response.create(
                model="gpt-4o-mini", **ASK)  # type: ignore[call-overload]
            assert (await gw.usage_for(raw.headers["x-request-id"]))["group_name"] == "default"
            status, body = await http(base, tok["na-auto"], "gpt-4o-vip")  # plain HTTP: the same auto group
            assert status == 200 and body["choices"]
            # a token whose own group is vip never reaches vip-only models through default (no auto)
            assert (await refused(base, tok["na-laptop"], "gpt-4o-vip"))[0] == 503

            # New API statuses: exhausted token 401, user out of quota 403 (with the real, negative figure),
            # disabled user 403, unknown model 503, unpriced model 400
            assert (await refused(base, tok["na-exhausted"]))[:2] == (401, "insufficient_balance")
            status, code, message = await refused(base, tok["na-broke"])
            assert (status, code) == (403, "insufficient_balance") and "-$2.00" in message
            assert (await refused(base, tok["na-banned"]))[:2] == (403, "key_disabled")
            assert (await refused(base, tok["na-expired"]))[:2] == (401, "key_expired")
            # gpt-5: only a stale abilities row (a deleted channel) named it; New API answered 503, and so do we
            assert (await refused(base, tok["na-laptop"], "gpt-5"))[:2] == (503, "model_not_found")
            assert (await refused(base, tok["na-auto"], "gpt-unpriced"))[:2] == (400, "model_price_missing")
            status, body = await http(base, tok["na-auto"], "gpt-unpriced")
            assert status == 400 and body["error"]["code"] == "model_price_missing"  # type: ignore[index]

            # an image model New API's channel listed is never forwarded on chat completions (it answered 200)
            for model in ("dall-e-3", "tts-1"):
                status, code, message = await refused(base, tok["na-laptop"], model)
                assert (status, code) == (400, "media_not_served") and "/v1/" in message, model

            # media models at New API's ModelPrice: per image × its dall-e size ratio, per call for speech
            oai = client(base, tok["na-laptop"])
            img = await oai.images.with_raw_response.generate(model="dall-e-3", prompt="x", size="256x256", n=1)
            assert (await gw.usage_for(img.headers["x-request-id"]))["cost"] == 16_000_000  # $0.04 × 0.4
            speech = await oai.audio.speech.with_raw_response.create(model="tts-1", input="hello", voice="alloy")
            assert (await gw.usage_for(speech.headers["x-request-id"]))["cost"] == 15_000_000  # $0.015 a call
            # tts-1-hd is priced by ratio (15): New API charged 15 quota a character of input, 5 × 15 × 2000 nanos
            speech = await oai.audio.speech.with_raw_response.create(model="tts-1-hd", input="hello", voice="alloy")
            assert (await gw.usage_for(speech.headers["x-request-id"]))["cost"] == 150_000
            speech = await oai.audio.speech.with_raw_response.create(model="tts-1-hd", input="你好", voice="alloy")
            assert (await gw.usage_for(speech.headers["x-request-id"]))["cost"] == 60_000  # characters, not bytes
            form = aiohttp.FormData({"model": "whisper-1"})
            form.add_field("file", b"RIFF0000WAVE", filename="a.wav", content_type="audio/wav")
            async with aiohttp.ClientSession() as s, s.post(  # whisper-1: New API had no price and refused it
                    f"{base}/audio/transcriptions", data=form,
                    headers={"Authorization": f"Bearer {tok['na-laptop']}"}) as resp:
                assert resp.status == 400 and (await resp.json())["error"]["code"] == "model_price_missing"
            # the token group rules hold on the media endpoints too (never svip's multiplier for a default user)
            try:
                await client(base, tok["na-svip"]).images.generate(model="dall-e-3", prompt="x", n=1)
                raise AssertionError("na-svip was served an image")
            except openai.APIStatusError as exc:
                assert (exc.status_code, exc.body["code"]) == (403, "group_not_allowed")  # type: ignore[index]

            # sk-<key>-<channel id>: refused for a common user, refused to a disabled channel, served for an admin
            assert (await refused(base, f"{tok['na-laptop']}-1"))[:2] == (403, "channel_pin_not_allowed")
            assert (await refused(base, f"{tok['na-admin']}-10"))[:2] == (403, "channel_pin_disabled")
            raw = await client(base, f"{tok['na-admin']}-9").chat.completions.with_raw_response.create(
                model="gpt-4o-vip", **ASK)  # type: ignore[call-overload]
            assert (await gw.usage_for(raw.headers["x-request-id"]))["channel_id"] == 9

            # after the rollout the operator switches to relaygate's own statuses; the codes stay
            assert await set_statuses(gw.gateway.engine, "relaygate") > 0
            await gw.gateway.state.reload()
            assert (await refused(base, tok["na-exhausted"]))[:2] == (402, "insufficient_balance")
            assert (await refused(base, tok["na-laptop"], "gpt-5"))[:2] == (404, "model_not_found")
            assert (await refused(base, tok["na-auto"], "gpt-unpriced"))[:2] == (403, "model_price_missing")
            assert (await refused(base, tok["na-svip"]))[:2] == (403, "group_not_allowed")  # a refusal either way
            async with gw.gateway.engine.connect() as conn:
                modes = {r.rules["statuses"] for r in await conn.execute(select(t.key_rules))}
            assert modes == {"relaygate"}
    finally:
        await fake.stop()


def test_status_table_is_the_one_the_code_uses() -> None:
    rules = KeyRules("oneapi")
    assert source_status("insufficient_balance", rules, "key") == 401
    assert source_status("insufficient_balance", rules, "owner") == 403
    assert source_status("key_disabled", KeyRules("oneapi", owner_disabled=True)) == 403
    assert source_status("key_disabled", rules) == 401
    assert source_status("model_price_missing", rules) == 403  # One API never refused it: relaygate's
    assert source_status("model_price_missing", KeyRules("newapi")) == 400
    assert source_status("upstream_error", rules) is None
    assert source_status("model_not_found", KeyRules("oneapi", statuses="relaygate")) is None
    doc = (Path(__file__).parents[2] / "docs" / "migration.md").read_text(encoding="utf-8")
    # each generated block is exactly the generator's output: nothing stale or hand-added between the markers
    for name, body in (("status-table", status_table_markdown()), ("differences", differences_markdown())):
        begin = doc.index(f"<!-- BEGIN {name} ")
        block = doc[doc.index("\n", begin) + 1:doc.index(f"<!-- END {name} -->")]
        assert block.strip() == body.strip(), f"docs/migration.md {name} is stale: run scripts/gen_docs.py"
    # the differences are those of the table the relay reads: every status that differs is listed
    differs = [(r.case, old) for r in REFUSALS for old in (r.oneapi, r.newapi) if old not in (None, r.relaygate)]
    assert differs and all(f"- {case} (" in doc and f": {old} under `source`" in doc for case, old in differs)
    assert all(f"`{r.code}`" in doc for r in REFUSALS)


@pytest.mark.parametrize("kind", ["oneapi", "newapi"])
async def test_redemption_codes_are_carried(backend: Backend, kind: str) -> None:
    from relaygate.core.keys import hash_secret
    from tests.migration.helpers import USD, import_plan

    _, plan = await source_and_plan(backend, kind)
    dry = await import_plan(backend, plan, apply=False)
    assert dry["changes"]["redemption codes"]["create"] == (3 if kind == "newapi" else 1)
    await import_plan(backend, plan)
    from relaygate.store.db import make_engine

    engine = make_engine(backend.dst_url)
    try:
        async with engine.connect() as conn:
            rows = {r.name: r for r in await conn.execute(select(t.redemption_codes))}
        if kind == "oneapi":  # One API's unused code: redeemable with the same code, for the same quota
            promo = rows["promo"]
            assert set(rows) == {"promo"} and promo.status == "unused" and promo.code_hash == hash_secret("f" * 32)
            assert promo.amount == USD.nanos(500_000) and "f" * 8 not in promo.masked
            assert (await import_plan(backend, plan))["changes"]["redemption codes"]["create"] == 0
            return
        assert set(rows) == {"welcome", "spent", "revoked"}  # the soft-deleted code is not carried
        welcome = rows["welcome"]
        assert welcome.status == "unused" and welcome.code_hash == hash_secret("a" * 32)  # same code redeems
        assert welcome.amount == USD.nanos(1_000_000) and welcome.expires_at is None
        assert "a" * 8 not in welcome.masked
        spent = rows["spent"]
        assert spent.status == "used" and spent.redeemed_by == "own_na_2" and spent.redeemed_at is not None
        assert rows["revoked"].status == "disabled" and rows["revoked"].expires_at is not None
        async with engine.begin() as conn:  # redeemed in relaygate later: a new import never resets it
            await conn.execute(t.redemption_codes.update().where(t.redemption_codes.c.name == "welcome")
                               .values(status="used", redeemed_by="own_na_2"))
        again = await import_plan(backend, plan)
        assert again["changes"]["redemption codes"]["create"] == 0
        async with engine.connect() as conn:
            status = (await conn.execute(select(t.redemption_codes.c.status).where(
                t.redemption_codes.c.name == "welcome"))).scalar_one()
        assert status == "used"
    finally:
        await engine.dispose()


async def test_statuses_chosen_in_the_plan_and_switched_on_the_command_line(
        backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`policy.statuses: relaygate` in the plan before the import gives imported keys relaygate's statuses
    from the start; `relaygate migrate statuses source` (the command an operator runs) switches them to the
    old system's, `relaygate` back. The codes and messages stay relaygate's either way."""
    from typer.testing import CliRunner

    from relaygate.cli import main as cli_main

    fake = await start_fake()
    try:
        async with running_gateway(backend.dst_url, data_dir=str(tmp_path), unpriced_models="refuse") as gw:
            facts, plan = await source_and_plan(backend, "newapi", fake.base_url, int(time.time()))
            plan["policy"]["statuses"] = "relaygate"
            await run_import(plan, gw.gateway.engine, gw.gateway.settings, ["openai"], apply=True)
            await gw.gateway.state.reload()
            await gw.gateway.balance_sync.apply_credits()
            tok = {name: "sk-" + fact.key for name, fact in facts.tokens.items()}
            relaygate = {"na-exhausted": (402, "insufficient_balance"), "na-broke": (402, "insufficient_balance"),
                         "na-banned": (401, "key_disabled")}
            source = {"na-exhausted": (401, "insufficient_balance"), "na-broke": (403, "insufficient_balance"),
                      "na-banned": (403, "key_disabled")}
            for name, want in relaygate.items():
                assert (await refused(gw.base_url, tok[name]))[:2] == want, name
            assert (await refused(gw.base_url, tok["na-laptop"], "gpt-5"))[:2] == (404, "model_not_found")
            monkeypatch.setenv("RELAYGATE_DATABASE_URL", backend.dst_url)
            monkeypatch.setenv("RELAYGATE_DATA_DIR", str(tmp_path))  # the gateway's secrets key
            monkeypatch.setenv("RELAYGATE_LANG", "en")
            cli_main._register()
            loop = asyncio.get_running_loop()
            for mode, table in (("source", source), ("relaygate", relaygate)):
                done = await loop.run_in_executor(None, lambda m=mode: CliRunner().invoke(  # type: ignore[misc]
                    cli_main.app, ["migrate", "statuses", m]))
                assert done.exit_code == 0, done.output
                assert f"now answer refusals with {mode} status codes" in done.output
                await gw.gateway.state.reload()
                for name, want in table.items():
                    assert (await refused(gw.base_url, tok[name]))[:2] == want, (mode, name)
            bad = await loop.run_in_executor(None, lambda: CliRunner().invoke(cli_main.app,
                                                                              ["migrate", "statuses", "old"]))
            assert bad.exit_code == 2
    finally:
        await fake.stop()
