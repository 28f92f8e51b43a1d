"""Google Vertex AI: Gemini models (Gemini's wire format) and Claude models (Anthropic's) on
``{region}-aiplatform.googleapis.com``.

A channel's secret is a service-account key (the JSON Google issues; One API kept it in
``config.vertex_ai_adc``, New API in the key column) or, with ``options.key_type: api_key``, an API
key (Vertex express mode). ``options.project`` (default: the key's ``project_id``) and
``options.region`` (default ``us-central1``; ``global`` uses the global host) place the model:
``{base}/v1/projects/{project}/locations/{region}/publishers/google/models/{model}:generateContent``.
The base URL is ``https://{region}-aiplatform.googleapis.com`` unless the channel names one.

A service-account key is exchanged for an access token (a JWT signed with the key, RS256, posted to
the key's ``token_uri``) by ``prepare``, which the relay awaits before ``build``; tokens are kept
until five minutes before they expire, so a request pays for the exchange about once an hour.

A model whose name starts with ``claude`` goes to the ``anthropic`` publisher (``for_model`` hands it
to ``ClaudeOnVertex``): the Messages body without ``model``, with ``anthropic_version:
vertex-2023-10-16``, posted to ``…/publishers/anthropic/models/{model}:rawPredict`` (a stream:
``:streamRawPredict``; Anthropic's SSE comes back), as the official ``AnthropicVertex`` client
sends it; token counting at ``…/models/count-tokens:rawPredict``. Claude needs a service-account
key: Vertex's API keys (express mode) reach Gemini models only.
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from relaygate.core.domain import ChannelRecord
from relaygate.protocols import openai as wire
from relaygate.protocols.usage import Usage
from relaygate.providers.anthropic import PROVIDER as ANTHROPIC
from relaygate.providers.base import UpstreamRequest, join
from relaygate.providers.gemini import gemini_usage

if TYPE_CHECKING:  # the relay has aiohttp loaded; the migration planner reads keys without it
    import aiohttp

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
DEFAULT_REGION = "us-central1"
TOKEN_URI = "https://oauth2.googleapis.com/token"
REFRESH_MARGIN = 300.0  # seconds before expiry a token is renewed
ANTHROPIC_VERSION = "vertex-2023-10-16"  # the only value Vertex accepts in a Claude request body


class VertexAuthError(ValueError):
    """The key cannot be used: not a service-account JSON, or the token exchange failed."""


@dataclass(slots=True)
class _Token:
    value: str
    expires: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def service_account(secret: str) -> dict[str, Any] | None:
    """The service-account key a secret holds (New API's JSON list: its first key), else None."""
    text = secret.strip()
    if not text.startswith(("{", "[")):
        return None
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, list):
        data = data[0] if data else None
    return data if isinstance(data, dict) and data.get("private_key") and data.get("client_email") else None


def signed_assertion(key: dict[str, Any], now: float) -> str:
    """The JWT a service account presents for an access token (RFC 7523), signed RS256 with its key."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    header = {"alg": "RS256", "typ": "JWT", **({"kid": key["private_key_id"]} if key.get("private_key_id") else {})}
    claims = {"iss": key["client_email"], "scope": SCOPE, "aud": key.get("token_uri") or TOKEN_URI,
              "iat": int(now), "exp": int(now) + 3600}
    signing_input = f"{_b64(orjson.dumps(header))}.{_b64(orjson.dumps(claims))}".encode()
    try:
        private = serialization.load_pem_private_key(str(key["private_key"]).encode(), password=None)
    except ValueError as exc:
        raise VertexAuthError("the service-account key's private_key is not a PEM RSA key") from exc
    if not isinstance(private, rsa.RSAPrivateKey):
        raise VertexAuthError("the service-account key's private_key is not an RSA key")
    signature = private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input.decode()}.{_b64(signature)}"


class Vertex:
    protocol = "vertex"
    dialect = "gemini"
    operations = frozenset({"chat"})

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str, str], _Token] = {}
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}
        self.claude = ClaudeOnVertex(self)

    def for_model(self, model: str) -> Vertex | ClaudeOnVertex:
        """The publisher that serves ``model``: Anthropic's for Claude models, Google's for the rest."""
        return self.claude if model.startswith("claude") else self

    # --- auth -----------------------------------------------------------------------------------

    async def prepare(self, session: aiohttp.ClientSession, channel: ChannelRecord, secret: str) -> str:
        """The credential ``build`` sends: the API key as is, else a (cached) access token."""
        if channel.options.get("key_type") == "api_key":
            return secret
        key = service_account(secret)
        if key is None:
            raise VertexAuthError("the channel's secret is not a service-account key (JSON with private_key "
                                  "and client_email); set options.key_type: api_key for an API key")
        uri = str(key.get("token_uri") or TOKEN_URI)
        ident = (str(key["client_email"]), str(key.get("private_key_id") or ""), uri)
        token = self._tokens.get(ident)
        if token is not None and token.expires - REFRESH_MARGIN > time.time():
            return token.value
        lock = self._locks.setdefault(ident, asyncio.Lock())
        async with lock:  # one exchange at a time per key, the others reuse its token
            token = self._tokens.get(ident)
            if token is not None and token.expires - REFRESH_MARGIN > time.time():
                return token.value
            now = time.time()
            form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                    "assertion": signed_assertion(key, now)}
            from aiohttp import ClientTimeout

            async with session.post(uri, data=form, timeout=ClientTimeout(total=15)) as resp:
                raw = await resp.read()
                if resp.status >= 400:
                    raise VertexAuthError(f"the token exchange at {uri} answered HTTP {resp.status}: "
                                          f"{wire.error_message(raw)[:200]}")
            try:
                data = orjson.loads(raw)
                value, ttl = str(data["access_token"]), float(data.get("expires_in") or 3600)
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise VertexAuthError(f"the token exchange at {uri} answered without an access_token") from exc
            self._tokens[ident] = _Token(value, now + ttl)
            return value

    # --- requests -------------------------------------------------------------------------------

    @staticmethod
    def place(channel: ChannelRecord) -> tuple[str, str, str]:
        opts = channel.options
        region = str(opts.get("region") or DEFAULT_REGION)
        host = "https://aiplatform.googleapis.com" if region == "global" else \
            f"https://{region}-aiplatform.googleapis.com"
        base = channel.base_url.rstrip("/") or host
        return base, str(opts.get("project") or ""), region

    @classmethod
    def request(cls, method: str, channel: ChannelRecord, secret: str, path: str, headers: dict[str, str],
                body: bytes | None) -> UpstreamRequest:
        """``path`` under the channel's project and region (an API key: under the global publishers),
        with the credential of the channel's key type."""
        base, project, region = cls.place(channel)
        if channel.options.get("key_type") == "api_key":
            url, auth = join(base, f"v1/{path}"), {"x-goog-api-key": secret}
        else:
            url = join(base, f"v1/projects/{project}/locations/{region}/{path}")
            auth = {"Authorization": f"Bearer {secret}"}
        return UpstreamRequest(method, url, {**({"Content-Type": "application/json"} if body is not None else {}),
                                             **auth, **headers}, body)

    def build(self, channel: ChannelRecord, secret: str, operation: str, body: bytes, model: str,
              stream: bool, headers: dict[str, str]) -> UpstreamRequest:
        action = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return self.request("POST", channel, secret, f"publishers/google/models/{model}:{action}", headers, body)

    def probe(self, channel: ChannelRecord, secret: str) -> UpstreamRequest:
        return self.request("GET", channel, secret, "publishers/google/models", {}, None)

    def usage(self, operation: str, body: bytes) -> Usage | None:
        try:
            return gemini_usage(orjson.loads(body))
        except orjson.JSONDecodeError:
            return None

    def error_detail(self, body: bytes) -> str:
        return wire.error_message(body)


class ClaudeOnVertex:
    """Claude models on Vertex AI: Anthropic's Messages API behind Google's auth and URLs."""

    protocol = "vertex"
    dialect = "anthropic"
    operations = frozenset({"chat", "count_tokens"})

    def __init__(self, vertex: Vertex) -> None:
        self.vertex = vertex  # one token cache for both publishers

    async def prepare(self, session: aiohttp.ClientSession, channel: ChannelRecord, secret: str) -> str:
        return await self.vertex.prepare(session, channel, secret)

    def build(self, channel: ChannelRecord, secret: str, operation: str, body: bytes, model: str,
              stream: bool, headers: dict[str, str]) -> UpstreamRequest:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict):  # the model is in the URL; the API version in the body
            if operation == "count_tokens":
                data["model"] = model
            else:
                data.pop("model", None)
            data.setdefault("anthropic_version", ANTHROPIC_VERSION)
            body = orjson.dumps(data)
        target = "count-tokens:rawPredict" if operation == "count_tokens" else \
            f"{model}:{'streamRawPredict' if stream else 'rawPredict'}"
        return Vertex.request("POST", channel, secret, f"publishers/anthropic/models/{target}", headers, body)

    def probe(self, channel: ChannelRecord, secret: str) -> UpstreamRequest:
        return self.vertex.probe(channel, secret)

    def usage(self, operation: str, body: bytes) -> Usage | None:
        return ANTHROPIC.usage(operation, body)  # Anthropic's answers, Anthropic's usage

    def error_detail(self, body: bytes) -> str:
        return ANTHROPIC.error_detail(body)


PROVIDER = Vertex()
