"""Large non-stream answers passed through as they arrive, never held whole.

A pass-through answer (caller and upstream speak one dialect) is relayed as the upstream wrote it. A
small one is read whole, checked and its usage read before the caller gets it (services/gateway/
relay.py). One larger than ``LARGE_ANSWER`` (a long completion, a batch of embeddings) goes on chunk
by chunk as aiohttp reads it: the gateway holds its first ``LARGE_ANSWER`` bytes (checked: a JSON
object starts there) and the last ``TAIL`` bytes, where every dialect puts its usage object, which is
then parsed alone. Memory per answer stays at those two windows however large the answer is, and its
bytes are copied once (into the caller's socket).

The request is settled when the answer has gone: for the usage the upstream reported; an answer cut by
the upstream after its start is not charged (a JSON body cut short is of no use to the caller) and
counts against the channel; a caller who hangs up mid-answer is recorded 499 and pays for what was
sent (the reported usage if the upstream had finished, else the prompt estimate and the bytes sent).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import aiohttp
import orjson

from relaygate.protocols.usage import Usage, estimate_from_size
from relaygate.services.gateway.exchange import Exchange, Pipeline, record_usage

LARGE_ANSWER = 64 * 1024  # answers up to this size are read whole (checked before the caller sees them)
TAIL = 16 * 1024  # the end of an answer kept to find its usage object
USAGE_KEYS = (b'"usage"', b'"usageMetadata"')  # OpenAI, Anthropic and Responses; Gemini
_DECODER = json.JSONDecoder()


async def read_head(resp: aiohttp.ClientResponse, limit: int = LARGE_ANSWER) -> tuple[bytes, bool]:
    """At least ``limit`` bytes of the body unless it is shorter, and whether that was all of it."""
    parts: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await resp.content.readany()
        if not chunk:
            return b"".join(parts) if len(parts) != 1 else parts[0], True
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts) if len(parts) != 1 else parts[0], resp.content.at_eof()


def looks_like_object(head: bytes) -> bool:
    """A JSON answer's first bytes: an object opens (HTML error pages and plain text do not)."""
    return head.lstrip()[:1] == b"{"


def usage_from_tail(tail: bytes, read: Callable[[bytes], Usage | None]) -> Usage | None:
    """The usage object nearest the end of ``tail``, parsed alone and read by the provider's reader.

    A key inside a string value is written ``\\"usage\\"``, so the quoted key found is a real one; the
    value is decoded from there to its end by the standard library's raw decoder (the rest of the
    answer is not parsed)."""
    best = -1
    name = b""
    for key in USAGE_KEYS:
        at = tail.rfind(key)
        if at > best:
            best, name = at, key
    if best < 0:
        return None
    colon = tail.find(b":", best + len(name))
    if colon < 0:
        return None
    try:
        value, _ = _DECODER.raw_decode(tail[colon + 1:].decode("utf-8", "replace").lstrip())
    except ValueError:
        return None
    return read(orjson.dumps({name.strip(b'"').decode(): value}))


class AnswerRelay:
    """Iterate it for the answer's bytes; ``close`` (the web layer calls it) settles the request once."""

    def __init__(self, relay: Pipeline, resp: aiohttp.ClientResponse, ex: Exchange, head: bytes,
                 read_usage: Callable[[bytes], Usage | None], prompt_estimate: int) -> None:
        self.relay = relay
        self.resp = resp
        self.ex = ex
        self.head = head
        self.read_usage = read_usage
        self.prompt_estimate = prompt_estimate
        self.sent = 0
        self.usage: Usage | None = None
        self.ended = False
        self.error_code: str | None = None
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        head, self.head = self.head, b""
        tail = head[-TAIL:]
        content = self.resp.content
        try:
            yield head
            self.sent = len(head)
            while chunk := await content.readany():
                yield chunk
                self.sent += len(chunk)
                tail = chunk[-TAIL:] if len(chunk) >= TAIL else (tail + chunk)[-TAIL:]
            self.ended = True
            self.usage = usage_from_tail(tail, self.read_usage)
        except (aiohttp.ClientError, TimeoutError):
            self.error_code = "upstream_stream_error"
            raise  # the caller's answer ends short: the web layer cannot finish it
        except (asyncio.CancelledError, GeneratorExit):
            self.error_code = "client_disconnected"
            raise
        finally:
            await self.close()

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.ended:
            self.resp.release()
        else:
            self.resp.close()
        rec = self.ex.rec
        usage = self.usage
        code = self.error_code
        if code is None and not self.ended:
            code = "client_disconnected"  # closed by the web layer before the answer was read to its end
        if usage is not None:
            record_usage(rec, usage)
        else:
            completion = estimate_from_size(self.sent, self.sent) if code == "client_disconnected" else 0
            rec["prompt_tokens"] = self.prompt_estimate
            rec["completion_tokens"] = completion
            rec["total_tokens"] = self.prompt_estimate + completion
            rec["estimated"] = True
        if code == "upstream_stream_error":
            self.relay.health.failure(rec["channel_id"], "answer cut after its start")
            await self.relay.finish(self.ex, 200, code, delivered=False)
            return
        await self.relay.finish(self.ex, 499 if code == "client_disconnected" else 200, code, delivered=True)
