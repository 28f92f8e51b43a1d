"""End to end: a One API database imported into a running relaygate; the old keys work through the openai SDK."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
from sqlalchemy import select

from relaygate.protocols.usage import estimate_tokens
from relaygate.services.migration.importer import run_import
from relaygate.services.operate.statements import balance_check, build_statement
from relaygate.store import tables as t
from tests.harness import running_gateway, start_fake
from tests.migration.conftest import Backend
from tests.migration.helpers import USD, client, refused, source_and_plan

ASK = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 20}


async def test_imported_keys_work_in_every_form(backend: Backend, tmp_path: Path) -> None:
    fake = await start_fake()
    try:
        async with running_gateway(backend.dst_url, data_dir=str(tmp_path),
                                   unpriced_models="refuse") as gw:
            root = fake.base_url.removesuffix("/v1")  # One API stores base URLs without /v1
            facts, plan = await source_and_plan(backend, "oneapi", root, int(time.time()))
            report = await run_import(plan, gw.gateway.engine, gw.gateway.settings, ["openai"], apply=True)
            assert not any("beyond" in w for w in report["warnings"])  # root's $1,000,000,000: exact, not capped
            await gw.gateway.state.reload()
            await gw.gateway.balance_sync.apply_credits()
            tok = {name: fact.key for name, fact in facts.tokens.items()}
            laptop = tok["laptop"]
            ids = []
            admin = tok["admin-script"]  # carol is an admin in One API: she may pin a channel
            for presented in ("sk-" + laptop, laptop, f"sk-{admin}-1", f"sk-{admin}-7"):
                raw = await client(gw.base_url, presented).chat.completions.with_raw_response.create(**ASK)  # type: ignore[call-overload]
                assert raw.http_response.status_code == 200
                ids.append(raw.headers.get("x-request-id"))
            stream = await client(gw.base_url, "sk-" + laptop).chat.completions.create(**ASK, stream=True)  # type: ignore[call-overload]
            assert [c async for c in stream]
            channels = [(await gw.usage_for(rid))["channel_id"] for rid in ids if rid]
            assert channels[2:] == [1, 7]  # sk-<key>-<id> still pins the channel it named in One API
            # One API refuses a pin from a non-admin (403) and a pin to a disabled channel (403)
            assert (await refused(gw.base_url, f"sk-{laptop}-1"))[:2] == (403, "channel_pin_not_allowed")
            assert (await refused(gw.base_url, f"sk-{admin}-4"))[:2] == (403, "channel_pin_disabled")
            assert (await refused(gw.base_url, f"sk-{admin}-98"))[:2] == (400, "channel_pin_unknown")
            ok = await client(gw.base_url, "sk-" + tok["ci-bot"]).chat.completions.create(**ASK)  # type: ignore[call-overload]
            assert ok.choices
            assert (await refused(gw.base_url, "sk-" + tok["ci-bot"], "gpt-4o"))[:2] == (403, "model_not_allowed")
            assert (await client(gw.base_url, tok["office"]).chat.completions.create(**ASK)).choices  # type: ignore[call-overload]
            assert (await refused(gw.base_url, "sk-" + tok["branch"]))[:2] == (403, "network_not_allowed")
            # refusals carry One API's status codes (policy.statuses: source) and relaygate's code and message
            assert (await refused(gw.base_url, "sk-" + tok["old-laptop"]))[:2] == (401, "key_disabled")
            assert (await refused(gw.base_url, "sk-" + tok["expired-but-status-1"]))[:2] == (401, "key_expired")
            assert (await refused(gw.base_url, "sk-" + tok["expired-status-3"]))[:2] == (401, "key_expired")
            status, code, message = await refused(gw.base_url, "sk-" + tok["exhausted-but-status-1"])
            assert (status, code) == (401, "insufficient_balance") and "spend cap" in message
            status, code, message = await refused(gw.base_url, "sk-" + tok["vip-token"])  # bob owes money
            assert (status, code) == (403, "insufficient_balance") and "owner" in message
            assert "-$0.50" in message and "$0.00 available" not in message  # the real (negative) figure
            assert (await refused(gw.base_url, "sk-" + tok["banned-user"]))[:2] == (403, "key_disabled")
            assert (await refused(gw.base_url, "sk-" + tok["ghost"]))[:2] == (401, "invalid_api_key")
            assert (await refused(gw.base_url, "sk-" + tok["laptop"], "claude-3-haiku-20240307"))[0] == 503
            assert (await refused(gw.base_url, "sk-" + tok["laptop"], "gpt-5"))[:2] == (503, "model_not_found")
            # an image model is never forwarded on chat completions (One API's channel listed it)
            status, code, message = await refused(gw.base_url, "sk-" + tok["laptop"], "dall-e-3")
            assert (status, code) == (400, "media_not_served") and "/v1/images/generations" in message
            # image and speech models on their own endpoints, at One API's per-unit charge carried by the import:
            # dall-e-3 ratio 20 × 1000 quota × 2 (1792x1024) × 1.5 (hd) = 60,000 quota = $0.12 an image
            img = await client(gw.base_url, "sk-" + laptop).images.with_raw_response.generate(
                model="dall-e-3", prompt="a lighthouse", size="1792x1024", quality="hd", n=1)
            assert img.http_response.status_code == 200 and img.parse().data
            assert (await gw.usage_for(img.headers["x-request-id"]))["cost"] == USD.nanos(60_000)
            async with aiohttp.ClientSession() as http, http.post(  # tts-1: 7.5 quota per byte of input
                    f"{gw.base_url}/audio/speech", json={"model": "tts-1", "input": "hello", "voice": "alloy"},
                    headers={"Authorization": f"Bearer sk-{laptop}"}) as resp:
                assert resp.status == 200 and await resp.read()
                assert (await gw.usage_for(resp.headers["x-request-id"]))["cost"] == USD.nanos(5 * 7.5)
            # whisper-1: One API charged the transcript's tokens as quota (1 a token); imported per 1M output
            # tokens, it answers and is charged: whisper-1 reports no tokens, so they are estimated from the text
            heard = await client(gw.base_url, "sk-" + laptop).audio.transcriptions.with_raw_response.create(
                model="whisper-1", file=("a.wav", b"RIFF0000WAVE", "audio/wav"))
            text = heard.parse().text
            assert heard.http_response.status_code == 200 and "12 bytes of audio" in text
            row = await gw.usage_for(heard.headers["x-request-id"])
            assert (row["cost"], row["estimated"]) == (USD.nanos(estimate_tokens(text)), True)
            assert row["cost"] == USD.nanos(16) and row["detail"]["media"]["unit"] == "mtokens"
            await gw.gateway.usage.flush()
            engine = gw.gateway.engine
            assert all(r["ok"] for r in await balance_check(engine))
            for user in ("bob", "root", "dave"):  # untouched: exactly the converted source quota
                async with engine.connect() as conn:
                    owner = (await conn.execute(select(t.owners).where(t.owners.c.name == user))).one()
                    bal = (await conn.execute(select(t.balances).where(t.balances.c.owner_id == owner.id))).one()
                assert bal.balance == USD.nanos(facts.balances[user]), user  # root too: exact, never capped
            # root's $1,000,000,000 is one import entry of the full amount: no cap, no adjustment of any kind
            st = await build_statement(engine, "root", None, None, "USD")
            assert [(m["kind"], m["amount"]) for m in st["movements"]] == [("import", USD.nanos(500_000_000_000_000))]
            assert st["closing_balance"] == USD.nanos(500_000_000_000_000) and st["reconciles"]
            st = await build_statement(engine, "alice", None, None, "USD")
            imported = [m for m in st["movements"] if m["kind"] == "import"]
            assert [m["amount"] for m in imported] == [USD.nanos(12_345_678)] and "users.id=2" in imported[0]["ref"]
            assert st["usage_total"] < 0 and st["reconciles"]
            assert st["closing_balance"] == USD.nanos(12_345_678) + st["usage_total"]
            async with aiohttp.ClientSession() as http:  # carol's One API access token is an admin token now
                async with http.get(f"{gw.root}/api/status",
                                    headers={"Authorization": f"Bearer {facts.admin_tokens['carol']}"}) as resp:
                    assert resp.status == 200
    finally:
        await fake.stop()
