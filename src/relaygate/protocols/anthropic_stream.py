"""Anthropic Messages streams to and from chat chunks, with the stop-reason, usage and error tables both ways share."""

from __future__ import annotations

from typing import Any

from relaygate.protocols.chat import (
    JSON,
    ChatReader,
    as_dict,
    as_int,
    as_str,
    call_index,
    dicts,
    dumps,
    error_chunk,
    read_event,
    sse,
    stable_id,
    usage_of,
)
from relaygate.protocols.usage import Usage

STOP_TO_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
                  "model_context_window_exceeded": "length", "tool_use": "tool_calls", "refusal": "content_filter"}
FINISH_TO_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use",
                  "content_filter": "refusal"}
ERROR_TYPES = ("invalid_request_error", "authentication_error", "billing_error", "permission_error",
               "not_found_error", "request_too_large", "rate_limit_error", "timeout_error", "api_error",
               "overloaded_error")
_CODE_HINTS = (("rate", "rate_limit_error"), ("overload", "overloaded_error"), ("timeout", "timeout_error"),
               ("auth", "authentication_error"), ("permission", "permission_error"),
               ("forbidden", "permission_error"), ("not_found", "not_found_error"), ("billing", "billing_error"),
               ("balance", "billing_error"), ("quota", "billing_error"), ("invalid", "invalid_request_error"),
               ("bad_request", "invalid_request_error"))


def error_type(code: str) -> str:
    """The Anthropic error type that best names a relaygate error code."""
    if code in ERROR_TYPES:
        return code
    lowered = code.lower()
    return next((kind for hint, kind in _CODE_HINTS if hint in lowered), "api_error")


def usage_from_anthropic(raw: Any) -> Usage | None:
    """Anthropic counts cache reads and writes apart from input_tokens; the chat form counts them inside."""
    if not isinstance(raw, dict):
        return None
    cached = as_int(raw.get("cache_read_input_tokens"))
    prompt = as_int(raw.get("input_tokens")) + cached + as_int(raw.get("cache_creation_input_tokens"))
    details = raw.get("output_tokens_details")
    reasoning = as_int(details.get("thinking_tokens")) if isinstance(details, dict) else 0
    return Usage(prompt, as_int(raw.get("output_tokens")), 0, cached, reasoning)


def usage_to_anthropic(usage: Usage) -> JSON:
    out: JSON = {"input_tokens": max(usage.prompt_tokens - usage.cached_tokens, 0),
                 "cache_creation_input_tokens": 0, "cache_read_input_tokens": usage.cached_tokens,
                 "output_tokens": usage.completion_tokens}
    if usage.reasoning_tokens:
        out["output_tokens_details"] = {"thinking_tokens": usage.reasoning_tokens}
    return out


def message_id(chat_id: Any) -> str:
    text = str(chat_id or "")
    if text.startswith("msg_"):
        return text
    return "msg_" + (text.removeprefix("chatcmpl-") or stable_id("", "empty"))


class StreamToChat(ChatReader):
    """Anthropic stream events in, chat chunks out (the id and model come from message_start)."""

    def __init__(self, created: int | None = None) -> None:
        super().__init__(created)
        self._raw_usage: JSON = {}
        self._tools: dict[int, int] = {}  # content block index -> tool call index

    def _merge_usage(self, raw: Any) -> None:
        if isinstance(raw, dict):
            self._raw_usage.update({k: v for k, v in raw.items() if v is not None})
            self.usage = usage_from_anthropic(self._raw_usage)

    def feed(self, event: bytes) -> list[JSON]:
        name, data = read_event(event)
        if not isinstance(data, dict):
            return []
        kind = data.get("type") or name
        if kind == "content_block_delta":
            return self._delta(data)
        if kind == "message_start":
            message = as_dict(data.get("message"))
            self._id = str(message.get("id") or "")
            self._model = str(message.get("model") or "")
            self._merge_usage(message.get("usage"))
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            return self._start(data)
        if kind == "message_delta":
            self._merge_usage(data.get("usage"))
            stop = as_dict(data.get("delta")).get("stop_reason")
            return [self._chunk({}, STOP_TO_FINISH.get(str(stop), "stop"))] if stop else []
        if kind == "message_stop":
            self.done = True
            return self._usage_chunk()
        if kind == "error":
            self.done = True
            err = as_dict(data.get("error"))
            kind = str(err.get("type") or "api_error")
            return [error_chunk(str(err.get("message") or "upstream stream error"), kind, kind)]
        return []  # ping and event types added after this was written

    def _start(self, data: JSON) -> list[JSON]:
        block = as_dict(data.get("content_block"))
        kind = block.get("type")
        if kind == "tool_use":
            index = self._tools[as_int(data.get("index"))] = len(self._tools)
            start = block.get("input")
            call = {"index": index, "id": block.get("id") or stable_id("toolu_", self._id, index), "type": "function",
                    "function": {"name": as_str(block.get("name")), "arguments": ""}}
            out = [self._chunk({"tool_calls": [call]})]
            if isinstance(start, dict) and start:
                out.extend(self._args(index, dumps(start)))
            return out
        if kind == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        if kind == "thinking" and block.get("thinking"):
            return [self._chunk({"reasoning_content": block["thinking"]})]
        return []

    def _delta(self, data: JSON) -> list[JSON]:
        delta = as_dict(data.get("delta"))
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return [self._chunk({"content": delta["text"]})]
        if kind == "thinking_delta" and delta.get("thinking"):
            return [self._chunk({"reasoning_content": delta["thinking"]})]
        if kind == "input_json_delta" and delta.get("partial_json"):
            index = self._tools.get(as_int(data.get("index")))
            return self._args(index, delta["partial_json"]) if index is not None else []
        return []  # signature_delta, citations_delta

    def _args(self, index: int, text: str) -> list[JSON]:
        return [self._chunk({"tool_calls": [{"index": index, "function": {"arguments": text}}]})]



class StreamFromChat:
    """Chat chunks in, Anthropic stream events out: message_start, one block at a time, message_delta, message_stop."""

    def __init__(self, model: str) -> None:
        self.model = model
        self._id = ""
        self._started = False
        self._closed = False
        self._open: str | None = None  # "text" | "thinking" | "tool"
        self._next_block = 0
        self._tool_blocks: dict[int, int] = {}  # chat tool index -> block index
        self._finish: str | None = None
        self._usage: Usage | None = None

    @staticmethod
    def _event(kind: str, data: JSON) -> bytes:
        return sse({"type": kind, **data}, kind)

    def _ensure_started(self, chat_id: Any = None) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        self._id = message_id(chat_id or stable_id("", self.model, "stream"))
        message: JSON = {"id": self._id, "type": "message", "role": "assistant", "model": self.model, "content": [],
                   "stop_reason": None, "stop_sequence": None,
                   "usage": {"input_tokens": 0, "output_tokens": 0}}
        return [self._event("message_start", {"message": message})]

    def _close(self) -> list[bytes]:
        if self._open is None:
            return []
        self._open = None
        return [self._event("content_block_stop", {"index": self._next_block - 1})]

    def _begin(self, kind: str, block: JSON) -> list[bytes]:
        out = self._close()
        self._open = kind
        out.append(self._event("content_block_start", {"index": self._next_block, "content_block": block}))
        self._next_block += 1
        return out

    def feed(self, data: JSON) -> list[bytes]:
        if self._closed:
            return []
        if isinstance(data.get("error"), dict) and not data.get("choices"):
            err = data["error"]
            return self.error(str(err.get("message") or "upstream error"), str(err.get("code") or err.get("type")))
        out = self._ensure_started(data.get("id"))
        usage = usage_of(data)
        if usage is not None:
            self._usage = usage
        for choice in dicts(data.get("choices")):
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                out.extend(self._choice(choice))
        return out

    def _choice(self, choice: JSON) -> list[bytes]:
        out: list[bytes] = []
        delta = as_dict(choice.get("delta"))
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            if self._open != "thinking":
                out += self._begin("thinking", {"type": "thinking", "thinking": "", "signature": ""})
            out.append(self._event("content_block_delta", {"index": self._next_block - 1,
                                                           "delta": {"type": "thinking_delta", "thinking": reasoning}}))
        for key in ("content", "refusal"):
            text = delta.get(key)
            if isinstance(text, str) and text:
                if self._open != "text":
                    out += self._begin("text", {"type": "text", "text": ""})
                out.append(self._event("content_block_delta", {"index": self._next_block - 1,
                                                               "delta": {"type": "text_delta", "text": text}}))
        for pos, call in enumerate(dicts(delta.get("tool_calls"))):
            out += self._tool(call, pos)
        if isinstance(choice.get("finish_reason"), str):
            self._finish = choice["finish_reason"]
        return out

    def _tool(self, call: JSON, pos: int) -> list[bytes]:
        out: list[bytes] = []
        index = call_index(call, pos)
        fn = as_dict(call.get("function"))
        if index not in self._tool_blocks:
            call_id = call.get("id") or stable_id("toolu_", self._id, index)
            block: JSON = {"type": "tool_use", "id": call_id, "name": as_str(fn.get("name")), "input": {}}
            out += self._begin("tool", block)
            self._tool_blocks[index] = self._next_block - 1
        args = fn.get("arguments")
        if isinstance(args, str) and args:
            delta = {"type": "input_json_delta", "partial_json": args}
            out.append(self._event("content_block_delta", {"index": self._tool_blocks[index], "delta": delta}))
        return out

    def finish(self) -> list[bytes]:
        """Close the open block, then message_delta (stop reason, usage) and message_stop."""
        if self._closed:
            return []
        out = self._ensure_started()
        out += self._close()
        self._closed = True
        usage = usage_to_anthropic(self._usage) if self._usage else {"output_tokens": 0}
        stop = FINISH_TO_STOP.get(self._finish or "stop", "end_turn")
        out.append(self._event("message_delta", {"delta": {"stop_reason": stop, "stop_sequence": None},
                                                 "usage": usage}))
        out.append(self._event("message_stop", {}))
        return out

    def error(self, message: str, code: str) -> list[bytes]:
        if self._closed:
            return []
        self._closed = True
        return [self._event("error", {"error": {"type": error_type(code), "message": message}})]
