"""Submitting a task: who may, what it costs (held), which channel runs it, and its record.

The task row and its hold's ledger row are written in one transaction before the caller is answered,
so a task and its money never disagree; its end is ``task_end.py``'s.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import now_ms
from relaygate.core.errors import GatewayError
from relaygate.core.ids import request_id as new_id
from relaygate.core.settings import Settings
from relaygate.providers.base import UpstreamRequest
from relaygate.providers.media import SubmitRefused, TaskProtocol, TaskStatus, VideoJob
from relaygate.services.gateway.accounts import old_status
from relaygate.services.gateway.catalog import Route
from relaygate.services.gateway.exchange import Inbound, Outcome
from relaygate.services.gateway.gate import Gate
from relaygate.services.gateway.relay import Relay
from relaygate.services.gateway.streaming import UpstreamFailure
from relaygate.services.media import repo, upstream
from relaygate.services.media.caller import abandon, authenticated, begin, give_back, routes_for, take_limits
from relaygate.services.media.money import MediaMoney, multiplier_of
from relaygate.services.media.prices import MediaPrices, Quote
from relaygate.services.media.ssrf import UrlGuard
from relaygate.services.media.task_links import TaskLinks
from relaygate.services.media.task_reads import STATE_ZH
from relaygate.store.ledger_repo import append_entries

log = logging.getLogger("relaygate.media")

DEFAULT_SECONDS = {"openai": 4, "kling": 5}
FREE_MJ_ACTIONS = ("INPAINT", "CUSTOM_ZOOM")  # New API charged these buttons nothing (consumeQuota = false)


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
    parent: str | None = None  # the caller's task an action works on (Midjourney's buttons, change, modal)
    mj_action: str | None = None  # Midjourney's action name (IMAGINE, UPSCALE, …), as its task shows it


class TaskSubmit:
    def __init__(self, settings: Settings, engine: AsyncEngine, relay: Relay, gate: Gate | None, money: MediaMoney,
                 prices: MediaPrices, protocols: dict[str, TaskProtocol], guard: UrlGuard, links: TaskLinks) -> None:
        self.settings = settings
        self.engine = engine
        self.relay = relay
        self.gate = gate
        self.money = money
        self.prices = prices
        self.protocols = protocols
        self.guard = guard
        self.links = links
        self.poll_ms = int(settings.media_poll_seconds * 1000)

    def quote(self, public: str, req: VideoRequest, seconds: int, multiplier: int) -> Quote:
        variants = tuple(v for v in (req.size, req.mode, req.aspect_ratio) if v)
        if req.mj_action in FREE_MJ_ACTIONS:  # they open a modal; the modal's submit is what is charged
            return Quote("call", "*", 1, 0)
        if req.surface == "mj":  # one image (grid) per task, else the model's price per call
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
            caller = authenticated(self.relay, inbound, ex, snap, req.model)
            key = caller.key
            images = req.surface == "mj"  # Midjourney's image tasks run on its channels only, videos on the others
            wanted = {p for p in self.protocols if (p == "midjourney") == images}
            public, routes, any_route = routes_for(snap, caller, req.model, wanted)
            parent = await self._parent(key.owner_id, req) if req.parent else None
            if parent is not None:  # an action runs where its task ran, on the proxy that knows that task
                routes = [r for r in routes if r.channel.id == parent.channel_id] or \
                    self._parent_route(snap, parent, public)
                req.extra["taskId"] = parent.upstream_task_id or ""
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
                           "action": req.action, "secret_index": used_secret[0] if used_secret else 0,
                           **({"mj_action": req.mj_action} if req.mj_action else {}),
                           **({"parent": parent.id} if parent is not None else {})},
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
            return Outcome(200, "application/json", body=orjson.dumps(self.links.render(created, inbound)))
        except GatewayError as exc:
            old_status(exc, snap, ex.key)  # an imported key: its old system's status
            await abandon(self.relay, self.money, ex, hold, exc.status, exc.code)
            raise
        except asyncio.CancelledError:
            await abandon(self.relay, self.money, ex, hold, 499, "client_disconnected")
            raise
        finally:
            await give_back(self.gate, limits)

    async def _parent(self, owner_id: str, req: VideoRequest) -> Any:
        """The caller's own task an action works on: found by our id (or the id New API gave, for a task taken
        over), of the same kind, finished (a modal may also follow a task still waiting for it)."""
        row = await repo.get(self.engine, req.parent or "", owner_id)
        if row is None or row.surface != req.surface:
            raise GatewayError("task_not_found", task_id=(req.parent or "")[:64])
        if row.state != "succeeded" and not (req.mj_action == "MODAL" and row.state in ("queued", "running")):
            en, zh = ("it has not finished yet; an action needs its task finished.",
                      "任务尚未完成，操作需要其任务已完成。") \
                if row.state in ("queued", "running") else ("it ended without a result.", "任务未产生结果。")
            raise GatewayError("task_not_ready", task_id=row.id, state=row.state,
                               state_zh=STATE_ZH.get(row.state, row.state), hint=en, hint_zh=zh)
        return row

    @staticmethod
    def _parent_route(snap: Any, parent: Any, public: str) -> list[Route]:
        """The parent's channel even when it does not list the action's model (New API sent every action to the
        channel of its task); none if that channel is gone."""
        channel = snap.channels.get(parent.channel_id)
        if channel is None or channel.protocol != parent.protocol:
            return []
        return [Route(channel, channel.models.get(public) or public)]

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
