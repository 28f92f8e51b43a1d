"""Background health work: probe cooled-down channels when their time is up, persist health changes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import now_ms
from relaygate.core.redact import redact
from relaygate.providers.base import Provider
from relaygate.services.gateway.health import HealthBoard
from relaygate.services.gateway.state import GatewayState
from relaygate.services.gateway.streaming import map_client_error
from relaygate.store.repo import save_health

log = logging.getLogger("relaygate.health")


class Prober:
    def __init__(self, state: GatewayState, health: HealthBoard, providers: Mapping[str, Provider],
                 session: aiohttp.ClientSession, engine: AsyncEngine, interval: float) -> None:
        self.state = state
        self.health = health
        self.providers = providers
        self.session = session
        self.engine = engine
        self.interval = interval

    async def probe(self, channel_id: int) -> bool:
        channel = self.state.snapshot.channels.get(channel_id)
        if channel is None:
            return False
        provider = self.providers.get(channel.protocol)
        if provider is None or not channel.secrets:
            self.health.probe_failed(channel_id, "no provider or no secret to probe with")
            return False
        secret = channel.secrets[0]
        prepare = getattr(provider, "prepare", None)  # Vertex: probe with the key's access token
        if prepare is not None:
            try:
                secret = await prepare(self.session, channel, secret)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                self.health.probe_failed(channel_id, f"probe failed: no access token ({type(exc).__name__})")
                return False
        req = provider.probe(channel, secret)
        timeout = aiohttp.ClientTimeout(total=min(channel.first_byte_timeout, 15.0),
                                        sock_connect=channel.connect_timeout)
        try:
            async with self.session.request(req.method, req.url, headers=req.headers, data=req.body,
                                            timeout=timeout) as resp:
                raw = await resp.read()
                ok = resp.status < 400
                reason = f"probe answered HTTP {resp.status}"
                if not ok:
                    detail = redact(provider.error_detail(raw))
                    reason = f"{reason}: {detail}"[:500] if detail else reason
        except (aiohttp.ClientError, TimeoutError) as exc:
            # the operator sees this (logs, `channels health`): the mapped cause and aiohttp's own words
            said = str(exc).strip()
            reason = f"probe failed: {map_client_error(exc, channel).detail}" + (f" [{said}]" if said else "")
            ok, reason = False, redact(reason)[:500]
        if ok:
            self.health.success(channel_id, "a probe succeeded")
        else:
            self.health.probe_failed(channel_id, reason)
        return ok

    async def persist(self) -> None:
        dirty = self.health.take_dirty()
        if not dirty:
            return
        rows = [{"channel_id": cid, "state": s.state, "reason": s.reason,
                 "consecutive_failures": s.consecutive_failures,
                 "cooldown_until": s.cooldown_until or None, "updated_at": now_ms()} for cid, s in dirty]
        try:
            async with self.engine.begin() as conn:
                await save_health(conn, rows)
        except Exception as exc:
            log.warning("could not save channel health: %s", type(exc).__name__)
            for cid, state in dirty:
                if cid in self.state.snapshot.channels:
                    state.dirty = True

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            due = self.health.due_for_probe()
            if due:
                await asyncio.gather(*(self.probe(cid) for cid in due))
            await self.persist()
