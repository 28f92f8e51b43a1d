"""Relaying an SSE stream event by event, and mapping upstream transport failures once."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from relaygate.core.clock import monotonic
from relaygate.core.domain import ChannelRecord
from relaygate.core.errors import GatewayError
from relaygate.protocols.openai import RequestFacts
from relaygate.protocols.sse import SSEFramer
from relaygate.protocols.usage import estimate_from_size
from relaygate.services.gateway.exchange import Exchange, Pipeline
from relaygate.services.gateway.translate import StreamStrategy


class UpstreamFailure(Exception):
    """One failed upstream attempt; ``retryable`` decides whether another channel is tried."""

    def __init__(self, kind: str, status: int | None, detail: str, *, retryable: bool,
                 which: str | None = None, seconds: float | None = None, internal: str | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.status = status
        self.detail = detail  # what the caller may read: never the channel's host or port
        self.internal = internal or detail  # what the operator reads (usage record, health, log)
        self.retryable = retryable
        self.which = which
        self.seconds = seconds

    def describe(self) -> str:
        return f"{self.kind}: {self.internal}"[:500]

    def to_error(self, model: str, attempts: int) -> GatewayError:
        if self.kind == "invalid_response":
            return GatewayError("upstream_invalid_response", model=model, attempts=attempts,
                                what=self.which or "JSON")
        if self.kind == "timeout":
            return GatewayError("upstream_timeout", model=model, which=self.which, seconds=self.seconds,
                                attempts=attempts)
        if not self.retryable and self.status and 400 <= self.status < 500:
            return GatewayError("upstream_rejected", upstream_status=self.status, model=model,
                                detail=self.detail)
        detail = f"HTTP {self.status}: {self.detail}" if self.status else self.detail
        return GatewayError("upstream_error", model=model, attempts=attempts, detail=detail[:400])


def map_client_error(exc: BaseException, channel: ChannelRecord) -> UpstreamFailure:
    """aiohttp and timeout exceptions to one UpstreamFailure, naming which timeout fired."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return UpstreamFailure("timeout", None, "connect timeout", retryable=True, which="connect",
                               seconds=channel.connect_timeout)
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return UpstreamFailure("timeout", None, "no data in time", retryable=True, which="first byte",
                               seconds=channel.first_byte_timeout)
    if isinstance(exc, TimeoutError):
        return UpstreamFailure("timeout", None, "total timeout", retryable=True, which="total",
                               seconds=channel.total_timeout)
    if isinstance(exc, aiohttp.ClientConnectorError):
        # strerror reads "Connect call failed ('10.0.0.7', 8443)": the address stays with the operator
        internal = exc.os_error.strerror or type(exc.os_error).__name__
        errno = getattr(exc.os_error, "errno", None)
        reason = os.strerror(errno).lower() if isinstance(errno, int) and errno > 0 else "connection failed"
        return UpstreamFailure("connect_error", None, f"cannot connect to the upstream ({reason})",
                               retryable=True, internal=f"cannot connect to {channel.base_url} ({internal})")
    return UpstreamFailure("network_error", None, f"{type(exc).__name__}", retryable=True)


class StreamRelay:
    """Forwards upstream SSE events to the caller as they complete and records usage at the end.

    Iterate it to get bytes for the caller. Whatever ends the iteration (the upstream's [DONE], a
    failure, or the caller going away and the web layer closing it), ``close`` runs exactly once:
    the upstream response is released or closed and the usage record is written.
    """

    def __init__(self, relay: Pipeline, resp: aiohttp.ClientResponse, strategy: StreamStrategy,
                 ex: Exchange, first: bytes, facts: RequestFacts) -> None:
        self.relay = relay
        self.resp = resp
        self.strategy = strategy
        self.ex = ex
        self.rec = ex.rec
        self.started = ex.started
        self.first = first
        self.facts = facts
        self.error_code: str | None = None
        self.closed = False
        self.ttft: float | None = None
        self.first_yield: float | None = None
        self.ended = False  # the iteration ran to its end (not abandoned by a caller who left)
        self.sent_chars = 0  # generated text in the chunks the web layer has sent on
        self.sent_bytes = 0
        # what a crash now should charge: the text sent, or all of it once the last events are on
        # their way; the spool journals it (``progress``) before the first byte, then group-committed
        self.owed_chars = 0
        self.owed_bytes = 0
        self.journalled: tuple[int, int, int] | None = None
        self.spool = relay.usage_spool
        if self.spool is not None:
            self.spool.watch(self.rec["request_id"], self.progress)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        framer = SSEFramer()
        strategy = self.strategy
        chunk = self.first
        rid = self.rec["request_id"]
        try:
            while chunk:
                block = framer.feed_block(chunk)
                out = strategy.relay(block) if block else []
                if out:
                    if self.ttft is None and strategy.completion_chars:
                        self.ttft = monotonic()
                    if self.first_yield is None:
                        self.first_yield = monotonic()
                    if strategy.done:  # the last events: journalled first, so a crash right after still charges
                        self.owe(strategy.completion_chars, strategy.completion_bytes, now=True)
                    yield b"".join(out) if len(out) > 1 else out[0]
                    # resumed: the web layer sent that chunk (a caller who left never resumes us)
                    self.sent_chars, self.sent_bytes = strategy.completion_chars, strategy.completion_bytes
                    self.owe(self.sent_chars, self.sent_bytes)
                if strategy.done:
                    break
                chunk = await self.resp.content.readany()
            if not strategy.done:
                rest = framer.rest()
                tail = strategy.relay(rest + b"\n\n") if rest.strip() else []
                if tail:
                    yield b"".join(tail)
                    self.sent_chars, self.sent_bytes = strategy.completion_chars, strategy.completion_bytes
                    self.owe(self.sent_chars, self.sent_bytes)
            if strategy.done:
                tail = strategy.finish()
                if tail:
                    yield b"".join(tail)
            else:
                self.error_code = "upstream_stream_incomplete"
                yield b"".join(strategy.error("The upstream ended the stream before it was complete; the "
                                              "answer above may be cut short. Retry the request.",
                                              self.error_code, rid))
            self.ended = True
        except (aiohttp.ClientError, TimeoutError) as exc:
            failure = map_client_error(exc, self.resp_channel())
            self.error_code = "upstream_timeout" if failure.kind == "timeout" else "upstream_stream_error"
            yield b"".join(strategy.error(f"The upstream stream failed after it started ({failure.detail}); "
                                          "the answer above is incomplete. Retry the request.", self.error_code,
                                          rid))
            self.ended = True
        except (asyncio.CancelledError, GeneratorExit):
            self.error_code = "client_disconnected"
            raise
        finally:
            await self.close()

    def owe(self, chars: int, size: int, *, now: bool = False) -> None:
        """What a crash from here on should charge; the spool writes it when due (``now``: at once)."""
        self.owed_chars, self.owed_bytes = chars, size
        spool = self.spool
        if spool is not None:
            spool.tick(self.rec["request_id"])
            if now:
                spool.write_progress()

    def progress(self) -> dict[str, Any] | None:
        """The spool asks: this stream's charge should the process die now, if it changed since."""
        tokens = self.tokens(self.owed_chars, self.owed_bytes)
        if tokens == self.journalled:
            return None
        self.journalled = tokens
        return self.relay.progress(self.ex, *tokens)

    def tokens(self, chars: int, size: int) -> tuple[int, int, int]:
        """(prompt, completion, cached) for a stream that delivered ``chars`` characters (``size`` bytes)."""
        usage = self.strategy.usage
        delivered = estimate_from_size(chars, size)
        if usage is None:
            return self.facts.prompt_estimate, delivered, 0
        return (usage.prompt_tokens or self.facts.prompt_estimate, max(usage.completion_tokens, delivered),
                usage.cached_tokens)

    def resp_channel(self) -> ChannelRecord:
        return self.relay.state.snapshot.channels[self.rec["channel_id"]]

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.strategy.done:
            self.resp.release()
        else:
            self.resp.close()  # cancels the upstream generation
        usage = self.strategy.usage
        rec = self.rec
        if self.error_code is None and not self.ended and not self.strategy.done:
            self.error_code = "client_disconnected"  # closed by the web layer before the stream ended
        if usage is not None and self.strategy.done:
            rec["prompt_tokens"] = usage.prompt_tokens
            rec["completion_tokens"] = usage.completion_tokens
            rec["total_tokens"] = usage.total_tokens
            rec["cached_tokens"] = usage.cached_tokens
        else:
            # cut short: what the caller was sent, from the parsed events (never the error text); an
            # upstream figure seen on the way (Anthropic's message_start) counts where it says more
            delivered = estimate_from_size(self.sent_chars, self.sent_bytes)
            prompt = usage.prompt_tokens if usage is not None and usage.prompt_tokens else self.facts.prompt_estimate
            reported = usage.completion_tokens if usage is not None else 0
            completion = max(reported, delivered)
            rec["prompt_tokens"] = prompt
            rec["completion_tokens"] = completion
            rec["total_tokens"] = prompt + completion
            rec["cached_tokens"] = usage.cached_tokens if usage is not None else 0
            rec["estimated"] = usage is None or completion != reported
        first_token = self.ttft or self.first_yield
        if first_token is not None:
            rec["ttft_ms"] = int((first_token - self.started) * 1000)
        code = self.error_code
        if code is not None and code != "client_disconnected":
            self.relay.health.failure(rec["channel_id"], f"stream cut after its start: {code}")
        # a caller who left is recorded 499 and still pays for what it was sent
        await self.relay.finish(self.ex, 499 if code == "client_disconnected" else 200, code, delivered=True)
