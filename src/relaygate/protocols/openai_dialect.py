"""OpenAI Chat Completions as a dialect: the internal form itself, so its translations are identities."""

from __future__ import annotations

from typing import Any

import orjson

from relaygate.protocols.openai import DONE_EVENT, error_event, usage_from_json
from relaygate.protocols.sse import event_data
from relaygate.protocols.usage import Usage


def request_to_chat(body: dict[str, Any]) -> dict[str, Any]:
    return body


REASONING_MODELS = ("o1", "o3", "o4", "gpt-5")  # want max_completion_tokens, refuse sampling knobs


def request_from_chat(chat: dict[str, Any], reasoning: bool | None = None) -> dict[str, Any]:
    """``reasoning``: the model's capability from the catalogue; None (not set there): guessed from the name."""
    out = dict(chat)
    if out.get("stream"):
        options = out.get("stream_options")
        out["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
    model = str(out.get("model") or "").rsplit("/", 1)[-1]
    if reasoning is False:
        out.pop("reasoning_effort", None)
    elif reasoning is True or model.startswith(REASONING_MODELS):
        if "max_tokens" in out:
            out["max_completion_tokens"] = out.pop("max_tokens")
        for knob in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
            out.pop(knob, None)
    elif model.startswith(("gpt-4", "gpt-3.5")):
        out.pop("reasoning_effort", None)  # OpenAI's models without reasoning refuse it
    return out


def response_to_chat(body: dict[str, Any]) -> dict[str, Any]:
    return body


def response_from_chat(chat: dict[str, Any], model: str) -> dict[str, Any]:
    return {**chat, "model": model}


def usage_from_response(body: dict[str, Any]) -> Usage | None:
    return usage_from_json(body)


def error_body(status: int, code: str, message: str, request_id: str) -> dict[str, Any]:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "code": code, "param": None, "request_id": request_id}}


class StreamToChat:
    """OpenAI SSE events to chunk dicts (they already are chunks)."""

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.done = False

    def feed(self, event: bytes) -> list[dict[str, Any]]:
        payload = event_data(event)
        if not payload:
            return []
        if payload == b"[DONE]":
            self.done = True
            return []
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return []
        if not isinstance(chunk, dict):
            return []
        usage = usage_from_json(chunk)
        if usage is not None:
            self.usage = usage
        return [chunk]

    def finish(self) -> list[dict[str, Any]]:
        return []


class StreamFromChat:
    """Chunk dicts to OpenAI SSE events, closed with [DONE]."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.closed = False

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        return [b"data: " + orjson.dumps({**chunk, "model": self.model}) + b"\n\n"]

    def finish(self) -> list[bytes]:
        if self.closed:
            return []
        self.closed = True
        return [DONE_EVENT]

    def error(self, message: str, code: str) -> list[bytes]:
        self.closed = True
        return [error_event(message, code, "")]
