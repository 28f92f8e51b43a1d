"""Tasks in flight, in the background: resumed after a restart, polled, expired, their callbacks sent.

A supervised loop (``media-tasks``) polls the upstream for tasks in flight (8 at a time, slower after
the first minute, with back-off on failed polls). Several workers share the work: each poll is claimed
in the database first. Tasks in flight at a restart resume: their holds are taken again before the
gateway serves (``resume``), and polling goes on.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import now_ms
from relaygate.core.errors import GatewayError
from relaygate.core.settings import Settings
from relaygate.providers.media import TaskStatus
from relaygate.services.gateway.relay import Relay
from relaygate.services.media import repo
from relaygate.services.media.money import MediaMoney
from relaygate.services.media.task_channel import TaskChannels
from relaygate.services.media.task_delivery import CallbackDelivery
from relaygate.services.media.task_end import TaskEnd

log = logging.getLogger("relaygate.media")

CHANNEL_ROUNDS = 5  # polls that may find a task's channel missing before the task fails for it


class TaskPoller:
    def __init__(self, settings: Settings, engine: AsyncEngine, relay: Relay, money: MediaMoney,
                 channels: TaskChannels, ending: TaskEnd, delivery: CallbackDelivery) -> None:
        self.settings = settings
        self.engine = engine
        self.relay = relay
        self.money = money
        self.channels = channels
        self.ending = ending
        self.delivery = delivery
        self.poll_ms = int(settings.media_poll_seconds * 1000)

    async def resume(self) -> int:
        """After a restart: take the holds of tasks still in flight again (memory counters forget them)."""
        rows = await repo.in_flight(self.engine)
        if rows:  # a poll claimed by a process that stopped must not wait for its lease to run out
            await repo.poll_all_now(self.engine, now_ms())
        lost = 0
        for row in rows:
            key = self.relay.state.snapshot.keys_by_id.get(row.key_id)
            if not await self.money.restore(key, row.owner_id, f"task:{row.id}", int(row.hold or 0)):
                lost += 1
        if rows:
            log.info("resumed %d media task(s) in flight%s", len(rows),
                     f"; {lost} hold(s) no longer fit the balance" if lost else "")
        return len(rows)

    async def run(self) -> None:
        """Supervised loop (``resume`` runs once at start-up, before serving)."""
        while True:
            await asyncio.sleep(self.settings.media_poll_seconds)
            try:
                await self.tick()
            except Exception as exc:
                log.warning("media task round failed: %s", type(exc).__name__)

    async def tick(self, now: int | None = None) -> None:
        now = now or now_ms()
        for row in await repo.expired(self.engine, now, 100):
            await self.channels.cancel(row)
            ttl = int(self.settings.media_task_ttl_seconds)
            await self.ending.end(row, "expired", None, f"no result within {ttl} s; hold released in full",
                                  error_code="task_expired")
        sem = asyncio.Semaphore(8)

        async def guarded(coro: Any) -> None:
            async with sem:
                await coro

        await asyncio.gather(*(guarded(self.poll(row, now)) for row in await repo.due(self.engine, now, 50)))
        due = await repo.callbacks_due(self.engine, now, 20)
        await asyncio.gather(*(guarded(self.delivery.deliver(row)) for row in due))

    async def poll(self, row: Any, now: int) -> None:
        if not await repo.claim(self.engine, row.id, row.next_poll_at, now + 30_000):
            return
        try:
            channel, secret, proto = self.channels.of(row)
        except GatewayError as exc:
            # a channel this process does not know yet (an import or a change another process made reaches
            # the snapshot within a config poll) is waited for; one still missing after a few rounds is gone
            if int(row.poll_failures or 0) + 1 >= CHANNEL_ROUNDS:
                await self.ending.end(row, "failed", None, f"{exc.message()}; hold released in full",
                               error_code="channel_removed")
            else:
                await self._poll_failed(row, now, "its channel is not known here (yet)")
            return
        req = proto.poll(channel, secret, row.upstream_task_id or "", (row.params or {}).get("action") or "text2video")
        try:
            resp = await self.relay.session.request(req.method, req.url, headers=req.headers,
                                                    timeout=aiohttp.ClientTimeout(total=30))
            raw = await resp.read()
            resp.release()
            if resp.status >= 400:
                raise ValueError(f"HTTP {resp.status}: {proto.error_detail(raw)}")
            status = proto.status(raw)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            await self._poll_failed(row, now, str(exc))
            return
        if status.state == "succeeded":
            await self.ending.end(row, "succeeded", status, self._success_reason(row, status))
        elif status.state in ("failed", "cancelled"):
            moderated = status.review == "rejected"
            why = "refused by the upstream's moderation" if moderated else \
                f"failed upstream ({(status.error or 'no reason given')[:120]})"
            await self.ending.end(row, "failed", status, why + "; hold released in full",
                           error_code="moderation_rejected" if moderated else "upstream_task_failed")
        else:
            age = now - int(row.created_at)
            interval = self.poll_ms if age < 60_000 else min(self.poll_ms * 4, 15_000)
            await repo.progress(self.engine, row.id, state=status.state, progress=status.progress,
                                upstream_started=bool(row.upstream_started or status.started),
                                poll_failures=0, next_poll_at=now + interval, updated_at=now)

    async def _poll_failed(self, row: Any, now: int, why: str) -> None:
        failures = int(row.poll_failures or 0) + 1
        delay = min(self.poll_ms * 2 ** min(failures, 6), 60_000)
        log.info("task %s: poll failed (%s), next in %d ms", row.id, why, delay)
        await repo.progress(self.engine, row.id, poll_failures=failures, next_poll_at=now + delay, updated_at=now)

    @staticmethod
    def _success_reason(row: Any, status: TaskStatus) -> str:
        units = row.units or {}
        if units.get("unit") == "second":
            secs = math.ceil(status.seconds) if status.seconds else units.get("count")
            at = f" at {units['variant']}" if units.get("variant") not in (None, "*") else ""
            return f"video task succeeded: {secs} s{at}"
        return f"{row.kind} task succeeded"
