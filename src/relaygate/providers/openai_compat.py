"""OpenAI-compatible upstreams (OpenAI, DeepSeek, vLLM, Ollama, One API…): the body passes through."""

from __future__ import annotations

from relaygate.core.domain import ChannelRecord
from relaygate.protocols import openai as wire
from relaygate.protocols.usage import Usage
from relaygate.providers.base import UpstreamRequest


class OpenAICompatible:
    protocol = "openai"
    endpoints = frozenset({"chat/completions", "completions", "embeddings"})

    def build(self, channel: ChannelRecord, secret: str, endpoint: str, body: bytes,
              passthrough: dict[str, str]) -> UpstreamRequest:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {secret}"}
        headers.update(passthrough)
        extra = channel.options.get("headers")
        if isinstance(extra, dict):
            headers.update({str(k): str(v) for k, v in extra.items()})
        return UpstreamRequest("POST", f"{channel.base_url.rstrip('/')}/{endpoint}", headers, body)

    def probe(self, channel: ChannelRecord, secret: str) -> UpstreamRequest:
        return UpstreamRequest("GET", f"{channel.base_url.rstrip('/')}/models",
                               {"Authorization": f"Bearer {secret}"}, None)

    def usage(self, endpoint: str, body: bytes) -> Usage | None:
        return wire.usage_from_body(body)

    def observer(self, caller_asked_usage: bool) -> wire.StreamObserver:
        return wire.StreamObserver(hide_usage_chunk=not caller_asked_usage)

    def error_detail(self, body: bytes) -> str:
        return wire.error_message(body)


PROVIDER = OpenAICompatible()
