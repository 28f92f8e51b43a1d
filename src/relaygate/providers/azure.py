"""Azure OpenAI: OpenAI's wire format at a deployment URL with an api-version and an api-key header.

The channel's base URL is the resource endpoint (https://NAME.openai.azure.com); the upstream model
name is the deployment name; ``options.api_version`` overrides the default API version.
"""

from __future__ import annotations

from relaygate.core.domain import ChannelRecord
from relaygate.protocols import openai as wire
from relaygate.protocols.usage import Usage
from relaygate.providers.base import UpstreamRequest, join

DEFAULT_API_VERSION = "2024-10-21"
PATHS = {"chat": "chat/completions", "completions": "completions", "embeddings": "embeddings"}


class AzureOpenAI:
    protocol = "azure"
    dialect = "openai"
    operations = frozenset(PATHS)

    def build(self, channel: ChannelRecord, secret: str, operation: str, body: bytes, model: str,
              stream: bool, headers: dict[str, str]) -> UpstreamRequest:
        version = str(channel.options.get("api_version") or DEFAULT_API_VERSION)
        url = join(channel.base_url, f"openai/deployments/{model}/{PATHS[operation]}?api-version={version}")
        return UpstreamRequest("POST", url, {"Content-Type": "application/json", "api-key": secret, **headers}, body)

    def probe(self, channel: ChannelRecord, secret: str) -> UpstreamRequest:
        version = str(channel.options.get("api_version") or DEFAULT_API_VERSION)
        return UpstreamRequest("GET", join(channel.base_url, f"openai/models?api-version={version}"),
                               {"api-key": secret}, None)

    def usage(self, operation: str, body: bytes) -> Usage | None:
        return wire.usage_from_body(body)

    def error_detail(self, body: bytes) -> str:
        return wire.error_message(body)


PROVIDER = AzureOpenAI()
