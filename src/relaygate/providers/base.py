"""The one small interface every upstream protocol implements: build requests, read answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from relaygate.core.domain import ChannelRecord
from relaygate.protocols.openai import StreamObserver
from relaygate.protocols.usage import Usage


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None


class Provider(Protocol):
    """A provider turns a relay call into an upstream HTTP request and reads the answer. No I/O."""

    protocol: str
    endpoints: frozenset[str]

    def build(self, channel: ChannelRecord, secret: str, endpoint: str, body: bytes,
              passthrough: dict[str, str]) -> UpstreamRequest: ...

    def probe(self, channel: ChannelRecord, secret: str) -> UpstreamRequest: ...

    def usage(self, endpoint: str, body: bytes) -> Usage | None: ...

    def observer(self, caller_asked_usage: bool) -> StreamObserver: ...

    def error_detail(self, body: bytes) -> str: ...
