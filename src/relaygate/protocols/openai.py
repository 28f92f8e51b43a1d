"""OpenAI wire format: the facts the gateway reads from a request, body rewrites, usage and errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from relaygate.protocols.sse import event_data
from relaygate.protocols.usage import Usage, estimate_prompt_bytes

DONE_EVENT = b"data: [DONE]\n\n"


class BadBody(ValueError):
    """The body cannot be relayed; the message says what to fix (English, Chinese)."""

    def __init__(self, en: str, zh: str, param: str | None = None) -> None:
        super().__init__(en)
        self.en = en
        self.zh = zh
        self.param = param  # the field at fault, for the error body's 'param'


@dataclass(slots=True)
class RequestFacts:
    model: str
    stream: bool
    max_tokens: int | None
    include_usage: bool  # the caller itself asked for the usage chunk
    prompt_estimate: int


def parse_request(body: bytes, endpoint: str) -> tuple[dict[str, Any], RequestFacts]:
    """Parse the body once and read what routing, limits and billing need."""
    if not body:
        raise BadBody("The request body is empty; send a JSON object with at least 'model'.",
                      "请求体为空；请发送至少包含 'model' 的 JSON 对象。")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadBody(f"The request body is not valid JSON ({exc}).",
                      f"请求体不是合法的 JSON（{exc}）。") from exc
    if not isinstance(data, dict):
        raise BadBody("The request body must be a JSON object.", "请求体必须是 JSON 对象。")
    model = data.get("model")
    if not isinstance(model, str) or not model.strip():
        raise BadBody("The field 'model' is missing or not a string; name the model to use, "
                      "for example \"model\": \"gpt-4o-mini\".",
                      "缺少 'model' 字段或它不是字符串；请指定要使用的模型，例如 \"model\": \"gpt-4o-mini\"。")
    if endpoint == "chat/completions" and not isinstance(data.get("messages"), list):
        raise BadBody("The field 'messages' must be a list of messages for /chat/completions.",
                      "/chat/completions 的 'messages' 字段必须是消息列表。")
    stream = data.get("stream") is True
    options = data.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    max_tokens = data.get("max_completion_tokens") or data.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens <= 0:
        max_tokens = None
    return data, RequestFacts(model.strip(), stream, max_tokens, include_usage, estimate_prompt_bytes(len(body)))


def rewrite_body(original: bytes, data: dict[str, Any], upstream_model: str, facts: RequestFacts) -> bytes:
    """The body to send upstream: the original bytes unless the model or stream options must change."""
    want_usage = facts.stream and not facts.include_usage
    if upstream_model == data.get("model") and not want_usage:
        return original
    patched = dict(data)
    patched["model"] = upstream_model
    if want_usage:
        options = patched.get("stream_options")
        patched["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
    return orjson.dumps(patched)


def usage_from_json(obj: Any) -> Usage | None:
    """Usage from an OpenAI response or chunk object; None when it carries none."""
    if not isinstance(obj, dict):
        return None
    raw = obj.get("usage")
    if not isinstance(raw, dict):
        return None
    prompt = _int(raw.get("prompt_tokens", raw.get("input_tokens")))
    completion = _int(raw.get("completion_tokens", raw.get("output_tokens")))
    details = raw.get("prompt_tokens_details") or raw.get("input_tokens_details") or {}
    out_details = raw.get("completion_tokens_details") or raw.get("output_tokens_details") or {}
    return Usage(prompt, completion, _int(raw.get("total_tokens")),
                 _int(details.get("cached_tokens")) if isinstance(details, dict) else 0,
                 _int(out_details.get("reasoning_tokens")) if isinstance(out_details, dict) else 0)


def usage_from_body(body: bytes) -> Usage | None:
    try:
        return usage_from_json(orjson.loads(body))
    except orjson.JSONDecodeError:
        return None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


class StreamObserver:
    """Watches relayed SSE events: usage, the end marker, the text delivered, and which events the
    caller should not see. Every event is parsed (orjson), so spacing and escaping do not matter."""

    __slots__ = ("completion_bytes", "completion_chars", "done", "hide_usage_chunk", "usage")

    def __init__(self, hide_usage_chunk: bool) -> None:
        self.hide_usage_chunk = hide_usage_chunk
        self.usage: Usage | None = None
        self.done = False
        self.completion_chars = 0
        self.completion_bytes = 0

    def observe(self, event: bytes) -> bool:
        """Record what the event says; return False when it must not be forwarded."""
        payload = event_data(event)
        if not payload:
            return True
        if payload == b"[DONE]":
            self.done = True
            return True
        try:
            obj = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return True
        if not isinstance(obj, dict):
            return True
        if "usage" in obj:
            usage = usage_from_json(obj)
            if usage is not None:
                self.usage = usage
                if self.hide_usage_chunk and not obj.get("choices"):
                    return False
        chars, size = delivered_size(obj)
        self.completion_chars += chars
        self.completion_bytes += size
        return True


_TEXT_FIELDS = ("content", "reasoning_content", "reasoning", "refusal")


def delivered_size(chunk: dict[str, Any]) -> tuple[int, int]:
    """Characters and UTF-8 bytes of the generated text in one chat or completions chunk: content,
    reasoning, refusals, tool-call arguments, completions' text. An error object carries none."""
    chars = size = 0
    choices = chunk.get("choices")
    if type(choices) is not list:
        return 0, 0
    for choice in choices:
        if type(choice) is not dict:
            continue
        delta = choice.get("delta")
        if type(delta) is not dict:
            message = choice.get("message")
            delta = message if type(message) is dict else {}
        for name in _TEXT_FIELDS:
            piece = delta.get(name)
            if type(piece) is str and piece:
                chars += len(piece)
                size += len(piece) if piece.isascii() else len(piece.encode())
        piece = choice.get("text")
        if type(piece) is str and piece:
            chars += len(piece)
            size += len(piece) if piece.isascii() else len(piece.encode())
        calls = delta.get("tool_calls")
        if type(calls) is list:
            for call in calls:
                fn = call.get("function") if type(call) is dict else None
                if type(fn) is dict:
                    for piece in (fn.get("arguments"), fn.get("name")):
                        if type(piece) is str and piece:
                            chars += len(piece)
                            size += len(piece) if piece.isascii() else len(piece.encode())
    return chars, size


def error_event(message: str, code: str, request_id: str) -> bytes:
    """The closing events of a stream that failed after its first byte: an error object, then [DONE]."""
    payload = {"error": {"message": message, "type": "server_error", "code": code, "param": None,
                         "request_id": request_id}}
    return b"data: " + orjson.dumps(payload) + b"\n\n" + DONE_EVENT


def error_message(body: bytes) -> str:
    """The human message inside an upstream error body, whatever its shape."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:300].decode("utf-8", "replace").strip() or "(empty body)"
    if isinstance(obj, dict):
        err = obj.get("error", obj)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("msg") or err.get("detail")
            if isinstance(msg, str):
                return msg[:500]
        if isinstance(err, str):
            return err[:500]
    return body[:300].decode("utf-8", "replace")
