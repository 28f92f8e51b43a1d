"""OpenAI-compatible upstreams (OpenAI, DeepSeek, vLLM, Ollama, One API…): the body passes through."""

from __future__ import annotations

from relaygate.core.domain import ChannelRecord
from relaygate.protocols import openai as wire
from relaygate.protocols.usage import Usage
from relaygate.providers.base import UpstreamRequest, join

PATHS = {"chat": "chat/completions", "completions": "completions", "embeddings": "embeddings"}


class OpenAICompatible:
    protocol = "openai"
    dialect = "openai"
    operations = frozenset(PATHS)

    def build(self, channel: ChannelRecord, secret: str, operation: str, body: bytes, model: str,
              stream: bool, headers: dict[str, str]) -> UpstreamRequest:
        out = {"Content-Type": "application/json", "Authorization": f"Bearer {secret}", **headers}
        extra = channel.options.get("headers")
        if isinstance(extra, dict):
            out.update({str(k): str(v) for k, v in extra.items()})
        return UpstreamRequest("POST", join(channel.base_url, PATHS[operation]), out, body)

    def probe(self, channel: ChannelRecord, secret: str) -> UpstreamRequest:
        return UpstreamRequest("GET", join(channel.base_url, "models"), {"Authorization": f"Bearer {secret}"}, None)

    def usage(self, operation: str, body: bytes) -> Usage | None:
        return wire.usage_from_body(body)

    def error_detail(self, body: bytes) -> str:
        return wire.error_message(body)


PROVIDER = OpenAICompatible()
