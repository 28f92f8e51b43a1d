"""The one small interface every upstream protocol implements: build requests, read answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from relaygate.core.domain import ChannelRecord
from relaygate.protocols.usage import Usage


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None


class Provider(Protocol):
    """A provider turns a relay call into an upstream HTTP request and reads the answer. No I/O.

    ``dialect`` names the wire format the upstream speaks (openai, anthropic, gemini, responses);
    when it equals the caller's, bytes pass through; otherwise the relay translates.
    ``operations``: chat, completions, embeddings, count_tokens.
    """

    protocol: str
    dialect: str
    operations: frozenset[str]

    def build(self, channel: ChannelRecord, secret: str, operation: str, body: bytes, model: str,
              stream: bool, headers: dict[str, str]) -> UpstreamRequest: ...

    def probe(self, channel: ChannelRecord, secret: str) -> UpstreamRequest: ...

    def usage(self, operation: str, body: bytes) -> Usage | None: ...

    def error_detail(self, body: bytes) -> str: ...


def join(base_url: str, path: str) -> str:
    return f"{base_url.rstrip('/')}/{path.lstrip('/')}"
