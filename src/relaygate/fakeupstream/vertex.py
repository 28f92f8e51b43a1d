"""Vertex AI for the fake upstream: an OAuth token endpoint for service-account JWTs, the Vertex
generateContent path (answered as Gemini) and the Anthropic publisher's rawPredict /
streamRawPredict / count-tokens (answered as Anthropic Messages), which accept only tokens it issued
(or, for Gemini, an API key). Claude requests are held to what Vertex requires, as the official
``AnthropicVertex`` client sends them: the model in the URL and not in the body, an
``anthropic_version`` (``vertex-2023-10-16``, or a dated one as newer clients send), a stream on
streamRawPredict only."""

from __future__ import annotations

import base64
import functools
import re
import secrets
import weakref
from typing import Any

import orjson
from aiohttp import web

from relaygate.fakeupstream.dialects import FakeUpstream, _tokens, anthropic_answer, gemini_generate

_DATED = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISSUED: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()  # fake -> tokens it issued


def _claims(assertion: str) -> dict[str, Any] | None:
    parts = assertion.split(".")
    if len(parts) != 3:
        return None
    try:
        header = orjson.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
        claims = orjson.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        return None
    return claims if header.get("alg") == "RS256" and isinstance(claims, dict) else None


async def token(fake: FakeUpstream, request: web.Request) -> web.Response:
    form = await request.post()
    claims = _claims(str(form.get("assertion") or ""))
    grant = form.get("grant_type")
    if grant != "urn:ietf:params:oauth:grant-type:jwt-bearer" or claims is None or not claims.get("iss") \
            or "cloud-platform" not in str(claims.get("scope")):
        return web.json_response({"error": "invalid_grant", "error_description": "Invalid JWT"}, status=400)
    issued = _ISSUED.setdefault(fake, set())
    value = "ya29.fake-" + secrets.token_hex(8)
    issued.add(value)
    return web.json_response({"access_token": value, "expires_in": 3599, "token_type": "Bearer"})


async def generate(fake: FakeUpstream, request: web.Request) -> web.StreamResponse:
    header = request.headers.get("Authorization", "")
    issued = _ISSUED.get(fake, set())
    if not request.headers.get("x-goog-api-key") and header.removeprefix("Bearer ") not in issued:
        return web.json_response({"error": {"code": 401, "message": "Request had invalid authentication "
                                            "credentials.", "status": "UNAUTHENTICATED"}}, status=401)
    return await gemini_generate(fake, request)


def _invalid(message: str) -> web.Response:
    return web.json_response({"type": "error", "error": {"type": "invalid_request_error", "message": message}},
                             status=400)


async def claude(fake: FakeUpstream, request: web.Request) -> web.StreamResponse:
    if request.headers.get("Authorization", "").removeprefix("Bearer ") not in _ISSUED.get(fake, set()):
        return web.json_response({"error": {"code": 401, "message": "Request had invalid authentication "
                                            "credentials.", "status": "UNAUTHENTICATED"}}, status=401)
    model, action = request.match_info["model"], request.match_info["action"]
    begun = await fake.begin(request, model=model)
    if isinstance(begun, web.StreamResponse):
        return begun
    body, behavior = begun
    version = str(body.get("anthropic_version") or "")
    if version != "vertex-2023-10-16" and not _DATED.fullmatch(version):  # newer clients send a dated version
        return _invalid("anthropic_version: Field required (vertex-2023-10-16)")
    if model == "count-tokens" and action == "rawPredict":
        return web.json_response({"input_tokens": _tokens(orjson.dumps(body.get("messages") or []).decode())})
    if "model" in body:
        return _invalid("model: Extra inputs are not permitted")
    if action not in ("rawPredict", "streamRawPredict") or bool(body.get("stream")) != (action == "streamRawPredict"):
        return _invalid(f"{action} does not match stream={bool(body.get('stream'))}")
    return await anthropic_answer(request, body, behavior, model)


def add_vertex_routes(fake: FakeUpstream) -> None:
    r = fake.app.router
    r.add_post("/token", functools.partial(token, fake))
    r.add_post("/v1/projects/{project}/locations/{region}/publishers/google/models/{model}:{action}",
               functools.partial(generate, fake))
    r.add_post("/v1/publishers/google/models/{model}:{action}", functools.partial(generate, fake))
    r.add_post("/v1/projects/{project}/locations/{region}/publishers/anthropic/models/{model}:{action}",
               functools.partial(claude, fake))
