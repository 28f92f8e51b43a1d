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

    Optional hooks: ``prepare(session, channel, secret)`` turns the channel's secret into the
    credential ``build`` sends (Vertex AI: an access token); ``for_model(model)`` hands a model to a
    sibling provider when one protocol serves models in several wire formats (Vertex AI: Gemini
    models in Gemini's, Claude models in Anthropic's). ``provider_for`` applies it.
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


def provider_for(provider: Provider | None, model: str) -> Provider | None:
    """The provider that serves ``model`` on a channel of ``provider``'s protocol."""
    pick = getattr(provider, "for_model", None)
    return pick(model) if pick is not None else provider
