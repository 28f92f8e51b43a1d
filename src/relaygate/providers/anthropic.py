"""Anthropic Messages upstreams: x-api-key auth, anthropic-version, POST {base}/messages.

The channel's base URL includes the version path (https://api.anthropic.com/v1).
"""

from __future__ import annotations

from typing import Any

import orjson

from relaygate.core.domain import ChannelRecord
from relaygate.protocols import openai as wire
from relaygate.protocols.usage import Usage
from relaygate.providers.base import UpstreamRequest, join

DEFAULT_VERSION = "2023-06-01"


def anthropic_usage(obj: Any) -> Usage | None:
    raw = obj.get("usage") if isinstance(obj, dict) else None
    if not isinstance(raw, dict):
        return None
    cached = int(raw.get("cache_read_input_tokens") or 0)
    created = int(raw.get("cache_creation_input_tokens") or 0)
    prompt = int(raw.get("input_tokens") or 0) + cached + created
    return Usage(prompt, int(raw.get("output_tokens") or 0), 0, cached)


class Anthropic:
    protocol = "anthropic"
    dialect = "anthropic"
    operations = frozenset({"chat", "count_tokens"})

    def build(self, channel: ChannelRecord, secret: str, operation: str, body: bytes, model: str,
              stream: bool, headers: dict[str, str]) -> UpstreamRequest:
        out = {"Content-Type": "application/json", "x-api-key": secret, "anthropic-version": DEFAULT_VERSION}
        out.update(headers)  # the caller's anthropic-version / anthropic-beta when it speaks Anthropic
        path = "messages/count_tokens" if operation == "count_tokens" else "messages"
        return UpstreamRequest("POST", join(channel.base_url, path), out, body)

    def probe(self, channel: ChannelRecord, secret: str) -> UpstreamRequest:
        return UpstreamRequest("GET", join(channel.base_url, "models"),
                               {"x-api-key": secret, "anthropic-version": DEFAULT_VERSION}, None)

    def usage(self, operation: str, body: bytes) -> Usage | None:
        try:
            return anthropic_usage(orjson.loads(body))
        except orjson.JSONDecodeError:
            return None

    def error_detail(self, body: bytes) -> str:
        return wire.error_message(body)


PROVIDER = Anthropic()
