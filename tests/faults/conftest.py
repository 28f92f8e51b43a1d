"""The fault suite's rig: one gateway, two fake upstreams on real sockets (primary, backup), a priced model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from sqlalchemy import select

from relaygate.core.money import parse_amount
from relaygate.fakeupstream import FakeUpstream
from relaygate.services.gateway.health import ChannelState
from relaygate.store import tables as t
from tests.harness import Running, running_gateway, start_fake

MODEL = "paid"


@dataclass
class Rig:
    gw: Running
    primary: FakeUpstream
    backup: FakeUpstream
    primary_id: int
    backup_id: int
    secret: str
    owner_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}

    def health(self, channel_id: int) -> ChannelState:
        return self.gw.gateway.health.get(channel_id)

    async def ledger(self, request_id: str) -> list[Any]:
        await self.gw.gateway.usage.flush()
        async with self.gw.gateway.engine.connect() as conn:
            return list((await conn.execute(select(t.ledger_entries).where(
                t.ledger_entries.c.request_id == request_id).order_by(t.ledger_entries.c.id))).all())

    async def record(self, request_id: str) -> dict[str, Any]:
        return await self.gw.usage_for(request_id)

    async def post(self, body: dict[str, Any], path: str = "/chat/completions") -> tuple[int, bytes, str]:
        async with aiohttp.ClientSession() as s:
            async with s.post(self.gw.base_url + path, json=body, headers=self.headers) as resp:
                return resp.status, await resp.read(), resp.headers["x-request-id"]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    url = f"sqlite+aiosqlite:///{tmp_path}/relaygate.db"
    async with running_gateway(url, data_dir=str(tmp_path), cooldown_seconds=30) as gw:
        primary, backup = await start_fake(), await start_fake()
        gw.fakes += [primary, backup]
        pid = await gw.add_channel(primary, "primary", {MODEL: MODEL}, priority=10, first_byte_timeout=0.4)
        bid = await gw.add_channel(backup, "backup", {MODEL: MODEL}, priority=0, first_byte_timeout=0.4)
        await gw.gateway.pricing.set_price(MODEL, input_per_m="2", output_per_m="8")
        secret, key_id = await gw.add_key("payer")
        owner_id = gw.gateway.state.snapshot.keys_by_id[key_id].owner_id
        await gw.gateway.ledger.record("payer", "topup", parse_amount("10"), "test credit", "tests")
        await gw.gateway.balance_sync.apply_credits()
        yield Rig(gw, primary, backup, pid, bid, secret, owner_id)


def sse_events(raw: bytes) -> list[Any]:
    """The JSON payloads of an SSE body as a client parses them ([DONE] as the string)."""
    out: list[Any] = []
    for event in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        data = b"\n".join(line[5:].lstrip() for line in event.split(b"\n") if line.startswith(b"data:"))
        if data:
            out.append("[DONE]" if data == b"[DONE]" else orjson.loads(data))
    return out


def delivered_text(events: list[Any]) -> str:
    return "".join(choice.get("delta", {}).get("content") or "" for e in events if isinstance(e, dict)
                   for choice in e.get("choices") or ())


async def wait_for(check: Any, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")
