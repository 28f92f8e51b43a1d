"""Asynchronous video tasks: submit (hold), poll in the background, end once (settle or release),
callbacks, downloads through the gateway, cancel.

Money per terminal state (docs/billing.md, "Media"):

- ``succeeded``: settled to the units the upstream reports (seconds of video), else the units asked
  for, at the price and multiplier of the submit, never more than the hold;
- ``failed`` (the upstream's failure or a moderation refusal), ``expired`` (no end within
  ``RELAYGATE_MEDIA_TASK_TTL_SECONDS``) and ``cancelled`` (only possible before the upstream started):
  released in full, with a ledger entry that says why.

The task row and its hold's ledger row are written in one transaction before the caller is
answered; the terminal state and its ledger rows in another, guarded by the in-flight state, so a
task ends once even with several workers polling. Tasks in flight at a restart are resumed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import now_ms
from relaygate.core.domain import ChannelRecord
from relaygate.core.errors import GatewayError
from relaygate.core.ids import request_id as new_id
from relaygate.core.money import unit_cost
from relaygate.core.settings import Settings
from relaygate.providers.base import UpstreamRequest
from relaygate.providers.media import TERMINAL, SubmitRefused, TaskProtocol, TaskStatus, VideoJob
from relaygate.services.gateway.accounts import old_status
from relaygate.services.gateway.catalog import Route
from relaygate.services.gateway.exchange import Inbound, Outcome
from relaygate.services.gateway.gate import Gate
from relaygate.services.gateway.relay import Relay
from relaygate.services.gateway.streaming import UpstreamFailure
from relaygate.services.media import callbacks, repo, takeover, upstream, views
from relaygate.services.media.caller import authenticated, begin, give_back, routes_for, take_limits
from relaygate.services.media.money import MediaMoney, multiplier_of
from relaygate.services.media.prices import MediaPrices, Quote
from relaygate.services.media.ssrf import UrlGuard
from relaygate.store import tables as t
from relaygate.store.ledger_repo import append_entries

log = logging.getLogger("relaygate.media")

DEFAULT_SECONDS = {"openai": 4, "kling": 5}
CHANNEL_ROUNDS = 5  # polls that may find a task's channel missing before the task fails for it
STATE_ZH = {"queued": "排队中", "running": "运行中", "succeeded": "已成功", "failed": "已失败",
            "cancelled": "已取消", "expired": "已过期"}


@dataclass(slots=True)
class VideoRequest:
    """A video submit as the web layer read it, whatever surface it came in through."""

    surface: str  # openai | kling
    model: str
    prompt: str
    action: str = "text2video"
    seconds: int | None = None
    size: str | None = None
    aspect_ratio: str | None = None
    mode: str | None = None
    image: bytes | None = None
    image_type: str = "image/png"
    image_url: str | None = None
    callback_url: str | None = None
    refs: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


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


class VideoTasks:
    def __init__(self, settings: Settings, engine: AsyncEngine, relay: Relay, gate: Gate | None, money: MediaMoney,
                 prices: MediaPrices, protocols: dict[str, TaskProtocol], guard: UrlGuard,
                 callback_secret: bytes) -> None:
        self.settings = settings
        self.engine = engine
        self.relay = relay
        self.gate = gate
        self.money = money
        self.prices = prices
        self.protocols = protocols
        self.guard = guard
        self.callback_secret = callback_secret
        self.poll_ms = int(settings.media_poll_seconds * 1000)

    # --- submit -------------------------------------------------------------------------------

    def quote(self, public: str, req: VideoRequest, seconds: int, multiplier: int) -> Quote:
        variants = tuple(v for v in (req.size, req.mode, req.aspect_ratio) if v)
        if req.surface == "mj":  # one image grid per imagine, else the model's price per call
            found = self.prices.quote(public, "image", 1, (), multiplier)
        else:
            found = self.prices.quote(public, "second", seconds, variants, multiplier)
        if found is not None:
            return found
        row = self.relay.state.snapshot.prices.get(public)
        if (row is not None and row.price.free) or not self.money.enabled or \
                self.settings.unpriced_models == "default":
            return Quote("call", "*", 1, 0)
        raise GatewayError("model_price_missing", model=public)

    async def submit(self, inbound: Inbound, req: VideoRequest) -> Outcome:
        ex, snap = begin(self.relay, inbound)
        rec = ex.rec
        rec["requested_model"] = req.model
        limits = None
        hold = None
        try:
            key = authenticated(self.relay, inbound, ex, snap, req.model)
            images = req.surface == "mj"  # Midjourney's image tasks run on its channels only, videos on the others
            wanted = {p for p in self.protocols if (p == "midjourney") == images}
            public, routes, any_route = routes_for(snap, key, req.model, wanted)
            if not routes and any_route:
                names = ", ".join(sorted(wanted))
                raise GatewayError("media_not_served", model=req.model, what="image tasks" if images else
                                   "video tasks", what_zh="图像任务" if images else "视频任务",
                                   detail=f"no channel of a task protocol ({names}) serves it.",
                                   detail_zh=f"没有支持该任务协议（{names}）的渠道提供它。")
            if not req.callback_url:  # the operator may set one per key; the caller's own wins
                req.callback_url = await self._key_callback(key.id)
            for url, name in ((req.callback_url, "callback_url"), (req.image_url, "image_url")):
                if url:
                    await self.guard.check(url, name)
            seconds = req.seconds or DEFAULT_SECONDS.get(req.surface, 4)
            if not 1 <= seconds <= 600:
                raise GatewayError("bad_request", detail="'seconds' must be between 1 and 600.",
                                   detail_zh="'seconds' 必须在 1 到 600 之间。")
            multiplier = multiplier_of(snap.groups, key.group)
            quote = self.quote(public, req, seconds, multiplier)
            limits = await take_limits(self.gate, snap, key, inbound.request_id)
            task_id = "task_" + new_id()[4:]
            hold = await self.money.hold(key, public, inbound.request_id, f"task:{task_id}", quote.amount)
            used_secret: list[int] = []

            def build(route: Route, secret: str) -> UpstreamRequest:
                used_secret[:] = [route.channel.secrets.index(secret) if secret in route.channel.secrets else 0]
                job = VideoJob(route.upstream_model, req.prompt, req.action, seconds, req.size, req.aspect_ratio,
                               req.image, req.image_type, req.image_url,
                               {**req.extra, **({"mode": req.mode} if req.mode else {})})
                return self.protocols[route.channel.protocol].submit(route.channel, secret, job)

            answer: dict[str, Any] = {}

            async def accept(resp: aiohttp.ClientResponse) -> None:
                raw = await resp.read()
                proto = self.protocols[routes_by_id[rec["channel_id"]].channel.protocol]
                try:
                    answer["id"], answer["status"] = proto.submitted(raw)
                except SubmitRefused as exc:  # the upstream refused the task itself: no other channel will take it
                    raise UpstreamFailure("refused", 400, str(exc), retryable=False) from exc
                except ValueError as exc:
                    raise UpstreamFailure("bad_answer", resp.status, str(exc), retryable=True) from exc
                resp.release()

            routes_by_id = {r.channel.id: r for r in routes}
            route, _ = await upstream.call(self.relay, routes, public, key.group, rec, build, lambda: None,
                                           lambda r, raw: self.protocols[r.channel.protocol].error_detail(raw),
                                           accept)
            status: TaskStatus = answer["status"]
            now = now_ms()
            row = {
                "id": task_id, "request_id": inbound.request_id, "owner_id": key.owner_id, "key_id": key.id,
                "masked_key": key.masked, "group_name": key.group, "model": public,
                "kind": "image" if images else "video",
                "surface": req.surface, "protocol": route.channel.protocol, "channel_id": route.channel.id,
                "upstream_model": route.upstream_model, "upstream_task_id": answer["id"][:255],
                "state": status.state if status.state in ("queued", "running") else "queued",
                "upstream_started": status.started, "progress": status.progress,
                "prompt_summary": req.prompt[:200] if self.settings.store_prompts else None,
                "params": {"seconds": seconds, "size": req.size, "aspect_ratio": req.aspect_ratio, "mode": req.mode,
                           "action": req.action, "secret_index": used_secret[0] if used_secret else 0},
                "refs": req.refs or None, "callback_url": req.callback_url,
                "callback_state": "none", "callback_attempts": 0, "callback_next_at": None,
                "result": None, "download_state": "none", "result_expires_at": None, "review": None,
                "error_code": None, "error_message": None, "hold": hold.amount if hold else 0, "cost": 0,
                "units": {**quote.view(), "per_unit": self._per_unit(public, quote), "multiplier_ppm": multiplier,
                          "per": 1},
                "created_at": now, "updated_at": now, "finished_at": None,
                "expires_at": now + int(self.settings.media_task_ttl_seconds * 1000),
                "next_poll_at": now + self.poll_ms, "poll_failures": 0,
            }
            async with self.engine.begin() as conn:
                await repo.insert(conn, row)
                if hold is not None:
                    await append_entries(conn, [self.money.row(
                        key.owner_id, key.id, public, inbound.request_id, "hold", 0, hold.amount,
                        f"{'image' if images else 'video'} task {task_id} submitted: {quote.count} {quote.unit}(s) "
                        "held", ref=task_id)])
            rec["detail"] = {**(rec.get("detail") or {}), "task_id": task_id, "media": quote.view()}
            await self.relay.finish(ex, 200, None)
            created = await repo.get(self.engine, task_id, key.owner_id)
            if req.surface == "mj" and "/mj/" in inbound.path:  # midjourney-proxy's submit answer, our task id
                return Outcome(200, "application/json", body=orjson.dumps(
                    {"code": 1, "description": "Submit success", "result": task_id, "properties": {}}))
            return Outcome(200, "application/json", body=orjson.dumps(self.render(created, inbound)))
        except GatewayError as exc:
            old_status(exc, snap, ex.key)  # an imported key: its old system's status
            if hold is not None:
                await self.money.end(hold.hold_id, 0)
            await self.relay.finish(ex, exc.status, exc.code)
            raise
        except asyncio.CancelledError:
            if hold is not None:
                await self.money.end(hold.hold_id, 0)
            await self.relay.finish(ex, 499, "client_disconnected")
            raise
        finally:
            await give_back(self.gate, limits)

    async def _key_callback(self, key_id: str) -> str | None:
        """The key's operator-set callback URL; one the guard refuses now is skipped (and logged), since the
        caller did not choose it and must not be refused for it."""
        url = await repo.key_callback(self.engine, key_id)
        if url:
            try:
                await self.guard.check(url, "callback_url")
            except GatewayError as exc:
                log.warning("key %s: its callback URL is refused now (%s); no callback for this task",
                            key_id, exc.message())
                return None
        return url

    def _per_unit(self, public: str, quote: Quote) -> int:
        if quote.amount == 0:
            return 0
        key = (public, quote.unit, quote.variant)
        return self.prices.rows.get(key, 0)

    # --- read, download, cancel ---------------------------------------------------------------

    def base_url(self, inbound: Inbound | None) -> str:
        base = self.settings.public_base_url.rstrip("/")
        if base.endswith("/v1"):
            base = base[:-3]
        host = inbound.host if inbound is not None else ""
        return base or f"http://{host or f'{self.settings.host}:{self.settings.port}'}"

    def render(self, row: Any, inbound: Inbound) -> dict[str, Any]:
        content = f"{self.base_url(inbound)}/v1/videos/{row.id}/content"
        if row.surface == "kling" and inbound.path.startswith("/kling/"):
            return views.kling_task(row, content)
        if row.surface == "mj" and "/mj/" in inbound.path:
            return views.mj_task(row, self.signed_url(inbound, row))
        return views.openai_video(row)

    async def _owned(self, inbound: Inbound, task_id: str) -> tuple[Any, Any, Any]:
        ex, snap = begin(self.relay, inbound)
        try:
            key = authenticated(self.relay, inbound, ex, snap)
            row = await repo.get(self.engine, task_id, key.owner_id)
            if row is None:
                raise GatewayError("task_not_found", task_id=task_id[:64])
        except GatewayError as exc:
            await self.relay.finish(ex, exc.status, exc.code)
            raise
        ex.rec["requested_model"] = row.model
        ex.rec["detail"] = {"task_id": row.id}
        return ex, key, row

    async def get(self, inbound: Inbound, task_id: str) -> Outcome:
        ex, _, row = await self._owned(inbound, task_id)
        await self.relay.finish(ex, 200, None)
        return Outcome(200, "application/json", body=orjson.dumps(self.render(row, inbound)))

    async def list(self, inbound: Inbound, limit: int, after: str | None) -> Outcome:
        ex, snap = begin(self.relay, inbound)
        try:
            key = authenticated(self.relay, inbound, ex, snap)
        except GatewayError as exc:
            await self.relay.finish(ex, exc.status, exc.code)
            raise
        rows = await repo.list_for(self.engine, key.owner_id, max(1, min(limit, 100)), after)
        data = [views.openai_video(r) for r in rows]
        await self.relay.finish(ex, 200, None)
        return Outcome(200, "application/json", body=orjson.dumps({
            "object": "list", "data": data, "has_more": len(rows) == limit,
            "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}))

    async def content(self, inbound: Inbound, task_id: str) -> Outcome:
        ex, _, row = await self._owned(inbound, task_id)
        return await self._serve(ex, row)

    def signed_url(self, inbound: Inbound | None, row: Any) -> str:
        """A short-lived link to the result that needs no key (Midjourney clients show ``imageUrl`` as it is):
        signed with the server's secret for this task until its result expires, so only its owner has it."""
        exp = int(row.result_expires_at or now_ms() + self.settings.media_result_ttl_seconds * 1000) // 1000
        return f"{self.base_url(inbound)}/mj/image/{row.id}?exp={exp}&sig={self._sign(row.id, exp)}"

    def _sign(self, task_id: str, exp: int) -> str:
        return hmac.new(self.callback_secret, f"result:{task_id}:{exp}".encode(), hashlib.sha256).hexdigest()[:40]

    async def signed_content(self, inbound: Inbound, task_id: str, exp: str, sig: str) -> Outcome:
        ex, _ = begin(self.relay, inbound)
        row = await repo.get(self.engine, task_id, None) if exp.isdigit() else None
        if row is None or int(exp) * 1000 < now_ms() or not hmac.compare_digest(self._sign(row.id, int(exp)), sig):
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
            channel, secret, proto = self._upstream_of(row)
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
                await self._cancel_upstream(row)
                await self.end(row, "cancelled", None, "cancelled by the caller before the upstream started; "
                               "hold released in full")
            elif row.state == "succeeded" and row.download_state == "ready":
                await self._cancel_upstream(row)
                await repo.set_values(self.engine, row.id, download_state="deleted", updated_at=now_ms())
        except GatewayError as exc:
            await self.relay.finish(ex, exc.status, exc.code)
            raise
        await self.relay.finish(ex, 200, None)
        return Outcome(200, "application/json",
                       body=orjson.dumps({"id": row.id, "object": "video.deleted", "deleted": True}))

    def _upstream_of(self, row: Any) -> tuple[ChannelRecord, str, TaskProtocol]:
        channel = self.relay.state.snapshot.channels.get(row.channel_id)
        proto = self.protocols.get(row.protocol)
        if channel is None or proto is None or not channel.secrets:
            raise GatewayError("upstream_error", model=row.model, attempts=0,
                               detail="the channel that runs this task was removed")
        index = int((row.params or {}).get("secret_index") or 0)
        return channel, channel.secrets[index % len(channel.secrets)], proto

    async def _cancel_upstream(self, row: Any) -> None:
        try:
            channel, secret, proto = self._upstream_of(row)
            req = proto.cancel(channel, secret, row.upstream_task_id or "")
            if req is not None:
                resp = await self.relay.session.request(req.method, req.url, headers=req.headers,
                                                        timeout=aiohttp.ClientTimeout(total=15))
                resp.release()
        except (aiohttp.ClientError, TimeoutError, GatewayError) as exc:
            log.info("task %s: upstream cancel not confirmed (%s)", row.id, type(exc).__name__)

    # --- the end of a task: once, with its money ------------------------------------------------

    async def end(self, row: Any, state: str, status: TaskStatus | None, reason: str,
                  error_code: str | None = None) -> bool:
        """Move the task to ``state`` and settle (succeeded) or release (any other end) in one transaction."""
        assert state in TERMINAL
        if (row.params or {}).get("imported"):  # nothing was held here (services/media/takeover.py)
            reason = reason.replace("; hold released in full", "")
        now = now_ms()
        units = dict(row.units or {})
        cost = 0
        if state == "succeeded":
            count = int(units.get("count") or 1)
            if units.get("unit") == "second" and status is not None and status.seconds:
                count = max(1, math.ceil(status.seconds))
            units["count"] = count
            if units.get("per_unit"):
                cost = unit_cost(int(units["per_unit"]), count, int(units.get("per") or 1),
                                 int(units.get("multiplier_ppm") or 1_000_000))
                if units.get("unit") == "call":
                    cost = unit_cost(int(units["per_unit"]), 1, 1, int(units.get("multiplier_ppm") or 1_000_000))
            cost = min(cost, int(row.hold or 0)) if row.hold else 0
        values: dict[str, Any] = {
            "state": state, "finished_at": now, "updated_at": now, "cost": cost, "units": units,
            "progress": 100 if state == "succeeded" else row.progress,
            "error_code": error_code, "error_message": (status.error if status and status.error else None)
            if state != "succeeded" else None,
            "review": status.review if status else None, "next_poll_at": None,
        }
        if state != "succeeded" and values["error_message"] is None:
            values["error_message"] = reason[:512]
        if state == "succeeded":
            values["result"] = {"url": status.result_url if status else None}
            values["download_state"] = "ready"
            values["result_expires_at"] = now + int(self.settings.media_result_ttl_seconds * 1000)
        if row.callback_url:
            values["callback_state"], values["callback_next_at"] = "pending", now
        credit: int | None = None
        async with self.engine.begin() as conn:
            taken_over = bool((row.params or {}).get("imported"))
            entries: list[dict[str, Any]] = []
            if taken_over:  # New API pre-charged it before the import: settle nothing, refund on failure
                values["cost"], entries = takeover.end_entries(
                    row, state, reason, await takeover.old_system_runs(conn), self.settings.currency, now)
                if not int(row.prepaid or 0):
                    entries = []
                cost = values["cost"]
            if not await repo.end(conn, row.id, values):
                return False
            if entries:
                await append_entries(conn, entries)
                credit = await takeover.credited_entry(conn, row, now)
            if row.hold:
                rows = [self.money.row(row.owner_id, row.key_id, row.model, row.request_id, "release", 0,
                                       -int(row.hold), reason[:255], ref=row.id, now=now)]
                if cost:
                    rows.append(self.money.row(row.owner_id, row.key_id, row.model, row.request_id, "settle", -cost,
                                               0, reason[:255], ref=row.id, now=now))
                await append_entries(conn, rows)
            await conn.execute(update(t.usage_records).where(t.usage_records.c.request_id == row.request_id)
                               .values(cost=cost))
        if credit is not None:
            await self.money.store.credit(f"owner:{row.owner_id}", int(row.prepaid), f"ledger:{credit}")
        await self.money.end(f"task:{row.id}", cost)
        log.info("task %s %s (%s); charged %d nanos of %d held", row.id, state, reason, cost, row.hold or 0)
        return True

    # --- background: resume, poll, expire, deliver ----------------------------------------------

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
            await self._cancel_upstream(row)
            await self.end(row, "expired", None, f"no result within {int(self.settings.media_task_ttl_seconds)} s; "
                           "hold released in full", error_code="task_expired")
        sem = asyncio.Semaphore(8)

        async def guarded(coro: Any) -> None:
            async with sem:
                await coro

        await asyncio.gather(*(guarded(self.poll(row, now)) for row in await repo.due(self.engine, now, 50)))
        await asyncio.gather(*(guarded(self.deliver(row)) for row in await repo.callbacks_due(self.engine, now, 20)))

    async def poll(self, row: Any, now: int) -> None:
        if not await repo.claim(self.engine, row.id, row.next_poll_at, now + 30_000):
            return
        try:
            channel, secret, proto = self._upstream_of(row)
        except GatewayError as exc:
            # a channel this process does not know yet (an import or a change another process made reaches
            # the snapshot within a config poll) is waited for; one still missing after a few rounds is gone
            if int(row.poll_failures or 0) + 1 >= CHANNEL_ROUNDS:
                await self.end(row, "failed", None, f"{exc.message()}; hold released in full",
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
            await self.end(row, "succeeded", status, self._success_reason(row, status))
        elif status.state in ("failed", "cancelled"):
            moderated = status.review == "rejected"
            why = "refused by the upstream's moderation" if moderated else \
                f"failed upstream ({(status.error or 'no reason given')[:120]})"
            await self.end(row, "failed", status, why + "; hold released in full",
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

    async def deliver(self, row: Any) -> None:
        """One callback attempt (the next is scheduled with back-off); recorded either way."""
        now = now_ms()
        attempt = int(row.callback_attempts or 0) + 1
        url = row.callback_url or ""
        shown = views.mj_task(row, self.signed_url(None, row)) if row.surface == "mj" else views.openai_video(row)
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
