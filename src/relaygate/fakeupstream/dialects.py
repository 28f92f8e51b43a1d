"""The fake upstream's Anthropic Messages, OpenAI Responses and Gemini endpoints: deterministic answers,
real wire shapes."""

from __future__ import annotations

import asyncio
import functools
from typing import Any, Protocol

import orjson
from aiohttp import web


class FakeUpstream(Protocol):
    """What these endpoints need of the fake upstream (fakeupstream/server.py's FakeUpstream)."""

    app: web.Application

    async def begin(self, request: web.Request, auth: tuple[str, ...] = (),
                    model: str | None = None) -> tuple[dict[str, Any], dict[str, Any]] | web.Response: ...

BANNER = "relaygate demo upstream (not a real model)"


def _said(text: str) -> str:
    said = text.strip().replace("\n", " ")[:80]
    return f"Hello from the {BANNER}. You said: {said}" if said else f"Hello from the {BANNER}."


def _tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4)


def _anthropic_text(body: dict[str, Any]) -> str:
    for msg in reversed(body.get("messages") or []):
        if isinstance(msg, dict) and msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


async def anthropic_messages(fake: FakeUpstream, request: web.Request) -> web.StreamResponse:
    begun = await fake.begin(request, auth=("x-api-key",))
    if isinstance(begun, web.StreamResponse):
        return begun
    body, behavior = begun
    return await anthropic_answer(request, body, behavior, str(body.get("model")))


async def anthropic_answer(request: web.Request, body: dict[str, Any], behavior: dict[str, Any],
                           model: str) -> web.StreamResponse:
    """A Messages answer (JSON, or SSE when the body asks for a stream) from ``model``."""
    text = _said(_anthropic_text(body))
    prompt = _tokens(orjson.dumps(body.get("messages") or []).decode())
    output = _tokens(text)
    usage_in = {"input_tokens": prompt, "output_tokens": 1, "cache_read_input_tokens": 0,
                "cache_creation_input_tokens": 0}
    if not body.get("stream"):
        return web.json_response({
            "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {**usage_in, "output_tokens": output}})
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    words = text.split(" ")
    events = [
        _sse("message_start", {"type": "message_start", "message": {
            "id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": usage_in}}),
        _sse("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": {"type": "text", "text": ""}}),
        _sse("ping", {"type": "ping"}),
        *[_sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                       "delta": {"type": "text_delta", "text": (w if i == 0 else " " + w)}})
          for i, w in enumerate(words)],
        _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                               "usage": {"output_tokens": output}}),
        _sse("message_stop", {"type": "message_stop"}),
    ]
    for i, event in enumerate(events):
        if behavior.get("kind") == "reset_mid_stream" and i == int(behavior.get("after", 2)):
            assert request.transport is not None
            request.transport.close()
            return resp
        await resp.write(event)
    await resp.write_eof()
    return resp


async def anthropic_count_tokens(fake: FakeUpstream, request: web.Request) -> web.StreamResponse:
    begun = await fake.begin(request, auth=("x-api-key",))
    if isinstance(begun, web.StreamResponse):
        return begun
    body, _ = begun
    return web.json_response({"input_tokens": _tokens(orjson.dumps(body.get("messages") or []).decode())})


def _gemini_text(body: dict[str, Any]) -> str:
    for content in reversed(body.get("contents") or []):
        if isinstance(content, dict) and content.get("role", "user") == "user":
            return " ".join(p.get("text", "") for p in content.get("parts") or [] if isinstance(p, dict))
    return ""


async def gemini_generate(fake: FakeUpstream, request: web.Request) -> web.StreamResponse:
    begun = await fake.begin(request, auth=("x-goog-api-key",), model=request.match_info["model"])
    if isinstance(begun, web.StreamResponse):
        return begun
    body, behavior = begun
    config = body.get("generationConfig") or {}
    if config.get("responseMimeType") == "application/json":
        text = orjson.dumps({"answer": _said(_gemini_text(body)), "ok": True}).decode()
    else:
        text = _said(_gemini_text(body))
    prompt = _tokens(orjson.dumps(body.get("contents") or []).decode())
    usage = {"promptTokenCount": prompt, "candidatesTokenCount": _tokens(text),
             "totalTokenCount": prompt + _tokens(text)}
    model = request.match_info["model"]

    def answer(part: str, finish: str | None, with_usage: bool) -> dict[str, Any]:
        cand: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": part}]}, "index": 0}
        if finish:
            cand["finishReason"] = finish
        out: dict[str, Any] = {"candidates": [cand], "modelVersion": model, "responseId": "fake-resp"}
        if with_usage:
            out["usageMetadata"] = usage
        return out

    if request.match_info["action"] == "generateContent":
        return web.json_response(answer(text, "STOP", True))
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    pieces = [text[i:i + 16] for i in range(0, len(text), 16)] or [""]
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        if behavior.get("kind") == "reset_mid_stream" and i == int(behavior.get("after", 2)):
            assert request.transport is not None
            request.transport.close()
            return resp
        await resp.write(b"data: " + orjson.dumps(answer(piece, "STOP" if last else None, last)) + b"\r\n\r\n")
        await asyncio.sleep(0)
    await resp.write_eof()
    return resp


async def openai_responses(fake: FakeUpstream, request: web.Request) -> web.StreamResponse:
    """OpenAI's Responses API: one output_text message, streamed as the typed events when asked."""
    begun = await fake.begin(request)
    if isinstance(begun, web.StreamResponse):
        return begun
    body, _ = begun
    said = body.get("input")
    if isinstance(said, list):
        parts: list[str] = []
        for item in said:
            content = item.get("content") if isinstance(item, dict) else None
            if isinstance(content, list):
                parts.extend(str(c.get("text", "")) for c in content if isinstance(c, dict))
        said = " ".join(parts)
    text = _said(said if isinstance(said, str) else "")
    usage: dict[str, Any] = {"input_tokens": _tokens(orjson.dumps(body.get("input") or "").decode()),
                             "output_tokens": _tokens(text),
             "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}
    usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
    message: dict[str, Any] = {"id": "msg_fake", "type": "message", "role": "assistant", "status": "completed",
               "content": [{"type": "output_text", "text": text, "annotations": []}]}
    done = {"id": "resp_fake", "object": "response", "status": "completed", "model": body.get("model"),
            "output": [message], "usage": usage}
    if not body.get("stream"):
        return web.json_response(done)
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    started = {**done, "status": "in_progress", "output": [], "usage": None}
    events: list[tuple[str, dict[str, Any]]] = [("response.created", {"response": started}),
              ("response.output_item.added", {"output_index": 0, "item": {**message, "content": [],
                                                                           "status": "in_progress"}}),
              ("response.output_text.delta", {"output_index": 0, "content_index": 0, "item_id": "msg_fake",
                                              "delta": text}),
              ("response.output_item.done", {"output_index": 0, "item": message}),
              ("response.completed", {"response": done})]
    for n, (kind, data) in enumerate(events):
        await resp.write(_sse(kind, {"type": kind, "sequence_number": n, **data}))
    await resp.write_eof()
    return resp


def add_routes(fake: FakeUpstream) -> None:
    r = fake.app.router
    r.add_post("/v1/messages", functools.partial(anthropic_messages, fake))
    r.add_post("/v1/responses", functools.partial(openai_responses, fake))
    r.add_post("/v1/messages/count_tokens", functools.partial(anthropic_count_tokens, fake))
    r.add_post("/v1beta/models/{model}:{action}", functools.partial(gemini_generate, fake))

