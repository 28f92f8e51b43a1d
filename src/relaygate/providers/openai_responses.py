"""OpenAI Responses API upstreams: POST {base}/responses with Bearer auth."""

from __future__ import annotations

from relaygate.core.domain import ChannelRecord
from relaygate.protocols import openai as wire
from relaygate.protocols.usage import Usage
from relaygate.providers.base import UpstreamRequest, join


class OpenAIResponses:
    protocol = "openai-responses"
    dialect = "responses"
    operations = frozenset({"chat"})

    def build(self, channel: ChannelRecord, secret: str, operation: str, body: bytes, model: str,
              stream: bool, headers: dict[str, str]) -> UpstreamRequest:
        return UpstreamRequest("POST", join(channel.base_url, "responses"),
                               {"Content-Type": "application/json", "Authorization": f"Bearer {secret}", **headers},
                               body)

    def probe(self, channel: ChannelRecord, secret: str) -> UpstreamRequest:
        return UpstreamRequest("GET", join(channel.base_url, "models"), {"Authorization": f"Bearer {secret}"}, None)

    def usage(self, operation: str, body: bytes) -> Usage | None:
        return wire.usage_from_body(body)  # input_tokens / output_tokens are read as aliases

    def error_detail(self, body: bytes) -> str:
        return wire.error_message(body)


PROVIDER = OpenAIResponses()
