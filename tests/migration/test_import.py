"""Import on three databases: a dry run writes nothing, apply is exact, a second run changes nothing."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import create_async_engine

from relaygate.core.keys import hash_secret, key_hash
from relaygate.services.operate.routing import RoutingAdmin
from relaygate.store import tables as t
from relaygate.store.db import make_engine
from relaygate.store.ledger_repo import check_balances
from tests.migration.conftest import Backend
from tests.migration.helpers import USD, counts, import_plan, source_and_plan

ACCOUNTS = ("owners", "balances", "keys", "admin tokens", "channels", "groups", "prices", "media prices")


async def rows(backend: Backend, table: Any) -> list[Any]:
    engine = make_engine(backend.dst_url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(select(table))).all())
    finally:
        await engine.dispose()


@pytest.mark.parametrize("kind", ["oneapi", "newapi"])
async def test_import_is_exact_and_idempotent(backend: Backend, kind: str) -> None:
    now = int(time.time())
    facts, plan = await source_and_plan(backend, kind, "http://upstream.test", now)
    dry = await import_plan(backend, plan, apply=False)
    assert dry["dry_run"] and counts(dry, "keys")[0] == sum(1 for f in facts.tokens.values() if f.state not in (
        "deleted", "owner_deleted"))
    assert await rows(backend, t.api_keys) == [] and await rows(backend, t.ledger_entries) == []

    first = await import_plan(backend, plan)
    assert [s["step"] for s in first["steps"]] == ["read source", "groups", "channels", "models and prices",
                                                   "media prices", "owners", "balances", "keys", "key rules",
                                                   "redemption codes", "admin tokens", "tasks in flight"]
    # the stale abilities row (gpt-5 on a deleted channel) is reported as dropped; unused codes carried;
    # image and speech models get their per-unit prices (dall-e-3 by size and quality, tts-1)
    assert any("stale abilities row(s) dropped" in w and "gpt-5" in w for w in first["warnings"])
    assert counts(first, "redemption codes")[0] == (1 if kind == "oneapi" else 3)
    media = {(r.model, r.variant): r.amount for r in await rows(backend, t.media_prices)}
    assert media[("dall-e-3", "*")] == USD.nanos(20_000) and media[("dall-e-3", "1792x1024/hd")] == USD.nanos(60_000)
    assert len(media) == (8 if kind == "oneapi" else 11) and ("tts-1", "*") in media
    if kind == "newapi":  # tts-1-hd priced by ratio 15: New API charged 15 quota per input character
        assert media[("tts-1-hd", "*")] == USD.nanos(15_000_000)
    if kind == "oneapi":  # the transcript's tokens as quota, 1 a token: 1M quota per 1M output tokens
        assert media[("whisper-1", "*")] == USD.nanos(1_000_000)
    else:  # ratio 1.25 on the transcript's tokens; whisper-1 had no price in New API and stays refused
        assert media[("gpt-4o-transcribe", "*")] == USD.nanos(1_250_000) and ("whisper-1", "*") not in media
    keys = {r.name: r for r in await rows(backend, t.api_keys)}
    for name, fact in facts.tokens.items():
        if fact.state in ("deleted", "owner_deleted"):
            assert name not in keys
            continue
        row = keys[name]
        assert row.key_hash == key_hash("sk-" + fact.key) == hash_secret(fact.key) and row.source == kind
        assert row.enabled == (fact.state not in ("disabled", "owner_disabled")), name
        if fact.state == "expired" and row.enabled:
            assert row.expires_at is not None and row.expires_at < now * 1000
        if fact.state == "exhausted":
            assert row.cap_total == 0
        if fact.models is not None:
            assert row.allowed_models == (sorted(fact.models) if fact.models else ["(none)"])
        if fact.networks is not None:
            assert row.allowed_networks == fact.networks
    owners = {r.id: r for r in await rows(backend, t.owners)}
    entries = await rows(backend, t.ledger_entries)
    tag = plan["source"]["tag"]
    for username, quota in facts.balances.items():
        oid = next(o.id for o in owners.values() if o.name.split(" (")[0] == username and o.id.startswith("own_"))
        mine = [e for e in entries if e.owner_id == oid]
        assert [(e.kind, e.amount) for e in mine] == [("import", USD.nanos(quota))], username  # exact, never capped
        assert mine[0].request_id.startswith(f"imp:{tag}:u") and "users.id=" in mine[0].ref
    assert all(o.name != name for o in owners.values() for name in facts.skipped_users)
    admin = {r.token_hash for r in await rows(backend, t.admin_tokens)}
    assert {hash_secret(tok) for tok in facts.admin_tokens.values()} <= admin  # CHAR(32) padding stripped
    channels = {r.id: r for r in await rows(backend, t.channels)}
    assert channels[1].base_url == "http://upstream.test/v1" and channels[1].enabled  # ids kept
    assert channels[1].options["import"]["ref"] == f"{tag}:channels.id=1"
    if kind == "newapi":
        assert channels[1].secrets == ["sk-na-openai-1", "sk-na-openai-3"]  # key 2 was disabled in New API
        assert keys["na-auto"].group_name == "default" and keys["na-vip-override"].group_name == "vip"
    else:
        assert channels[7].weight == 1 and keys["vip-token"].group_name == "vip"
        assert keys["branch"].allowed_networks == ["192.168.0.0/16"]
    engine = make_engine(backend.dst_url)
    async with engine.connect() as conn:
        assert all(r["ok"] for r in await check_balances(conn))
    await engine.dispose()

    second = await import_plan(backend, plan)
    for kind_name in ACCOUNTS:
        create, changed, same, _ = counts(second, kind_name)
        assert (create, changed) == (0, 0) and same > 0, (kind_name, second["changes"][kind_name])
    assert len(await rows(backend, t.ledger_entries)) == len(entries)

    # the source keeps running a while: a new balance and a disabled token reach relaygate on the next run
    user, token = ("alice", "laptop") if kind == "oneapi" else ("erin", "na-laptop")
    src = create_async_engine(backend.src_url)
    async with src.begin() as conn:
        await conn.execute(text("UPDATE users SET quota = 1000000 WHERE username = :u"), {"u": user})
        await conn.execute(text("UPDATE tokens SET status = 2 WHERE name = :n"), {"n": token})
    await src.dispose()
    third = await import_plan(backend, plan)
    assert counts(third, "balances")[1] == 1 and counts(third, "keys")[1] == 1
    keys = {r.name: r for r in await rows(backend, t.api_keys)}
    assert not keys[token].enabled and "status=2" in keys[token].disabled_reason
    mine = f"imp:{tag}:u2"  # user 2 is alice / erin
    entries = [e for e in await rows(backend, t.ledger_entries)
               if e.request_id == mine or (e.request_id or "").startswith(mine + ":")]
    assert sum(e.amount for e in entries) == USD.nanos(1_000_000) and entries[-1].request_id.endswith(":1")


async def test_channel_ids_leave_room_for_new_channels(backend: Backend) -> None:
    """Channels keep their source ids (so sk-…-<id> pins the same upstream); new ones still get fresh ids."""
    _, plan = await source_and_plan(backend, "oneapi", "http://upstream.test")
    await import_plan(backend, plan)
    engine = make_engine(backend.dst_url)
    try:
        view = await RoutingAdmin(engine, ["openai"]).create_channel(
            name="added later", base_url="https://api.example.com/v1", secrets=["k"], models=["m"])
        assert view["id"] > 12
        async with engine.begin() as conn:
            await conn.execute(update(t.channels).where(t.channels.c.id == 1).values(priority=99))
            assert (await conn.execute(select(func.count()).select_from(t.channels))).scalar() == 13
    finally:
        await engine.dispose()
    again = await import_plan(backend, plan)
    assert counts(again, "channels")[1] == 1  # the hand edit is reported and put back to the plan's value
