"""Media during a rollout: which requests go to the old entry, and taking them there.

Media follows the owner like chat (docs/rollout.md): an imported key whose owner is not switched yet (or a
key only the old system knows, with ``--unknown-keys legacy``) has its images, audio and task submits
forwarded to the old One API / New API unchanged, and the old system authenticates and bills them; a
switched owner is served here. A task stays with the side that created it: a task id this gateway does not
hold (one the old side gave, before the switch too) is asked of the old entry while it is registered; a
task created here (before a rollback too) is served here, its hold and money included. A task taken over
at ``migrate import`` is the old side's while its owner is on the old entry, and ours once switched.

The decision is made before the body is read, so an upload can be passed on as it arrives; it reads the
database only for a task id of an imported key during a rollout. Any refusal of the key itself (disabled,
expired, its old rules) is left to the route that serves here, which answers it as it always does.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp
import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import now_ms
from relaygate.core.domain import KeyRecord
from relaygate.core.errors import GatewayError
from relaygate.services.gateway.accounts import authenticate, check_old_rules, presented_key
from relaygate.services.gateway.exchange import BodyStream, Exchange, Inbound, LegacyTarget, Outcome
from relaygate.services.gateway.relay import Relay
from relaygate.services.media import repo
from relaygate.services.media.caller import begin

TASK_READS = ("video.get", "video.content", "video.delete", "kling.get", "mj.get")
_VIDEO_SUBMIT = re.compile(r"^(?:/v1)?/videos/?$")  # OpenAI's video submit (the list shows OpenAI's videos)
NOTE_LIMIT = 65_536
SHOWN = ("id", "object", "model", "status", "progress", "created_at", "completed_at", "expires_at", "seconds",
         "size")
LIST_ASK_SECONDS = 5.0  # how long a list waits for the old entry to report one of its tasks
log = logging.getLogger("relaygate.media")


class Upload(Protocol):
    """A request body the web layer passes on as it arrives, and why it stopped early if it did."""

    error: GatewayError | None  # refused here while it streamed (too large)
    gone: bool  # the caller went away while sending it

    def __aiter__(self) -> AsyncIterator[bytes]: ...


@dataclass(frozen=True, slots=True)
class ToOld:
    """A media request bound for the old entry: where, and who is calling (None: a key only it knows)."""

    target: LegacyTarget
    key: KeyRecord | None
    masked: str | None = None


class OldSide:
    def __init__(self, engine: AsyncEngine, relay: Relay) -> None:
        self.engine = engine
        self.relay = relay

    async def route(self, inbound: Inbound, kind: str, task_id: str = "") -> ToOld | None:
        """Where this media request goes: the old entry (``ToOld``) or here (None)."""
        old = self.relay.legacy
        if old is None or kind == "mj.image":  # a signed result link is ours
            return None
        snap = self.relay.state.snapshot
        headers = inbound.headers
        presented = presented_key(headers, inbound.query_key)
        if presented is None and kind.startswith("mj."):
            presented = headers.get("mj-api-secret")  # midjourney-proxy's header, as New API took it
        try:
            key, pinned = authenticate(snap, presented, inbound.client_ip)
            rules = snap.rules.get(key.id) if snap.rules else None
            if rules is not None:
                check_old_rules(snap, key, rules, pinned)
        except GatewayError as exc:
            unknown = old.legacy_target(None) if exc.code == "invalid_api_key" else None
            return ToOld(unknown, None, exc.params.get("masked")) if unknown is not None else None
        target = old.legacy_target(key)
        if kind == "video.list":  # listed here, both sides' tasks (New API has no list of its own)
            return None
        if kind not in TASK_READS:
            return ToOld(target, key) if target is not None else None
        entry = target or old.old_entry(key)
        if entry is None:
            return None
        row = await repo.get(self.engine, task_id, key.owner_id)
        if row is None:  # an id the old side gave: it is asked there, before and after the switch
            return ToOld(entry, key)
        taken_over = bool((row.params or {}).get("imported"))
        return ToOld(target, key) if target is not None and taken_over else None

    def _begin(self, inbound: Inbound, to: ToOld) -> Exchange:
        ex, snap = begin(self.relay, inbound)
        if to.key is not None:
            self.relay.fill_key(ex.rec, snap, to.key)
            ex.key = to.key
        else:
            ex.rec["masked_key"] = to.masked
        ex.rec["route"] = "legacy"
        ex.rec["detail"] = {"legacy_batch": to.target.batch} if to.target.batch else None
        return ex

    async def refused(self, inbound: Inbound, to: ToOld, err: GatewayError) -> None:
        """A request refused here before it could go on (its body too large): recorded, nothing charged."""
        await self.relay.finish(self._begin(inbound, to), err.status, err.code)

    async def forward(self, inbound: Inbound, to: ToOld, method: str, body: bytes | Upload | None) -> Outcome:
        """Forward to the old entry and record it (``route=legacy``, no charge) as chat does."""
        old = self.relay.legacy
        assert old is not None
        ex = self._begin(inbound, to)
        upload = None if body is None or isinstance(body, bytes) else body
        try:
            outcome = await old.forward_stream(self.relay, inbound, ex, to.target, method, body)
        except GatewayError as exc:
            if upload is not None and upload.gone:
                await self.relay.finish(ex, 499, "client_disconnected")
                raise asyncio.CancelledError from exc
            # an upload refused here while it streamed (too large) is the answer, not the old side's silence
            err = upload.error if upload is not None and upload.error is not None else exc
            await self.relay.finish(ex, err.status, err.code)
            raise err from None
        except asyncio.CancelledError:
            await self.relay.finish(ex, 499, "client_disconnected")
            raise
        if to.key is not None and method == "POST" and _VIDEO_SUBMIT.match(inbound.path) and outcome.status < 300 \
                and outcome.stream is not None:  # the old side's task, kept so the owner's list shows it
            outcome.stream = NotedTask(outcome.stream, self.engine, to.key, inbound.request_id, ex.rec)
        return outcome

    async def shown(self, inbound: Inbound, key: KeyRecord, rows: list[Any]) -> dict[str, dict[str, Any]]:
        """The old side's tasks on a list page, each as the old entry reports it now (what it answered at
        submit when the old entry is gone or does not answer in time), by old id."""
        old = self.relay.legacy
        entry = (old.legacy_target(key) or old.old_entry(key)) if old is not None else None
        auth = inbound.headers.get("authorization")
        sem = asyncio.Semaphore(8)

        async def one(row: Any) -> tuple[str, dict[str, Any]]:
            stored = {**(row.answer or {}), "id": row.old_id, "object": "video"}
            stored.setdefault("model", row.model)
            stored.setdefault("created_at", int(row.created_at) // 1000)
            if entry is None or not auth:
                return row.old_id, stored
            url = f"{entry.base_url.rstrip('/')}/v1/videos/{quote(row.old_id, safe='')}"
            try:
                async with sem, self.relay.session.get(url, headers={"Authorization": auth},
                                                       timeout=aiohttp.ClientTimeout(total=LIST_ASK_SECONDS)) as resp:
                    doc = orjson.loads(await resp.read()) if resp.status == 200 else None
            except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError):
                doc = None
            if isinstance(doc, dict) and doc.get("id") == row.old_id:
                return row.old_id, {**stored, **doc}
            return row.old_id, stored

        return dict(await asyncio.gather(*(one(r) for r in rows)))


class NotedTask:
    """The old entry's answer to a video submit: a small JSON object, read whole (up to 64 KiB) before it is
    passed on, so the task it names is noted for the owner (``media_legacy_tasks``) before the caller can ask
    for its list; anything longer is passed on as it comes and noted nothing."""

    def __init__(self, inner: BodyStream, engine: AsyncEngine, key: KeyRecord, request_id: str,
                 rec: dict[str, Any]) -> None:
        self.inner, self.engine, self.key, self.request_id, self.rec = inner, engine, key, request_id, rec

    async def __aiter__(self) -> AsyncIterator[bytes]:
        kept = bytearray()
        parts = self.inner.__aiter__()
        async for part in parts:
            kept += part
            if len(kept) > NOTE_LIMIT:
                yield bytes(kept)
                async for rest in parts:
                    yield rest
                return
        await self._note(bytes(kept))
        yield bytes(kept)

    async def close(self) -> None:
        await self.inner.close()

    async def _note(self, raw: bytes) -> None:
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return
        old_id = doc.get("id") if isinstance(doc, dict) else None
        if not isinstance(old_id, str) or not old_id or len(old_id) > 191:
            return
        answer = {k: v for k, v in doc.items() if k in SHOWN and isinstance(v, str | int | float | None)}
        try:
            await repo.note_legacy(self.engine, {
                "owner_id": self.key.owner_id, "old_id": old_id, "key_id": self.key.id, "surface": "openai",
                "model": str(doc.get("model") or self.rec.get("requested_model") or "")[:128] or None,
                "request_id": self.request_id, "created_at": now_ms(), "answer": answer})
        except Exception as exc:  # the caller gets its answer; a missing list entry is logged, never an error
            log.warning("old side's task %s not noted for the list: %s", old_id[:64], type(exc).__name__)
