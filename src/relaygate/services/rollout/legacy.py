"""The legacy route: during a rollout, keys not yet switched are forwarded to the old entry unchanged.

The old One API / New API keeps authenticating and billing them: same key, same path, same body,
same answer (streams included). relaygate only records a usage record marked ``route=legacy``.
Chat bodies are read whole (they are small); media (``forward_stream``) passes its body on as it
arrives (an upload is never held whole) and relays the answer (an image, audio, a video) in chunks.
Which keys go there is decided by ``rollout/routing.py``; the relay reaches both through the ``OldEntry``
interface it owns (``services/gateway/exchange.py``), injected by ``app``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import aiohttp
import orjson

from relaygate.core.errors import GatewayError
from relaygate.protocols.multipart import BadForm, FormScan
from relaygate.protocols.openai import RequestFacts, usage_from_body
from relaygate.services.gateway.exchange import Exchange, Inbound, LegacyTarget, Outcome, Pipeline
from relaygate.services.gateway.streaming import StreamRelay
from relaygate.services.gateway.translate import OpenAIPassthrough

PASSED_ON = ("Content-Length", "Content-Encoding", "Content-Disposition")  # of a media answer, with its bytes
HOP_BY_HOP = frozenset({"host", "content-length", "connection", "keep-alive", "transfer-encoding", "te",
                        "trailer", "upgrade", "proxy-authorization", "proxy-connection"})


async def forward_legacy(relay: Pipeline, inbound: Inbound, ex: Exchange, target: LegacyTarget) -> Outcome:
    rec = ex.rec
    rec["route"] = "legacy"
    rec["detail"] = {"legacy_batch": target.batch} if target.batch else None
    model, stream = _peek(inbound.body)
    rec["requested_model"] = rec["upstream_model"] = model
    rec["stream"] = stream
    url = target.base_url.rstrip("/") + inbound.path + (f"?{inbound.query}" if inbound.query else "")
    headers = {k: v for k, v in inbound.headers.items() if k not in HOP_BY_HOP}
    headers["accept-encoding"] = "identity"  # its usage is read from the answer, which is then relayed as read
    timeout = aiohttp.ClientTimeout(total=target.total_timeout, sock_connect=target.connect_timeout,
                                    sock_read=target.first_byte_timeout)
    try:
        resp = await relay.session.request("POST", url, headers=headers, data=inbound.body, timeout=timeout)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise GatewayError("upstream_error", model=model or "-", attempts=1,
                           detail=f"the old entry did not answer ({type(exc).__name__})") from exc
    rec["attempts"] = 1
    ctype = resp.headers.get("Content-Type", "application/json")
    if resp.status < 400 and ctype.startswith("text/event-stream"):
        try:
            first = await resp.content.readany()
        except (aiohttp.ClientError, TimeoutError) as exc:
            resp.close()
            raise GatewayError("upstream_timeout", model=model or "-", which="first byte",
                               seconds=target.first_byte_timeout, attempts=1) from exc
        facts = RequestFacts(model or "-", True, None, True, max(len(inbound.body) // 4, 1))
        relay_stream = StreamRelay(relay, resp, OpenAIPassthrough(True), ex, first, facts)
        return Outcome(resp.status, ctype, stream=relay_stream)
    try:
        raw = await resp.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        resp.close()
        raise GatewayError("upstream_error", model=model or "-", attempts=1,
                           detail=f"the old entry's answer broke off ({type(exc).__name__})") from exc
    resp.release()
    usage = usage_from_body(raw) if resp.status < 400 else None
    if usage is not None:
        rec["prompt_tokens"], rec["completion_tokens"] = usage.prompt_tokens, usage.completion_tokens
        rec["total_tokens"], rec["cached_tokens"] = usage.total_tokens, usage.cached_tokens
    await relay.finish(ex, resp.status, None if resp.status < 400 else f"legacy_http_{resp.status}")
    return Outcome(resp.status, ctype, body=raw)


async def forward_stream(relay: Pipeline, inbound: Inbound, ex: Exchange, target: LegacyTarget, method: str,
                         body: bytes | AsyncIterable[bytes] | None) -> Outcome:
    """A media request to the old entry: the same method, path, query, headers and body bytes (a stream
    passed on as it arrives, with the caller's Content-Length); the answer relayed as it comes."""
    rec = ex.rec
    rec["route"] = "legacy"
    rec["detail"] = {"legacy_batch": target.batch} if target.batch else None
    rec["attempts"] = 1
    # the body is already on its way: a client's Expect: 100-continue was answered here, not asked again
    headers = {k: v for k, v in inbound.headers.items() if k not in HOP_BY_HOP and k != "expect"}
    data: Any = body
    if isinstance(body, bytes):
        model, _ = _peek(body)
        rec["requested_model"] = rec["upstream_model"] = model
    elif body is not None:
        data = _sniffed(body, inbound.headers.get("content-type", ""), rec)
        if (length := inbound.headers.get("content-length", "")).isdigit():
            headers["Content-Length"] = length
    url = target.base_url.rstrip("/") + inbound.path + (f"?{inbound.query}" if inbound.query else "")
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=target.connect_timeout,
                                    sock_read=target.first_byte_timeout)
    try:
        resp = await relay.session.request(method, url, headers=headers, data=data, timeout=timeout)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise GatewayError("upstream_error", model=rec["requested_model"] or "-", attempts=1,
                           detail=f"the old entry did not answer ({type(exc).__name__})") from exc
    kept = {name: resp.headers[name] for name in PASSED_ON if name in resp.headers}  # bytes relayed as they came
    return Outcome(resp.status, resp.headers.get("Content-Type", "application/json"),
                   stream=RelayedAnswer(relay, ex, resp), headers=kept)


class RelayedAnswer:
    """The old entry's answer passed on in 64 KiB chunks; its usage record is finished when it closes."""

    def __init__(self, relay: Pipeline, ex: Exchange, resp: aiohttp.ClientResponse) -> None:
        self.relay, self.ex, self.resp = relay, ex, resp
        self.complete = self.broken = self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self.resp.content.iter_chunked(65_536):
                yield part
        except (aiohttp.ClientError, TimeoutError):
            self.broken = True  # the caller's answer ends short: the connection is dropped, not completed
            raise
        self.complete = True

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.resp.close()
        status = self.resp.status
        if self.complete:
            await self.relay.finish(self.ex, status, None if status < 400 else f"legacy_http_{status}")
        elif self.broken:
            await self.relay.finish(self.ex, 502, "upstream_error", delivered=True)
        else:
            await self.relay.finish(self.ex, 499, "client_disconnected", delivered=True)


async def _sniffed(body: AsyncIterable[bytes], content_type: str, rec: dict[str, Any]) -> AsyncIterator[bytes]:
    """The body unchanged, its text fields read on the way until ``model`` shows (for the usage record);
    the old entry judges the body, so a malformed one is passed on all the same."""
    try:
        scan: FormScan | None = FormScan(content_type) if content_type.startswith("multipart/") else None
    except BadForm:
        scan = None
    async for chunk in body:
        if scan is not None:
            try:
                scan.feed(chunk)
            except BadForm:
                scan = None
            else:
                if (model := scan.fields.get("model")) is not None:
                    rec["requested_model"] = rec["upstream_model"] = model.strip()[:128] or None
                    scan = None
        yield chunk


def _peek(body: bytes) -> tuple[str | None, bool]:
    try:
        data: Any = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None, False
    if not isinstance(data, dict):
        return None, False
    model = data.get("model") or data.get("model_name")  # Kling's task routes name it model_name
    return (model[:128] if isinstance(model, str) else None), data.get("stream") is True
