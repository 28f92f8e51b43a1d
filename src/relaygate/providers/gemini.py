"""Google Gemini upstreams: x-goog-api-key auth, the model in the URL, SSE streams with alt=sse.

The channel's base URL includes the version path (https://generativelanguage.googleapis.com/v1beta).
"""

from __future__ import annotations

from typing import Any

import orjson

from relaygate.core.domain import ChannelRecord
from relaygate.protocols import openai as wire
from relaygate.protocols.usage import Usage
from relaygate.providers.base import UpstreamRequest, join


def gemini_usage(obj: Any) -> Usage | None:
    raw = obj.get("usageMetadata") if isinstance(obj, dict) else None
    if not isinstance(raw, dict):
        return None
    completion = int(raw.get("candidatesTokenCount") or 0) + int(raw.get("thoughtsTokenCount") or 0)
    return Usage(int(raw.get("promptTokenCount") or 0), completion, int(raw.get("totalTokenCount") or 0),
                 int(raw.get("cachedContentTokenCount") or 0), int(raw.get("thoughtsTokenCount") or 0))


class Gemini:
    protocol = "gemini"
    dialect = "gemini"
    operations = frozenset({"chat"})

    def build(self, channel: ChannelRecord, secret: str, operation: str, body: bytes, model: str,
              stream: bool, headers: dict[str, str]) -> UpstreamRequest:
        action = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return UpstreamRequest("POST", join(channel.base_url, f"models/{model}:{action}"),
                               {"Content-Type": "application/json", "x-goog-api-key": secret, **headers}, body)

    def probe(self, channel: ChannelRecord, secret: str) -> UpstreamRequest:
        return UpstreamRequest("GET", join(channel.base_url, "models"), {"x-goog-api-key": secret}, None)

    def usage(self, operation: str, body: bytes) -> Usage | None:
        try:
            return gemini_usage(orjson.loads(body))
        except orjson.JSONDecodeError:
            return None

    def error_detail(self, body: bytes) -> str:
        return wire.error_message(body)


PROVIDER = Gemini()
