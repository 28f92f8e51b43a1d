"""A fake OpenAI-compatible upstream: deterministic answers, streams, and scripted failures.

It is the built-in demo upstream of ``relaygate serve`` (``relaygate demo`` runs it alone) and the
upstream every test talks to over a real socket. Failures are scripted through a small control API:

- ``POST /_fake/plan`` ``{"model": "name or *", "behaviors": [{"kind": ...}, ...], "sticky": false}``
  queues behaviours for requests naming that upstream model (``*``: any model);
- ``GET /_fake/requests`` lists what was received (path, query string, headers, JSON body);
- ``POST /_fake/reset`` clears plans and the request log.

Behaviour kinds: ``ok``; ``status`` (``status``, optional ``body``, ``headers``); ``stall`` (sleep
``seconds`` before answering); ``stall_after_first`` (stream: sleep after the first chunk, or after
chunk ``after``); ``reset`` (drop the connection before answering); ``reset_mid_stream`` (after
``after`` chunks); ``no_usage`` (never report usage); ``no_done`` (end a stream without ``[DONE]``);
``slow`` (sleep ``seconds`` between stream chunks); ``garbage`` (200 whose body, or first stream
event, is not JSON); ``spaced`` (or ``"spaced": true`` on any stream behaviour: events written with
spaces after ``:`` and ``,`` and non-ASCII escaped as ``\\uXXXX``, as many upstreams do);
``error_mid_stream`` (after ``after`` chunks an error event, then the end); ``big`` (chat, non-stream:
an answer of ``size`` characters in 16 KB writes; ``cut_at`` bytes then a dropped connection, or
``html``: a page of that size instead of JSON).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from relaygate.fakeupstream.dialects import add_routes
from relaygate.fakeupstream.media import add_media_routes
from relaygate.fakeupstream.vertex import add_vertex_routes

BANNER = "relaygate demo upstream (not a real model)"


@dataclass
class FakeState:
    plans: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    sticky: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    expected_key: str | None = None
    active_streams: int = 0
    cancelled_streams: int = 0
    compress: bool = False  # answer gzip/deflate when the request accepts it, as upstreams behind a CDN do

    def next_behavior(self, model: str) -> dict[str, Any]:
        for name in (model, "*"):
            queue = self.plans.get(name)
            if queue:
                return queue.pop(0)
            if name in self.sticky:
                return self.sticky[name]
        return {"kind": "ok"}


def _text_of(body: dict[str, Any]) -> str:
    messages = body.get("messages")
    if isinstance(messages, list):
        for msg in reversed(messages):
            if isinstance(msg, dict) and msg.get("role") == "user":
                content = msg.get("content")
                if isinstance(content, str):
                    return content
                if isinstance(content, list):
                    return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and prompt and isinstance(prompt[0], str):
        return prompt[0]
    return ""


def count_tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4)


def answer_for(body: dict[str, Any]) -> str:
    said = _text_of(body).strip().replace("\n", " ")
    return f"Hello from the {BANNER}. You said: {said[:80]}" if said else f"Hello from the {BANNER}."


def _prompt_tokens(body: dict[str, Any]) -> int:
    return count_tokens(orjson.dumps(body.get("messages") or body.get("prompt") or body.get("input") or "")
                        .decode())


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class FakeUpstream:
    def __init__(self, expected_key: str | None = None) -> None:
        self.state = FakeState(expected_key=expected_key)
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        r = self.app.router
        r.add_post("/v1/chat/completions", self.chat)
        r.add_post("/v1/completions", self.completions)
        r.add_post("/v1/embeddings", self.embeddings)
        r.add_get("/v1/models", self.models)
        r.add_post("/_fake/plan", self.plan)
        r.add_get("/_fake/requests", self.list_requests)
        r.add_post("/_fake/reset", self.reset)
        r.add_get("/_fake/stats", self.stats)
        add_routes(self)
        add_vertex_routes(self)
        self.media = add_media_routes(self)
        self.app.middlewares.append(self._compressed)
        self.runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self.runner = web.AppRunner(self.app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self.port

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def encode(self, request: web.Request, response: web.StreamResponse) -> None:
        """Compress ``response`` (before it is prepared) when asked to and the request accepts gzip."""
        if self.state.compress and "gzip" in request.headers.get("Accept-Encoding", ""):
            response.enable_compression()

    @web.middleware
    async def _compressed(self, request: web.Request, handler: Any) -> web.StreamResponse:
        response: web.StreamResponse = await handler(request)
        if not response.prepared:  # whole answers; streams call encode() themselves before prepare()
            self.encode(request, response)
        return response

    # --- control API ------------------------------------------------------------------------

    async def plan(self, request: web.Request) -> web.Response:
        data = await request.json()
        model = data.get("model", "*")
        if data.get("sticky"):
            self.state.sticky[model] = data["behaviors"][0]
        else:
            self.state.plans.setdefault(model, []).extend(data["behaviors"])
        return web.json_response({"ok": True})

    async def list_requests(self, request: web.Request) -> web.Response:
        return web.json_response(self.state.requests)

    async def reset(self, request: web.Request) -> web.Response:
        self.state.plans.clear()
        self.state.sticky.clear()
        self.state.requests.clear()
        return web.json_response({"ok": True})

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response({"active_streams": self.state.active_streams,
                                  "cancelled_streams": self.state.cancelled_streams})

    # --- shared request handling ------------------------------------------------------------

    async def _begin(self, request: web.Request) -> tuple[dict[str, Any], dict[str, Any]] | web.Response:
        return await self.begin(request)

    async def begin(self, request: web.Request, auth: tuple[str, ...] = (),
                    model: str | None = None) -> tuple[dict[str, Any], dict[str, Any]] | web.Response:
        """Record the request, check its key (Bearer, or one of the ``auth`` headers), pick a behaviour."""
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            return _error(400, "invalid JSON body", "invalid_request_error")
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.state.requests.append({"path": request.path, "query": request.query_string, "headers": headers,
                                    "body": body, "raw": raw.decode("utf-8", "replace"), "at": time.time()})
        header = request.headers.get("Authorization", "")
        presented = header[7:].strip() if header.startswith("Bearer ") else ""
        for name in auth:
            presented = presented or request.headers.get(name, "").strip()
        if not presented:
            return _error(401, "You didn't provide an API key.", "invalid_request_error")
        if self.state.expected_key and presented != self.state.expected_key:
            return _error(401, f"Incorrect API key provided: {presented}.", "invalid_request_error")
        behavior = self.state.next_behavior(model or str(body.get("model", "")))
        kind = behavior.get("kind", "ok")
        if kind == "stall":
            await asyncio.sleep(float(behavior.get("seconds", 30)))
        if kind == "reset":
            assert request.transport is not None
            request.transport.close()
            raise asyncio.CancelledError
        if kind == "garbage" and not body.get("stream"):
            return web.Response(status=200, body=b'<html><body>502 Bad Gateway</body></html>{"id": "chatcmpl-',
                                content_type="application/json")
        if kind == "status":
            status = int(behavior.get("status", 500))
            payload = behavior.get("body") or {"error": {"message": f"fake upstream error {status}",
                                                         "type": "server_error", "code": None}}
            return web.json_response(payload, status=status, headers=behavior.get("headers"))
        return body, behavior

    async def chat(self, request: web.Request) -> web.StreamResponse:
        begun = await self._begin(request)
        if isinstance(begun, web.StreamResponse):
            return begun
        body, behavior = begun
        text = answer_for(body)
        prompt = _prompt_tokens(body)
        model = str(body.get("model"))
        if body.get("stream"):
            words = text.split(" ")
            pieces = [words[0]] + [" " + w for w in words[1:]]
            return await self._stream(request, body, behavior, model, pieces, prompt, chat=True)
        if behavior.get("kind") == "big":
            return await self._big(request, behavior, model, prompt)
        usage = None if behavior.get("kind") == "no_usage" else _usage(prompt, count_tokens(text))
        return web.json_response({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": usage, "system_fingerprint": "fp_fake",
        })

    async def _big(self, request: web.Request, behavior: dict[str, Any], model: str,
                   prompt: int) -> web.StreamResponse:
        """A large answer (``size`` characters of text, non-ASCII and escapes included) written in 16 KB
        pieces; ``cut_at`` drops the connection after that many bytes, ``html`` answers a page instead."""
        size = int(behavior.get("size", 300_000))
        text = ('Line "%d" of a long answer, naïve café 日本語\n' * (size // 40 + 1))[:size]
        raw = orjson.dumps({"id": "chatcmpl-big", "object": "chat.completion", "created": int(time.time()),
                            "model": model, "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                                         "finish_reason": "stop"}],
                            "usage": _usage(prompt, count_tokens(text))})
        if behavior.get("html"):
            raw = b"<html><body>" + b"<p>an error page</p>" * (size // 20) + b"</body></html>"
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.content_length = len(raw)
        await resp.prepare(request)
        cut = int(behavior.get("cut_at", 0))
        for start in range(0, len(raw), 16384):
            if cut and start >= cut:
                assert request.transport is not None
                request.transport.close()
                return resp
            await resp.write(raw[start:start + 16384])
            await asyncio.sleep(0)
        await resp.write_eof()
        return resp

    async def completions(self, request: web.Request) -> web.StreamResponse:
        begun = await self._begin(request)
        if isinstance(begun, web.StreamResponse):
            return begun
        body, behavior = begun
        text = answer_for(body)
        prompt = _prompt_tokens(body)
        model = str(body.get("model"))
        if body.get("stream"):
            words = text.split(" ")
            pieces = [words[0]] + [" " + w for w in words[1:]]
            return await self._stream(request, body, behavior, model, pieces, prompt, chat=False)
        return web.json_response({
            "id": "cmpl-fake", "object": "text_completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": "stop"}],
            "usage": _usage(prompt, count_tokens(text)),
        })

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        begun = await self._begin(request)
        if isinstance(begun, web.StreamResponse):
            return begun
        body, _ = begun
        inputs = body.get("input")
        items = inputs if isinstance(inputs, list) else [inputs]
        dims = int(body.get("dimensions") or 8)
        data = []
        total = 0
        for i, item in enumerate(items):
            text = item if isinstance(item, str) else orjson.dumps(item).decode()
            total += count_tokens(text)
            digest = hashlib.sha256(text.encode()).digest()
            vec = [round((digest[j % 32] - 128) / 128, 6) for j in range(dims)]
            emb: Any = vec
            if body.get("encoding_format") == "base64":
                emb = base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode()
            data.append({"object": "embedding", "index": i, "embedding": emb})
        return web.json_response({"object": "list", "data": data, "model": body.get("model"),
                                  "usage": {"prompt_tokens": total, "total_tokens": total}})

    async def models(self, request: web.Request) -> web.Response:
        self.state.requests.append({"path": request.path, "headers": {k.lower(): v for k, v in
                                    request.headers.items()}, "body": None, "raw": "", "at": time.time()})
        return web.json_response({"object": "list", "data": [
            {"id": name, "object": "model", "created": 1700000000, "owned_by": "relaygate-demo"}
            for name in ("demo-chat", "demo-embedding", "demo-image", "demo-speech", "demo-transcribe", "demo-video")]})

    async def _stream(self, request: web.Request, body: dict[str, Any], behavior: dict[str, Any], model: str,
                      pieces: list[str], prompt: int, chat: bool) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        self.encode(request, resp)
        await resp.prepare(request)
        kind = behavior.get("kind")
        if kind == "garbage":
            await resp.write(b'data: <html>upstream proxy error</html>\n\ndata: {"id": "chatcmpl-fake", "choi\n\n')
            await resp.write_eof()
            return resp
        created = int(time.time())
        obj = "chat.completion.chunk" if chat else "text_completion"

        def chunk(delta: str | None, finish: str | None = None, role: bool = False) -> bytes:
            if chat:
                d: dict[str, Any] = {"role": "assistant", "content": ""} if role else (
                    {"content": delta} if delta is not None else {})
                choice: dict[str, Any] = {"index": 0, "delta": d, "logprobs": None, "finish_reason": finish}
            else:
                choice = {"index": 0, "text": delta or "", "logprobs": None, "finish_reason": finish}
            payload = {"id": "chatcmpl-fake", "object": obj, "created": created, "model": model,
                       "choices": [choice]}
            if kind == "spaced" or behavior.get("spaced"):  # json's default spacing, non-ASCII as \\uXXXX
                return b"data: " + json.dumps(payload).encode() + b"\n\n"
            return b"data: " + orjson.dumps(payload) + b"\n\n"

        events = ([chunk(None, role=True)] if chat else []) + [chunk(p) for p in pieces] + [chunk(None, "stop")]
        options = body.get("stream_options") or {}
        if options.get("include_usage") and kind != "no_usage":
            usage = _usage(prompt, count_tokens("".join(pieces)))
            last = {"id": "chatcmpl-fake", "object": obj, "created": created, "model": model, "choices": [],
                    "usage": usage}
            spaced = kind == "spaced" or behavior.get("spaced")
            events.append(b"data: " + (json.dumps(last).encode() if spaced else orjson.dumps(last)) + b"\n\n")
        if kind != "no_done":
            events.append(b"data: [DONE]\n\n")
        self.state.active_streams += 1
        try:
            for i, event in enumerate(events):
                if kind == "error_mid_stream" and i == int(behavior.get("after", 2)):
                    message = "The server had an error while processing your request. Sorry about that! " * 8
                    await resp.write(b"data: " + orjson.dumps({"error": {"message": message, "type": "server_error",
                                                                         "content": message}}) + b"\n\n")
                    await resp.write_eof()
                    return resp
                if kind == "reset_mid_stream" and i == int(behavior.get("after", 2)):
                    assert request.transport is not None
                    request.transport.close()
                    return resp
                await resp.write(event)
                if kind == "stall_after_first" and i == int(behavior.get("after", 0)):
                    await asyncio.sleep(float(behavior.get("seconds", 30)))
                if kind == "slow":
                    await asyncio.sleep(float(behavior.get("seconds", 0.05)))
            await resp.write_eof()
        except (asyncio.CancelledError, ConnectionResetError):
            self.state.cancelled_streams += 1
            raise
        finally:
            self.state.active_streams -= 1
        return resp


def _error(status: int, message: str, type_: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": type_, "code": None}}, status=status)


async def serve_forever(host: str, port: int) -> None:
    fake = FakeUpstream()
    await fake.start(host, port)
    try:
        await asyncio.Event().wait()
    finally:
        await fake.stop()
