"""What a caller does with a task once submitted: read it, list them, download its result, cancel it.

Every route checks the owner first (a task id of another owner is 404 ``task_not_found``, as is a wrong
or stale signed link). Downloads go through relaygate in 64 KiB chunks, so the upstream's address and
key stay hidden and memory stays flat.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import now_ms
from relaygate.core.domain import KeyRecord
from relaygate.core.errors import GatewayError
from relaygate.services.gateway.exchange import Exchange, Inbound, Outcome
from relaygate.services.gateway.relay import Relay
from relaygate.services.media import repo, views
from relaygate.services.media.caller import authenticated, begin
from relaygate.services.media.legacy import OldSide
from relaygate.services.media.task_channel import TaskChannels
from relaygate.services.media.task_end import TaskEnd
from relaygate.services.media.task_links import TaskLinks

STATE_ZH = {"queued": "排队中", "running": "运行中", "succeeded": "已成功", "failed": "已失败",
            "cancelled": "已取消", "expired": "已过期"}


class ResponseStream:
    """An upstream response body streamed to the caller in chunks (flat memory), closed once."""

    def __init__(self, resp: aiohttp.ClientResponse, chunk: int = 65_536) -> None:
        self.resp = resp
        self.chunk = chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self.resp.content.iter_chunked(self.chunk):
            yield part

    async def close(self) -> None:
        self.resp.close()


def _hint(state: str) -> tuple[str, str]:
    if state in ("queued", "running"):
        return ("it has not finished yet; poll GET /v1/videos/{id} until it is completed.",
                "任务尚未完成，请轮询直到完成。")
    if state == "succeeded":
        return "its result is no longer available (expired or deleted).", "结果已不可用（已过期或已删除）。"
    return "it ended without a result, and its hold was released in full.", "任务未产生结果，预扣已全额释放。"


class TaskReads:
    def __init__(self, engine: AsyncEngine, relay: Relay, links: TaskLinks, channels: TaskChannels,
                 ending: TaskEnd, old: OldSide | None = None) -> None:
        self.old = old  # during a rollout: the old side's tasks, listed with ours
        self.engine = engine
        self.relay = relay
        self.links = links
        self.channels = channels
        self.ending = ending

    async def _caller(self, inbound: Inbound) -> tuple[Exchange, KeyRecord]:
        """The exchange and the key of a read; a refused key is recorded (finished) before it is raised."""
        ex, snap = begin(self.relay, inbound)
        try:
            return ex, authenticated(self.relay, inbound, ex, snap).key
        except GatewayError as exc:
            await self.relay.finish(ex, exc.status, exc.code)
            raise

    async def _owned(self, inbound: Inbound, task_id: str) -> tuple[Any, Any, Any]:
        ex, key = await self._caller(inbound)
        row = await repo.get(self.engine, task_id, key.owner_id)
        if row is None:
            err = GatewayError("task_not_found", task_id=task_id[:64])
            await self.relay.finish(ex, err.status, err.code)
            raise err
        ex.rec["requested_model"] = row.model
        ex.rec["detail"] = {"task_id": row.id}
        return ex, key, row

    async def get(self, inbound: Inbound, task_id: str) -> Outcome:
        ex, _, row = await self._owned(inbound, task_id)
        await self.relay.finish(ex, 200, None)
        return Outcome(200, "application/json", body=orjson.dumps(self.links.render(row, inbound)))

    async def list(self, inbound: Inbound, limit: int, after: str | None) -> Outcome:
        ex, key = await self._caller(inbound)
        limit = max(1, min(limit, 100))
        cursor = await repo.cursor_of(self.engine, key.owner_id, after)
        if after and cursor is None:
            err = GatewayError("task_not_found", task_id=after[:64])
            await self.relay.finish(ex, err.status, err.code)
            raise err
        ours = await repo.list_for(self.engine, key.owner_id, limit + 1, cursor)
        theirs = await repo.legacy_for(self.engine, key.owner_id, limit + 1, cursor)
        page = sorted([(int(r.created_at), r.id, r, False) for r in ours] +
                      [(int(r.created_at), r.old_id, r, True) for r in theirs],
                      key=lambda item: (item[0], item[1]), reverse=True)
        more, page = len(page) > limit, page[:limit]
        old = await self.old.shown(inbound, key, [r for _, _, r, legacy in page if legacy]) \
            if self.old is not None and theirs else {}
        data = [old[ident] if legacy else views.openai_video(r) for _, ident, r, legacy in page]
        await self.relay.finish(ex, 200, None)
        return Outcome(200, "application/json", body=orjson.dumps({
            "object": "list", "data": data, "has_more": more,
            "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}))

    async def mj_list(self, inbound: Inbound, ids: Sequence[str]) -> Outcome:
        """midjourney-proxy's list-by-condition as New API answered it: the caller's own Midjourney tasks among
        ``ids`` (ours, or the ids New API gave for tasks taken over), as an array; others are left out."""
        ex, key = await self._caller(inbound)
        rows = await repo.get_many(self.engine, ids, key.owner_id)
        data = [self.links.render(r, inbound) for r in rows if r.surface == "mj"]
        await self.relay.finish(ex, 200, None)
        return Outcome(200, "application/json", body=orjson.dumps(data))

    async def content(self, inbound: Inbound, task_id: str) -> Outcome:
        ex, _, row = await self._owned(inbound, task_id)
        return await self._serve(ex, row)

    async def signed_content(self, inbound: Inbound, task_id: str, exp: str, sig: str) -> Outcome:
        ex, _ = begin(self.relay, inbound)
        row = await repo.get(self.engine, task_id, None) if exp.isdigit() else None
        if row is None or int(exp) * 1000 < now_ms() or not hmac.compare_digest(self.links.sign(row.id, int(exp)), sig):
            err = GatewayError("task_not_found", task_id=task_id[:64])  # a wrong or stale link finds nothing
            await self.relay.finish(ex, err.status, err.code)
            raise err
        ex.rec["requested_model"], ex.rec["detail"] = row.model, {"task_id": row.id, "signed": True}
        ex.rec["owner_id"] = row.owner_id
        return await self._serve(ex, row)

    async def _serve(self, ex: Any, row: Any) -> Outcome:
        """Stream a task's result through the gateway (the upstream's address and key stay hidden)."""
        try:
            now = now_ms()
            ready = row.state == "succeeded" and row.download_state == "ready" and \
                (row.result_expires_at is None or row.result_expires_at > now)
            if not ready:
                en, zh = _hint(row.state)
                raise GatewayError("task_not_ready", task_id=row.id, state=row.state,
                                   state_zh=STATE_ZH.get(row.state, row.state), hint=en, hint_zh=zh)
            channel, secret, proto = self.channels.of(row)
            req = proto.content(channel, secret, row.upstream_task_id or "", (row.result or {}).get("url"))
            try:
                resp = await self.relay.session.request(req.method, req.url, headers=req.headers,
                                                        timeout=aiohttp.ClientTimeout(
                                                            total=None, sock_connect=channel.connect_timeout,
                                                            sock_read=channel.first_byte_timeout))
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise GatewayError("upstream_error", model=row.model, attempts=1,
                                   detail=f"the result could not be fetched ({type(exc).__name__})") from exc
            if resp.status >= 400:
                resp.release()
                raise GatewayError("upstream_error", model=row.model, attempts=1,
                                   detail=f"the upstream answered HTTP {resp.status} for the result")
        except GatewayError as exc:
            await self.relay.finish(ex, exc.status, exc.code)
            raise
        await self.relay.finish(ex, 200, None)
        result = row.result or {}  # the download state support reads: fetched how often, last when
        await repo.set_values(self.engine, row.id, result={**result, "fetched": int(result.get("fetched") or 0) + 1,
                                                           "last_fetched_at": now_ms()})
        ctype = resp.headers.get("Content-Type", "video/mp4")
        return Outcome(200, ctype, stream=ResponseStream(resp))

    async def cancel(self, inbound: Inbound, task_id: str) -> Outcome:
        ex, _, row = await self._owned(inbound, task_id)
        try:
            if row.state in ("queued", "running"):
                if row.upstream_started or row.state == "running":
                    raise GatewayError("task_running", task_id=row.id)
                await self.channels.cancel(row)
                if not await self.ending.end(row, "cancelled", None, "cancelled by the caller before the upstream "
                                             "started; hold released in full"):
                    # the poller got there first (the upstream started it, or it ended): answer what it is now
                    row = await repo.get(self.engine, row.id, row.owner_id)
                    if row is None or row.state in ("queued", "running"):
                        raise GatewayError("task_running", task_id=task_id[:64])
            if row.state == "succeeded" and row.download_state == "ready":
                await self.channels.cancel(row)
                await repo.set_values(self.engine, row.id, download_state="deleted", updated_at=now_ms())
        except GatewayError as exc:
            await self.relay.finish(ex, exc.status, exc.code)
            raise
        await self.relay.finish(ex, 200, None)
        return Outcome(200, "application/json",
                       body=orjson.dumps({"id": row.id, "object": "video.deleted", "deleted": True}))
