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
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.domain import KeyRecord
from relaygate.core.errors import GatewayError
from relaygate.services.gateway.accounts import authenticate, check_old_rules, presented_key
from relaygate.services.gateway.exchange import Exchange, Inbound, LegacyTarget, Outcome
from relaygate.services.gateway.relay import Relay
from relaygate.services.media import repo
from relaygate.services.media.caller import begin

TASK_READS = ("video.get", "video.content", "video.delete", "kling.get", "mj.get")


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
            return await old.forward_stream(self.relay, inbound, ex, to.target, method, body)
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
