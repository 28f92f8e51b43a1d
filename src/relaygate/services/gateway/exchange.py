"""What travels along the request path, and the interfaces the path owns.

``Inbound`` is what the web layer hands the pipeline, ``Exchange`` one request's state across it,
``Outcome`` what goes back. ``Pipeline`` is what a stream relay or the old-entry route needs of
the relay, and ``OldEntry`` is the rollout's old-entry route as the relay sees it: the rollout
implements it and ``app`` injects it, so the request path never imports the rollout.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from relaygate.core.domain import KeyRecord
from relaygate.protocols.usage import Usage
from relaygate.services.gateway.gate import Pass
from relaygate.services.gateway.health import HealthBoard
from relaygate.services.gateway.state import GatewayState
from relaygate.store.spool import Spool


class BodyStream(Protocol):
    """A streamed answer: the web layer iterates it, then closes it."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class Inbound:
    """What the web layer hands the pipeline: no framework objects."""

    endpoint: str
    path: str
    host: str
    headers: Mapping[str, str]
    body: bytes
    client_ip: str | None
    request_id: str
    lang: str = "en"
    query_key: str | None = None
    dialect: str = "openai"  # the caller's wire format: openai, anthropic, responses, gemini
    operation: str = "chat"  # chat, completions, embeddings, count_tokens
    path_model: str | None = None  # Gemini names the model in the path
    path_stream: bool = False  # …and streaming too (:streamGenerateContent)
    query: str = ""  # the raw query string, kept for the legacy route


@dataclass(slots=True)
class Exchange:
    """One request's state across the pipeline: its usage record, and what it took of limits and money."""

    rec: dict[str, Any]
    started: float
    admitted: Pass | None = None
    key: KeyRecord | None = None
    chat: dict[str, Any] | None = None  # the request in the internal form, once translated
    finished: bool = False
    overhead: float | None = None  # seconds spent here before the answering upstream attempt was sent
    traceparent: str | None = None  # the caller's W3C trace context, kept only when tracing is on


def record_usage(rec: dict[str, Any], usage: Usage) -> None:
    """The upstream's figures into a usage record."""
    rec["prompt_tokens"] = usage.prompt_tokens
    rec["completion_tokens"] = usage.completion_tokens
    rec["total_tokens"] = usage.total_tokens
    rec["cached_tokens"] = usage.cached_tokens


@dataclass(slots=True)
class Outcome:
    status: int
    content_type: str
    body: bytes = b""
    stream: BodyStream | None = None
    headers: dict[str, str] = field(default_factory=dict)


class Pipeline(Protocol):
    """What a stream relay or the old-entry route needs of the relay."""

    state: GatewayState
    session: aiohttp.ClientSession
    health: HealthBoard

    async def finish(self, ex: Exchange, status: int, error_code: str | None,
                     delivered: bool | None = None) -> None: ...

    @property
    def usage_spool(self) -> Spool | None: ...

    def progress(self, ex: Exchange, prompt_tokens: int, completion_tokens: int,
                 cached_tokens: int) -> dict[str, Any] | None: ...


@dataclass(frozen=True, slots=True)
class LegacyTarget:
    """The old entry's root URL (e.g. http://old-gateway:3000) and the batch that sent the key there."""

    base_url: str
    batch: str | None = None
    connect_timeout: float = 10.0
    first_byte_timeout: float = 300.0
    total_timeout: float = 900.0


class OldEntry(Protocol):
    """During a rollout: which keys still go to the old entry, and how they get there."""

    def legacy_target(self, key: KeyRecord | None) -> LegacyTarget | None:
        """Where an authenticated key (or, with None, a key relaygate does not know) should go."""
        ...

    async def forward(self, relay: Pipeline, inbound: Inbound, ex: Exchange, target: LegacyTarget) -> Outcome:
        """Forward the request unchanged to the old entry and record it."""
        ...

    def old_entry(self, key: KeyRecord) -> LegacyTarget | None:
        """Where an imported key's tasks created on the old side are still polled, switched or not."""
        ...

    async def forward_stream(self, relay: Pipeline, inbound: Inbound, ex: Exchange, target: LegacyTarget,
                             method: str, body: bytes | AsyncIterable[bytes] | None) -> Outcome:
        """Forward a media request unchanged (its body as it streams in) and relay the answer as it comes."""
        ...
