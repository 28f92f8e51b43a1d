"""The internal form every dialect translates through: OpenAI Chat Completions bodies and chunks, and shared helpers."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from relaygate.protocols.openai import usage_from_json
from relaygate.protocols.sse import event_data
from relaygate.protocols.usage import Usage

JSON = dict[str, Any]

FINISH_REASONS = ("stop", "length", "tool_calls", "content_filter")
EFFORTS = ("minimal", "low", "medium", "high")
# Thinking budgets (tokens) that stand for each reasoning effort, and back.
EFFORT_BUDGET = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}


def now() -> int:
    return int(time.time())


def stable_id(prefix: str, *parts: object) -> str:
    """An id derived from its inputs, so the same body always translates to the same ids."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()
    return prefix + digest[:24]


def dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def loads_object(text: Any) -> JSON:
    """Tool-call arguments as an object: JSON text parsed, anything that is not an object wrapped."""
    if isinstance(text, dict):
        return text
    if not isinstance(text, str) or not text.strip():
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {"arguments": text}
    return value if isinstance(value, dict) else {"value": value}


def as_dict(value: Any) -> JSON:
    """The value if it is an object, else an empty one: bodies from the wild may hold anything anywhere."""
    return value if isinstance(value, dict) else {}


def as_str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def dicts(value: Any) -> list[JSON]:
    """The objects in a list (anything else in it, or a non-list, is ignored)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def call_index(call: JSON, pos: int) -> int:
    """The index of a streamed tool call delta (its position in the delta when it has none)."""
    index = call.get("index")
    return index if isinstance(index, int) and not isinstance(index, bool) else pos


def as_int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def text_of(content: Any, sep: str = "") -> str:
    """The text of a message content: a string, or the text of its text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return sep.join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def parse_data_url(url: str) -> tuple[str, str] | None:
    """(media type, base64 payload) of a base64 data URL, else None."""
    if not url.startswith("data:"):
        return None
    head, sep, payload = url[5:].partition(",")
    if not sep or not head.endswith(";base64"):
        return None
    return head[: -len(";base64")] or "application/octet-stream", payload


def data_url(media_type: str, payload: str) -> str:
    return f"data:{media_type};base64,{payload}"


def effort_from_budget(budget: int) -> str:
    if budget <= EFFORT_BUDGET["low"]:
        return "low"
    return "medium" if budget <= EFFORT_BUDGET["medium"] else "high"


def usage_dict(usage: Usage) -> JSON:
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens}}


def usage_of(obj: Any) -> Usage | None:
    """Usage carried by a chat response or chunk."""
    return usage_from_json(obj)


def chunk(cid: str, model: str, created: int, delta: JSON, finish_reason: str | None = None) -> JSON:
    return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}


def usage_chunk(cid: str, model: str, created: int, usage: Usage) -> JSON:
    return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [],
            "usage": usage_dict(usage)}


def error_chunk(message: str, type_: str, code: str | None) -> JSON:
    """An in-stream failure in the chat form (the shape relaygate's OpenAI surface already sends)."""
    return {"error": {"message": message, "type": type_, "code": code, "param": None}}


def tool_call(call_id: str, name: str, arguments: str) -> JSON:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def completion(cid: str, model: str, created: int, message: JSON, finish_reason: str | None,
               usage: Usage | None) -> JSON:
    body: JSON = {"id": cid, "object": "chat.completion", "created": created, "model": model,
                  "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}]}
    if usage is not None:
        body["usage"] = usage_dict(usage)
    return body


def assistant_message(content: str | None, reasoning: str, calls: list[JSON]) -> JSON:
    message: JSON = {"role": "assistant", "content": content}
    if reasoning:
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = calls
    return message


def first_choice(body: Any) -> tuple[JSON, str | None]:
    """(message, finish_reason) of a chat completion; an empty message when it has none."""
    choices = body.get("choices") if isinstance(body, dict) else None
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        message = choices[0].get("message")
        finish = choices[0].get("finish_reason")
        return (message if isinstance(message, dict) else {}), finish if isinstance(finish, str) else None
    return {}, None


def message_tool_calls(message: JSON) -> list[tuple[str, str, str]]:
    """(id, name, arguments) of each function call in a chat message."""
    out = []
    for call in dicts(message.get("tool_calls")):
        fn = call.get("function") if isinstance(call, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            args = fn.get("arguments")
            out.append((str(call.get("id") or ""), fn["name"], args if isinstance(args, str) else dumps(args or {})))
    return out


def sse(data: Any, event: str | None = None) -> bytes:
    head = b"event: " + event.encode() + b"\n" if event else b""
    return head + b"data: " + orjson.dumps(data) + b"\n\n"


def read_event(event: bytes) -> tuple[str | None, Any]:
    """(event name, parsed data) of one SSE event; data is None for comments, keep-alives and bad JSON."""
    name = None
    if event.startswith(b"event:") or b"\nevent:" in event:
        for line in event.split(b"\n"):
            if line.startswith(b"event:"):
                name = line[6:].strip().decode("utf-8", "replace")
    payload = event_data(event)
    if not payload or payload == b"[DONE]":
        return name, None
    try:
        return name, orjson.loads(payload)
    except orjson.JSONDecodeError:
        return name, None


@dataclass(slots=True)
class ToolCallState:
    id: str
    name: str
    arguments: str = ""


@dataclass(slots=True)
class ChatCollector:
    """Folds chat chunks into one message: what every StreamFromChat (and the tests) need to know at the end."""

    id: str = ""
    model: str = ""
    created: int = 0
    content: str = ""
    reasoning: str = ""
    refusal: str = ""
    calls: dict[int, ToolCallState] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: Usage | None = None

    def add(self, data: JSON) -> None:
        self.id = self.id or str(data.get("id") or "")
        self.model = self.model or str(data.get("model") or "")
        self.created = self.created or as_int(data.get("created"))
        usage = usage_of(data)
        if usage is not None:
            self.usage = usage
        for choice in dicts(data.get("choices")):
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = as_dict(choice.get("delta"))
            self.content += as_str(delta.get("content"))
            self.reasoning += as_str(delta.get("reasoning_content")) or as_str(delta.get("reasoning"))
            self.refusal += as_str(delta.get("refusal"))
            for pos, call in enumerate(dicts(delta.get("tool_calls"))):
                index = call_index(call, pos)
                fn = as_dict(call.get("function"))
                state = self.calls.get(index)
                if state is None:
                    state = self.calls[index] = ToolCallState(as_str(call.get("id")), as_str(fn.get("name")))
                state.id = state.id or as_str(call.get("id"))
                state.name = state.name or as_str(fn.get("name"))
                state.arguments += as_str(fn.get("arguments"))
            if isinstance(choice.get("finish_reason"), str):
                self.finish_reason = choice["finish_reason"]

    def message(self) -> JSON:
        calls = [tool_call(c.id, c.name, c.arguments) for _, c in sorted(self.calls.items())]
        message = assistant_message(self.content or None, self.reasoning, calls)
        if self.refusal:
            message["refusal"] = self.refusal
        return message

    def completion(self) -> JSON:
        return completion(self.id, self.model, self.created, self.message(), self.finish_reason, self.usage)


class ChatReader:
    """What every dialect's StreamToChat shares: chunk identity, usage, and one usage chunk at the end."""

    def __init__(self, created: int | None = None) -> None:
        self.usage: Usage | None = None
        self.done = False
        self._id = ""
        self._model = ""
        self._created = now() if created is None else created
        self._usage_sent = False

    def _chunk(self, delta: JSON, finish: str | None = None) -> JSON:
        return chunk(self._id, self._model, self._created, delta, finish)

    def _usage_chunk(self) -> list[JSON]:
        if self.usage is None or self._usage_sent:
            return []
        self._usage_sent = True
        return [usage_chunk(self._id, self._model, self._created, self.usage)]

    def finish(self) -> list[JSON]:
        """The usage chunk, if the stream ended before its own end event delivered it."""
        return self._usage_chunk()
