"""Images and audio: one upstream call each, with the same keys, limits, holds, ledger and records as chat.

Bodies stream through: a multipart upload is spooled to disk by the web layer and re-read for each
attempt, never held whole in memory; a speech answer is streamed back as it arrives. Money: the
hold is the most the call can cost; the charge is what the upstream delivered (images returned,
seconds transcribed or the transcript's tokens, characters spoken), never more than the hold; nothing is charged when no
answer came back.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import aiohttp
import orjson

from relaygate.core.errors import GatewayError
from relaygate.core.settings import Settings
from relaygate.protocols import openai as wire
from relaygate.providers.base import UpstreamRequest
from relaygate.providers.media import SyncMedia
from relaygate.services.gateway.accounts import old_status
from relaygate.services.gateway.catalog import Route
from relaygate.services.gateway.exchange import Exchange, Inbound, Outcome
from relaygate.services.gateway.gate import Gate
from relaygate.services.gateway.relay import Relay
from relaygate.services.media import upstream
from relaygate.services.media.caller import abandon, authenticated, begin, give_back, routes_for, take_limits
from relaygate.services.media.money import Hold, MediaMoney, multiplier_of
from relaygate.services.media.prices import MediaPrices, Quote
from relaygate.services.media.transcripts import output_tokens

CHARGE_BYTES_PER_SECOND = 16_000  # unreported durations are charged at 128 kbit/s, marked estimated
WHAT = {"images": ("image generation", "图像生成"), "audio": ("audio", "音频")}


class Body(Protocol):
    """A request body the upstream call can read again for each attempt."""

    content_type: str
    size: int

    def stream(self) -> Any: ...


def _int(fields: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    raw = fields.get(name, default)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise GatewayError("bad_request", detail=f"'{name}' must be an integer.",
                           detail_zh=f"'{name}' 必须是整数。") from None
    if isinstance(raw, bool) or not low <= value <= high:
        raise GatewayError("bad_request", detail=f"'{name}' must be between {low} and {high}.",
                           detail_zh=f"'{name}' 必须在 {low} 到 {high} 之间。")
    return value


def _str(fields: dict[str, Any], name: str, default: str | None = None) -> str:
    value = fields.get(name, default)
    if not isinstance(value, str) or not value.strip():
        raise GatewayError("bad_request", detail=f"The field '{name}' is missing or not a string.",
                           detail_zh=f"缺少 '{name}' 字段或它不是字符串。")
    return value.strip()


class SettlingStream:
    """A streamed answer (speech) that settles its hold when it ends, however it ends."""

    def __init__(self, resp: aiohttp.ClientResponse, on_close: Callable[[], Awaitable[None]]) -> None:
        self.resp = resp
        self.on_close = on_close
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self.resp.content.iter_chunked(65_536):
            yield part

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.resp.close()
        await self.on_close()


class MediaCalls:
    def __init__(self, settings: Settings, relay: Relay, gate: Gate | None, money: MediaMoney,
                 prices: MediaPrices, media: dict[str, SyncMedia]) -> None:
        self.settings = settings
        self.relay = relay
        self.gate = gate
        self.money = money
        self.prices = prices
        self.media = media

    def protocols_for(self, operation: str) -> set[str]:
        return {name for name, m in self.media.items() if operation in m.operations}

    def quote(self, operation: str, public: str, fields: dict[str, Any], body: Body, multiplier: int) -> Quote:
        if operation.startswith("images."):
            n = _int(fields, "n", 1, 1, 10)
            size = str(fields.get("size") or "1024x1024")
            quality = str(fields.get("quality") or "standard")
            found = self.prices.image(public, n, size, quality, multiplier)
        elif operation == "audio.speech":
            _str(fields, "input")
            found = self.prices.characters(public, len(fields["input"]), multiplier)
        else:
            found = self.prices.transcription(public, body.size, str(fields.get("response_format") or ""), multiplier)
        if found is not None:
            return found
        row = self.relay.state.snapshot.prices.get(public)
        if (row is not None and row.price.free) or not self.money.enabled or \
                self.settings.unpriced_models == "default":
            return Quote("call", "*", 1, 0)
        raise GatewayError("model_price_missing", model=public)

    def charge(self, operation: str, quote: Quote, raw: bytes, body: Body, public: str,
               multiplier: int) -> tuple[int, dict[str, Any], bool]:
        """(cost, units charged, estimated) for the answer ``raw``; at most the hold."""
        if quote.amount == 0:
            return 0, quote.view(), False
        if quote.unit == "call":
            return quote.amount, quote.view(), False
        estimated = False
        count = quote.count
        try:
            doc = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            doc = {}
        if operation.startswith("images.") and isinstance(doc, dict) and isinstance(doc.get("data"), list):
            count = min(len(doc["data"]), quote.count)
        elif quote.unit == "mtokens":
            tokens, estimated = output_tokens(doc, raw)
            count = min(tokens, quote.count)
        elif operation in ("audio.transcriptions", "audio.translations"):
            seconds = None
            if isinstance(doc, dict):
                usage = doc.get("usage")
                usage = usage if isinstance(usage, dict) else {}
                if isinstance(usage.get("seconds"), int | float):
                    seconds = usage["seconds"]
                elif isinstance(doc.get("duration"), int | float):
                    seconds = doc["duration"]
            if seconds is None:
                seconds, estimated = body.size / CHARGE_BYTES_PER_SECOND, True
            count = min(max(1, math.ceil(seconds)), quote.count)
        cost = self.prices.again(public, quote, count, multiplier)
        return cost, {"unit": quote.unit, "variant": quote.variant, "count": count}, estimated

    async def handle(self, inbound: Inbound, operation: str, body: Body, fields: dict[str, Any]) -> Outcome:
        ex, snap = begin(self.relay, inbound)
        rec = ex.rec
        limits = None
        hold: Hold | None = None
        try:
            caller = authenticated(self.relay, inbound, ex, snap, str(fields.get("model") or ""))
            key = caller.key
            model = _str(fields, "model")
            rec["requested_model"] = model
            public, routes, any_route = routes_for(snap, caller, model, self.protocols_for(operation))
            if not routes and any_route:
                what, what_zh = WHAT[operation.split(".")[0]]
                raise GatewayError("media_not_served", model=model, what=what, what_zh=what_zh,
                                   detail=f"its channels do not offer {operation}.",
                                   detail_zh=f"它的渠道不支持 {operation}。")
            multiplier = multiplier_of(snap.groups, key.group)
            quote = self.quote(operation, public, fields, body, multiplier)
            limits = await take_limits(self.gate, snap, key, inbound.request_id)
            hold = await self.money.hold(key, public, inbound.request_id, inbound.request_id, quote.amount)

            def build(route: Route, secret: str) -> UpstreamRequest:
                headers = {"X-Request-Id": inbound.request_id, "Content-Length": str(body.size)}
                return self.media[route.channel.protocol].build_sync(route.channel, secret, operation,
                                                                     body.content_type, headers)

            _, resp = await upstream.call(self.relay, routes, public, key.group, rec, build, body.stream,
                                          lambda r, raw: wire.error_message(raw))
            if operation == "audio.speech":
                return self._speech(ex, resp, quote, hold)
            try:
                raw = await resp.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                resp.close()
                raise GatewayError("upstream_error", model=public, attempts=rec["attempts"],
                                   detail=f"the answer broke off ({type(exc).__name__})") from exc
            resp.release()
            cost, units, estimated = self.charge(operation, quote, raw, body, public, multiplier)
            await self._settle(ex, hold, cost, units, estimated, f"{operation}: {units['count']} {units['unit']}(s)")
            await self.relay.finish(ex, resp.status, None)
            return Outcome(resp.status, resp.headers.get("Content-Type", "application/json"), body=raw)
        except GatewayError as exc:
            old_status(exc, snap, ex.key)  # an imported key: its old system's status
            await abandon(self.relay, self.money, ex, hold, exc.status, exc.code)
            raise
        except asyncio.CancelledError:
            await abandon(self.relay, self.money, ex, hold, 499, "client_disconnected")
            raise
        finally:
            await give_back(self.gate, limits)

    async def _settle(self, ex: Exchange, hold: Hold | None, cost: int, units: dict[str, Any], estimated: bool,
                      reason: str) -> None:
        ex.rec["cost"] = cost
        ex.rec["estimated"] = estimated
        ex.rec["detail"] = {**(ex.rec.get("detail") or {}), "media": units}
        if hold is not None:
            self.money.queue_settle(hold, cost, reason)
            await self.money.end(hold.hold_id, cost)

    def _speech(self, ex: Exchange, resp: aiohttp.ClientResponse, quote: Quote, hold: Hold | None) -> Outcome:
        """Speech is priced on its input: once the upstream answers, the call costs its quote."""

        async def done() -> None:
            await self._settle(ex, hold, quote.amount, quote.view(), False,
                               f"audio.speech: {quote.count} characters")
            await self.relay.finish(ex, resp.status, None)

        return Outcome(resp.status, resp.headers.get("Content-Type", "audio/mpeg"), stream=SettlingStream(resp, done))
