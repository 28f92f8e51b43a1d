"""Delivering a task's callback: one signed POST per attempt, retried with back-off, each attempt recorded.

The signature and the key's secret are ``callbacks.py``'s (documented in docs/media.md).
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import now_ms
from relaygate.core.errors import GatewayError
from relaygate.core.settings import Settings
from relaygate.services.gateway.relay import Relay
from relaygate.services.media import callbacks, repo, views
from relaygate.services.media.ssrf import UrlGuard
from relaygate.services.media.task_links import TaskLinks

log = logging.getLogger("relaygate.media")


class CallbackDelivery:
    def __init__(self, settings: Settings, engine: AsyncEngine, relay: Relay, guard: UrlGuard, links: TaskLinks,
                 callback_secret: bytes) -> None:
        self.settings = settings
        self.engine = engine
        self.relay = relay
        self.guard = guard
        self.links = links
        self.callback_secret = callback_secret

    async def deliver(self, row: Any) -> None:
        """One callback attempt (the next is scheduled with back-off); recorded either way."""
        now = now_ms()
        attempt = int(row.callback_attempts or 0) + 1
        url = row.callback_url or ""
        shown = views.mj_task(row, self.links.signed_url(None, row)) if row.surface == "mj" else views.openai_video(row)
        body = orjson.dumps({**shown, "event": f"task.{row.state}"})
        secret = callbacks.key_secret(self.callback_secret, row.key_id)
        ts = now // 1000
        status: int | None = None
        error: str | None = None
        try:
            await self.guard.check(url, "callback_url")
            resp = await self.relay.session.post(url, data=body, timeout=aiohttp.ClientTimeout(total=10), headers={
                "Content-Type": "application/json", "X-Relaygate-Event": f"task.{row.state}",
                "X-Relaygate-Task-Id": row.id, "X-Relaygate-Timestamp": str(ts),
                "X-Relaygate-Signature": callbacks.signature(secret, ts, body)}, allow_redirects=False)
            status = resp.status
            resp.release()
        except GatewayError as exc:
            error = exc.message()
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = type(exc).__name__
        ok = status is not None and 200 <= status < 300
        give_up = not ok and attempt >= self.settings.media_callback_attempts
        values: dict[str, Any] = {"callback_attempts": attempt}
        if ok:
            values.update(callback_state="delivered", callback_next_at=None)
        elif give_up:
            values.update(callback_state="failed", callback_next_at=None)
            log.warning("task %s: callback gave up after %d attempts (%s)", row.id, attempt, error or status)
        else:
            values["callback_next_at"] = now + callbacks.backoff_ms(attempt)
        host = url.split("/")[2] if url.count("/") >= 2 else url
        await repo.record_delivery(self.engine, row.id, attempt, host, status, error, now, values)
