"""Redemption codes: one redemption per code under real concurrency, a ledger entry each, imported codes."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from relaygate.core.clock import now_ms
from relaygate.core.keys import hash_secret
from relaygate.core.money import parse_amount
from relaygate.services.operate.codes import RedemptionCodes, mask_code
from relaygate.services.operate.statements import balance_check, build_statement
from relaygate.store import tables as t
from tests.harness import Running, running_gateway


async def _ledger(gw: Running) -> list[Any]:
    async with gw.gateway.engine.connect() as conn:
        return list((await conn.execute(select(t.ledger_entries).order_by(t.ledger_entries.c.id))).all())


async def _redeem(gw: Running, secret: str, code: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as s, s.post(f"{gw.root}/api/user/redeem", json={"code": code},
                                                    headers={"Authorization": f"Bearer {secret}"}) as resp:
        return resp.status, await resp.json()


async def test_a_code_redeems_once_into_the_owners_balance_and_statement(gw: Running) -> None:
    codes = RedemptionCodes(gw.gateway.engine, "USD")
    batch = await codes.create_batch("launch week", parse_amount("5"), 3, None, "tests")
    assert len(set(batch["codes"])) == 3
    secret, key_id = await gw.add_key("redeemer")
    status, doc = await _redeem(gw, secret, batch["codes"][0])
    assert status == 200 and doc["amount"] == "5" and doc["code"] == mask_code(batch["codes"][0])
    status, doc = await _redeem(gw, secret, batch["codes"][0])
    assert status == 409 and "already redeemed" in doc["error"]["message"] and "your account" in doc["error"]["message"]
    entries = [e for e in await _ledger(gw) if e.kind == "redeem"]
    assert len(entries) == 1 and entries[0].amount == parse_amount("5") and "launch week" in entries[0].reason
    owner_id = gw.gateway.state.snapshot.keys_by_id[key_id].owner_id
    await gw.gateway.balance_sync.apply_credits()
    state = await gw.gateway.counters.read(f"owner:{owner_id}")
    assert (state.cap or 0) - state.used == parse_amount("5")  # the running gateway can spend it
    statement = await build_statement(gw.gateway.engine, "redeemer", None, None, "USD")
    assert statement["reconciles"] and statement["closing_balance"] == parse_amount("5")
    assert any(m["kind"] == "redeem" for m in statement["movements"])
    assert all(r["ok"] for r in await balance_check(gw.gateway.engine))
    listed = {c["code"]: c["status"] for c in await codes.list_codes(batch=batch["batch"])}
    assert sorted(listed.values()) == ["unused", "unused", "used"]
    assert not any(code in str(listed) for code in batch["codes"])  # listings are masked


async def test_refusals_say_why_and_cost_nothing(gw: Running) -> None:
    codes = RedemptionCodes(gw.gateway.engine, "USD")
    secret, _ = await gw.add_key("someone")
    assert (await _redeem(gw, secret, "not-a-code-0000000000000"))[0] == 404
    short = await codes.create_batch("short-lived", parse_amount("1"), 1, now_ms() + 200, "tests")
    await asyncio.sleep(0.3)
    status, doc = await _redeem(gw, secret, short["codes"][0])
    assert status == 410 and "expired" in doc["error"]["message"]
    off = await codes.create_batch("withdrawn", parse_amount("1"), 1, None, "tests")
    code_id = (await codes.list_codes(batch=off["batch"]))[0]["id"]
    await codes.disable(code_id)
    assert (await _redeem(gw, secret, off["codes"][0]))[0] == 409
    async with aiohttp.ClientSession() as s, s.post(f"{gw.root}/api/user/redeem", json={"code": off["codes"][0]},
                                                    headers={"Authorization": "Bearer sk-wrong"}) as resp:
        assert resp.status == 401
    assert not [e for e in await _ledger(gw) if e.kind == "redeem"]


async def test_an_imported_one_api_code_redeems_with_the_same_code(gw: Running) -> None:
    code = "0f3c2b1a9d8e7f6a5b4c3d2e1f0a9b8c"  # as One API stored it
    now = now_ms()
    async with gw.gateway.engine.begin() as conn:
        await conn.execute(t.redemption_codes.insert().values(
            id="oneapi_17", code_hash=hash_secret(code), masked=mask_code(code), name="old promo",
            amount=parse_amount("2"), status="unused", expires_at=None, redeemed_at=None, redeemed_by=None,
            source="oneapi", ref="oneapi:17", created_at=now, updated_at=now))
    secret, _ = await gw.add_key("migrated user")
    status, doc = await _redeem(gw, secret, code)
    assert status == 200 and doc["amount"] == "2"


def _backends() -> list[Any]:
    from tests.harness import PG_URL

    return [pytest.param("sqlite", id="sqlite"),
            pytest.param(PG_URL, id="postgres", marks=pytest.mark.skipif(not PG_URL, reason="PostgreSQL: set "
                                                                         "RELAYGATE_TEST_POSTGRES_URL"))]


@pytest.mark.parametrize("where", _backends())
async def test_two_people_redeeming_one_code_at_once_exactly_one_wins(where: str, tmp_path: Any) -> None:
    from tests.dbreset import reset_database

    url = f"sqlite+aiosqlite:///{tmp_path}/r.db" if where == "sqlite" else where
    if where != "sqlite":
        await reset_database(url)
    async with running_gateway(url, data_dir=str(tmp_path)) as gw:
        codes = RedemptionCodes(gw.gateway.engine, "USD")
        batch = await codes.create_batch("race", parse_amount("7"), 1, None, "tests")
        secrets = [(await gw.add_key(f"racer {i}"))[0] for i in range(8)]
        results = await asyncio.gather(*(_redeem(gw, s, batch["codes"][0]) for s in secrets for _ in range(2)))
        statuses = sorted(status for status, _ in results)
        assert statuses.count(200) == 1 and set(statuses) == {200, 409}, statuses
        entries = [e for e in await _ledger(gw) if e.kind == "redeem"]
        assert len(entries) == 1 and entries[0].amount == parse_amount("7")
        assert all(r["ok"] for r in await balance_check(gw.gateway.engine))


async def test_a_code_with_several_uses_redeems_once_per_owner_until_used_up(gw: Running) -> None:
    codes = RedemptionCodes(gw.gateway.engine, "USD")
    batch = await codes.create_batch("team promo", parse_amount("4"), 1, None, "tests", uses=3)
    code = batch["codes"][0]
    secrets = {name: (await gw.add_key(name))[0] for name in ("ann", "ben", "cat", "dan")}
    assert (await _redeem(gw, secrets["ann"], code))[0] == 200
    status, body = await _redeem(gw, secrets["ann"], code)  # the same owner again: refused, nothing booked
    assert status == 409 and "already redeemed" in body["error"]["message"], body
    assert (await codes.list_codes(batch=batch["batch"]))[0]["uses"] == 1  # the refused try took no use
    assert (await _redeem(gw, secrets["ben"], code))[0] == 200
    assert (await _redeem(gw, secrets["cat"], code))[0] == 200
    status, body = await _redeem(gw, secrets["dan"], code)
    assert status == 409 and "3 times" in body["error"]["message"], body
    listed = (await codes.list_codes(batch=batch["batch"]))[0]
    assert listed["status"] == "used" and (listed["uses"], listed["max_uses"]) == (3, 3)
    entries = [e for e in await _ledger(gw) if e.kind == "redeem"]
    assert len(entries) == 3 and len({e.owner_id for e in entries}) == 3
    assert all(e.amount == parse_amount("4") for e in entries)
    assert all(r["ok"] for r in await balance_check(gw.gateway.engine))
    with pytest.raises(Exception, match="1 to"):
        await codes.create_batch("x", parse_amount("1"), 1, None, "tests", uses=0)


def _with_mariadb() -> list[Any]:
    from tests.harness import MYSQL_URL

    return [*_backends(), pytest.param(MYSQL_URL, id="mariadb", marks=pytest.mark.skipif(
        not MYSQL_URL, reason="MariaDB: set RELAYGATE_TEST_MYSQL_URL"))]


@pytest.mark.parametrize("where", _with_mariadb())  # MariaDB too: its UPDATE sees columns already assigned
async def test_many_owners_racing_for_a_three_use_code_exactly_three_win(where: str, tmp_path: Any) -> None:
    from tests.dbreset import reset_database

    url = f"sqlite+aiosqlite:///{tmp_path}/r.db" if where == "sqlite" else where
    if where != "sqlite":
        await reset_database(url)
    async with running_gateway(url, data_dir=str(tmp_path)) as gw:
        codes = RedemptionCodes(gw.gateway.engine, "USD")
        batch = await codes.create_batch("race", parse_amount("5"), 1, None, "tests", uses=3)
        secrets = [(await gw.add_key(f"racer {i}"))[0] for i in range(8)]
        results = await asyncio.gather(*(_redeem(gw, s, batch["codes"][0]) for s in secrets for _ in range(2)))
        statuses = sorted(status for status, _ in results)
        assert statuses.count(200) == 3 and set(statuses) == {200, 409}, statuses
        entries = [e for e in await _ledger(gw) if e.kind == "redeem"]
        assert len(entries) == 3 and len({e.owner_id for e in entries}) == 3
        assert (await codes.list_codes(batch=batch["batch"]))[0]["uses"] == 3
        assert all(r["ok"] for r in await balance_check(gw.gateway.engine))


async def test_operators_create_and_list_batches_over_the_api(gw: Running) -> None:
    auth = {"Authorization": f"Bearer {gw.admin_token}"}
    async with aiohttp.ClientSession(headers=auth) as s:
        async with s.post(f"{gw.root}/api/codes", json={"name": "api batch", "amount": "3", "count": 2}) as r:
            assert r.status == 201
            made = await r.json()
        assert len(made["codes"]) == 2
        async with s.get(f"{gw.root}/api/codes", params={"status": "unused"}) as r:
            assert {c["batch"] for c in await r.json()} == {made["batch"]}
        async with s.post(f"{gw.root}/api/codes", json={"name": "bad", "amount": "x"}) as r:
            assert r.status == 400
    async with aiohttp.ClientSession() as s, s.get(f"{gw.root}/api/codes") as r:
        assert r.status == 401
