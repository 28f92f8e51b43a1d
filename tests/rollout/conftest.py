"""A small One API installation (database, logs, a fake old gateway billing on it), imported into a running
relaygate whose native channel is a fake upstream: the world every rollout test starts from."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from sqlalchemy import select

from relaygate.fakeupstream import FakeUpstream
from relaygate.services.migration.importer import run_import
from relaygate.services.migration.plan import build_plan
from relaygate.services.migration.source import Source
from relaygate.store import tables as t
from tests.harness import Running, running_gateway, start_fake
from tests.migration.fixtures import load_tables, make_key
from tests.migration.helpers import USD
from tests.migration.schemas import oneapi_logs_metadata, oneapi_metadata
from tests.rollout.oldgw import OldGateway

USERS = {"root": (1, 100, 0), "alice": (2, 1, 1_000_000), "bob": (3, 1, 600_000), "carol": (4, 1, 800_000),
         "dave": (5, 1, 500_000)}


def one_api_rows(native_root: str, extra: dict[str, tuple[int, int, int]] | None = None
                 ) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    now = int(time.time())
    users, tokens, keys = [], [], {}
    for name, (uid, role, quota) in {**USERS, **(extra or {})}.items():
        users.append({"id": uid, "username": name, "password": "$2a$10$x", "display_name": name, "role": role,
                      "status": 1, "quota": quota, "used_quota": 0, "request_count": 0, "group": "default",
                      "aff_code": f"A{uid}"})
        key = make_key(7000 + uid)
        keys[name] = "sk-" + key
        tokens.append({"id": uid, "user_id": uid, "key": key, "status": 1, "name": f"{name}-token",
                       "created_time": now - 86400, "accessed_time": now, "expired_time": -1, "remain_quota": 0,
                       "unlimited_quota": True, "used_quota": 0, "models": "", "subnet": ""})
    channels = [{"id": 1, "type": 1, "key": "sk-upstream-0001", "status": 1, "name": "openai", "weight": 0,
                 "created_time": now, "base_url": native_root, "models": "m", "group": "default",
                 "model_mapping": "", "priority": 0, "config": ""}]
    options = [{"key": "QuotaPerUnit", "value": "500000"}, {"key": "ModelRatio", "value": json.dumps({"m": 1})},
               {"key": "CompletionRatio", "value": json.dumps({"m": 1})}]
    return {"users": users, "tokens": tokens, "channels": channels, "options": options}, keys


@dataclass
class World:
    gw: Running
    native: FakeUpstream
    old: OldGateway
    src: Path
    logs: Path
    keys: dict[str, str]
    http: aiohttp.ClientSession
    calls: list[dict[str, Any]] = field(default_factory=list)

    users: dict[str, tuple[int, int, int]] = field(default_factory=lambda: dict(USERS))

    def owner(self, name: str) -> str:
        return f"own_oa_{self.users[name][0]}"

    async def api(self, method: str, path: str, body: Any = None, expect: int | None = 200) -> Any:
        async with self.http.request(method, self.gw.root + path, json=body,
                                     headers={"Authorization": f"Bearer {self.gw.admin_token}"}) as resp:
            data = await resp.json(content_type=None) if resp.content_type != "text/markdown" else await resp.text()
            if expect is not None:
                assert resp.status == expect, (resp.status, data)
            return data

    async def call(self, user: str, stream: bool = False) -> dict[str, Any]:
        """One client call with a unique marker; every call is answered (status kept) and remembered."""
        marker = f"call-{len(self.calls) + 1:04d}-{user}"
        client = openai.AsyncOpenAI(base_url=self.gw.base_url, api_key=self.keys[user], max_retries=0)
        entry: dict[str, Any] = {"marker": marker, "user": user, "stream": stream}
        try:
            raw = await client.chat.completions.with_raw_response.create(
                model="m", messages=[{"role": "user", "content": marker}], stream=stream)
            entry["request_id"] = raw.headers.get("x-request-id")
            parsed = raw.parse()
            text = ("".join([c.choices[0].delta.content or "" async for c in parsed if c.choices]) if stream
                    else parsed.choices[0].message.content)
            assert text and marker in text
            entry["status"] = 200
        except openai.APIStatusError as exc:
            entry["status"] = exc.status_code
            entry["request_id"] = exc.response.headers.get("x-request-id")
        self.calls.append(entry)
        return entry

    async def old_quota(self, name: str) -> int:
        from sqlalchemy import text

        async with self.old.db.connect() as conn:
            return int((await conn.execute(text("SELECT quota FROM users WHERE id = :i"),
                                           {"i": self.users[name][0]})).scalar_one())

    async def ledger(self, owner: str) -> list[Any]:
        async with self.gw.gateway.engine.connect() as conn:
            return list((await conn.execute(select(t.ledger_entries).where(t.ledger_entries.c.owner_id == owner)
                                            .order_by(t.ledger_entries.c.id))).all())

    async def balance(self, owner: str) -> int:
        async with self.gw.gateway.engine.connect() as conn:
            return int((await conn.execute(select(t.balances.c.balance).where(
                t.balances.c.owner_id == owner))).scalar_one())


async def build_world(tmp_path: Path, database_url: str | None = None,
                      extra_users: dict[str, tuple[int, int, int]] | None = None, **settings: Any
                      ) -> AsyncIterator[World]:
    native = await start_fake()
    src, logs = tmp_path / "one-api.db", tmp_path / "one-api-logs.db"
    rows, keys = one_api_rows(native.base_url.removesuffix("/v1"), extra_users)
    await load_tables(f"sqlite+aiosqlite:///{src}", oneapi_metadata(), rows)
    await load_tables(f"sqlite+aiosqlite:///{logs}", oneapi_logs_metadata(), {})
    old = OldGateway(f"sqlite+aiosqlite:///{src}", f"sqlite+aiosqlite:///{logs}")
    await old.start()
    source = await Source.open(str(src), str(logs))
    try:
        plan = await build_plan(source, USD, ["openai"])
    finally:
        await source.close()
    values = {"data_dir": str(tmp_path), "store_prompts": True, "config_poll_seconds": 0.1, **settings}
    async with running_gateway(database_url or f"sqlite+aiosqlite:///{tmp_path}/relaygate.db", **values) as gw:
        gw.fakes += [native, old]
        await run_import(plan, gw.gateway.engine, gw.gateway.settings, ["openai"], apply=True)
        await gw.gateway.state.reload()
        await gw.gateway.balance_sync.apply_credits()
        async with aiohttp.ClientSession() as http:
            world = World(gw, native, old, src, logs, keys, http, users={**USERS, **(extra_users or {})})
            yield world


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async for w in build_world(tmp_path):
        yield w
