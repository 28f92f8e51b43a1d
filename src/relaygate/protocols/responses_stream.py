"""OpenAI Responses streams (response.* events) to and from chat chunks."""

from __future__ import annotations

from dataclasses import dataclass, field
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
    loads_object,
    now,
    read_event,
    sse,
    stable_id,
    usage_chunk,
    usage_of,
)
from relaygate.protocols.responses_body import (
    Routes,
    ToolRoute,
    call_item,
    finish_reason,
    flat_name,
    message_item,
    reasoning_item,
    response_id,
    response_object,
    usage_from_responses,
)
from relaygate.protocols.usage import Usage

_FAILED_CODES = {"rate_limit_exceeded", "server_error", "invalid_prompt"}


@dataclass(slots=True)
class _Call:
    index: int
    custom: bool
    sent: str = ""  # arguments already emitted as chat deltas
    buffered: str = ""  # custom tool input, emitted whole as {"input": ...} when the item is done


class StreamToChat(ChatReader):
    """Responses stream events in, chat chunks out."""

    def __init__(self, created: int | None = None) -> None:
        super().__init__(created)
        self._calls: dict[str, _Call] = {}  # output item id (or output index) -> call
        self._reasoning_part: tuple[Any, Any] | None = None
        self._failed = False

    def feed(self, event: bytes) -> list[JSON]:
        name, data = read_event(event)
        if not isinstance(data, dict) or self.done:
            return []
        kind = str(data.get("type") or name)
        delta = data["delta"] if isinstance(data.get("delta"), str) else ""
        if kind == "response.output_text.delta" and delta:
            return [self._chunk({"content": delta})]
        if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta") and delta:
            return [self._chunk({"reasoning_content": self._separator(data) + delta})]
        if kind == "response.function_call_arguments.delta":
            call = self._call(data)
            if call is None or not delta:
                return []
            call.sent += delta
            return [self._args(call.index, delta)]
        if kind == "response.custom_tool_call_input.delta":
            call = self._call(data)
            if call is not None:
                call.buffered += delta
            return []
        if kind == "response.refusal.delta" and delta:
            return [self._chunk({"refusal": delta})]
        if kind == "response.output_item.added":
            return self._added(data)
        if kind == "response.output_item.done":
            return self._item_done(data)
        if kind in ("response.created", "response.in_progress"):
            return self._created_event(as_dict(data.get("response")))
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            return self._end(as_dict(data.get("response")))
        if kind == "error":
            return self._error(data)
        return []

    def _created_event(self, response: JSON) -> list[JSON]:
        if self._id:
            return []
        self._id = str(response.get("id") or stable_id("resp_", "stream"))
        self._model = str(response.get("model") or "")
        self._created = as_int(response.get("created_at")) or self._created
        return [self._chunk({"role": "assistant", "content": ""})]

    def _separator(self, data: JSON) -> str:
        """Summary parts of one reasoning item are paragraphs: keep them apart as the item's text does."""
        part = (data.get("item_id"), data.get("summary_index", data.get("content_index")))
        last, self._reasoning_part = self._reasoning_part, part
        return "\n\n" if last is not None and last[0] == part[0] and last[1] != part[1] else ""

    def _call(self, data: JSON) -> _Call | None:
        return self._calls.get(str(data.get("item_id"))) or self._calls.get(f"#{data.get('output_index')}")

    def _args(self, index: int, text: str) -> JSON:
        return self._chunk({"tool_calls": [{"index": index, "function": {"arguments": text}}]})

    def _added(self, data: JSON) -> list[JSON]:
        item = as_dict(data.get("item"))
        if item.get("type") not in ("function_call", "custom_tool_call"):
            return []
        call = _Call(len(self._calls), item.get("type") == "custom_tool_call")
        self._calls[str(item.get("id"))] = self._calls[f"#{data.get('output_index')}"] = call
        name = flat_name(item.get("namespace"), str(item.get("name") or ""))
        call_id = str(item.get("call_id") or item.get("id") or stable_id("call_", self._id, call.index))
        start = {"index": call.index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        return [self._chunk({"tool_calls": [start]})]

    def _item_done(self, data: JSON) -> list[JSON]:
        item = as_dict(data.get("item"))
        if item.get("type") not in ("function_call", "custom_tool_call"):
            return []
        out: list[JSON] = []
        call = self._call({"item_id": item.get("id"), "output_index": data.get("output_index")})
        if call is None:  # a call that arrived whole, without output_item.added
            out = self._added(data)
            call = self._call({"item_id": item.get("id"), "output_index": data.get("output_index")})
            assert call is not None
        if call.custom:
            out.append(self._args(call.index, dumps({"input": call.buffered or as_str(item.get("input"))})))
        elif not call.sent and item.get("arguments"):
            call.sent = str(item["arguments"])
            out.append(self._args(call.index, call.sent))
        return out

    def _end(self, response: JSON) -> list[JSON]:
        self.done = True
        usage = usage_from_responses(response.get("usage"))
        if usage is not None:
            self.usage = usage
        if self._failed:
            return []  # the error event already ended the chat stream; only the usage is kept
        out = self._created_event(response)
        error = response.get("error")
        if response.get("status") == "failed" or isinstance(error, dict):
            err = error if isinstance(error, dict) else {}
            return [*out, error_chunk(str(err.get("message") or "The response failed."), "server_error",
                                      str(err.get("code") or "server_error"))]
        finish = finish_reason(response.get("status"), response.get("incomplete_details"), bool(self._calls))
        out.append(self._chunk({}, finish))
        if self.usage is not None:
            out.append(usage_chunk(self._id, self._model, self._created, self.usage))
        return out

    def _error(self, data: JSON) -> list[JSON]:
        self._failed = True
        err: JSON = data["error"] if isinstance(data.get("error"), dict) else data
        return [error_chunk(str(err.get("message") or "upstream stream error"), "server_error",
                            str(err.get("code") or "server_error"))]

    def finish(self) -> list[JSON]:
        return []  # response.completed carries both the finish reason and the usage


@dataclass(slots=True)
class _Item:
    kind: str  # "reasoning" | "message" | "call"
    output_index: int
    item_id: str
    text: str = ""
    call_id: str = ""
    name: str = ""
    done: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class StreamFromChat:
    """Chat chunks in, the response.* event sequence out, numbered by sequence_number."""

    def __init__(self, model: str, tools: Routes | None = None) -> None:
        self.model = model
        self._routes = tools or {}
        self._seq = 0
        self._rid = ""
        self._created = now()
        self._started = False
        self._closed = False
        self._items: list[_Item] = []
        self._open: _Item | None = None  # the reasoning or message item taking deltas
        self._calls: dict[int, _Item] = {}  # chat tool index -> call item
        self._finish: str | None = None
        self._usage: Usage | None = None

    def _event(self, kind: str, data: JSON) -> bytes:
        payload = {"type": kind, "sequence_number": self._seq, **data}
        self._seq += 1
        return sse(payload, kind)

    def _ensure_started(self, data: JSON) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        self._rid = response_id(data.get("id") or stable_id("", self.model, "stream"))
        self._created = as_int(data.get("created")) or self._created
        response = response_object(self._rid, self.model, self._created, [], None, None, "in_progress")
        return [self._event("response.created", {"response": response}),
                self._event("response.in_progress", {"response": response})]

    def feed(self, data: JSON) -> list[bytes]:
        if self._closed:
            return []
        if isinstance(data.get("error"), dict) and not data.get("choices"):
            err = data["error"]
            return self.error(str(err.get("message") or "upstream error"), str(err.get("code") or err.get("type")))
        out = self._ensure_started(data)
        usage = usage_of(data)
        if usage is not None:
            self._usage = usage
        for choice in dicts(data.get("choices")):
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = as_dict(choice.get("delta"))
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                out += self._text("reasoning", reasoning)
            for key in ("content", "refusal"):
                if isinstance(delta.get(key), str) and delta[key]:
                    out += self._text("message", delta[key])
            for pos, call in enumerate(dicts(delta.get("tool_calls"))):
                out += self._tool(call, pos)
            if isinstance(choice.get("finish_reason"), str):
                self._finish = choice["finish_reason"]
        return out

    def _add(self, kind: str, item_id: str) -> _Item:
        item = _Item(kind, len(self._items), item_id)
        self._items.append(item)
        return item

    def _text(self, kind: str, text: str) -> list[bytes]:
        out: list[bytes] = []
        if self._open is None or self._open.kind != kind:
            out += self._close_open()
            out += self._close_calls()
            n = len(self._items)
            item = self._open = self._add(kind, f"{'rs' if kind == 'reasoning' else 'msg'}_{self._rid[5:]}_{n}")
            ref = {"item_id": item.item_id, "output_index": item.output_index}
            if kind == "reasoning":
                out.append(self._event("response.output_item.added", {
                    "output_index": item.output_index, "item": {"type": "reasoning", "id": item.item_id,
                                                                "summary": []}}))
                out.append(self._event("response.reasoning_summary_part.added", {
                    **ref, "summary_index": 0, "part": {"type": "summary_text", "text": ""}}))
            else:
                out.append(self._event("response.output_item.added", {
                    "output_index": item.output_index, "item": message_item(item.item_id, "", "in_progress")}))
                out.append(self._event("response.content_part.added", {
                    **ref, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}))
        item = self._open
        assert item is not None
        item.text += text
        ref = {"item_id": item.item_id, "output_index": item.output_index}
        if kind == "reasoning":
            out.append(self._event("response.reasoning_summary_text.delta", {**ref, "summary_index": 0,
                                                                              "delta": text}))
        else:
            out.append(self._event("response.output_text.delta", {**ref, "content_index": 0, "delta": text,
                                                                   "logprobs": []}))
        return out

    def _close_open(self) -> list[bytes]:
        item, self._open = self._open, None
        if item is None:
            return []
        item.done = True
        ref = {"item_id": item.item_id, "output_index": item.output_index}
        if item.kind == "reasoning":
            part = {"type": "summary_text", "text": item.text}
            return [self._event("response.reasoning_summary_text.done", {**ref, "summary_index": 0,
                                                                         "text": item.text}),
                    self._event("response.reasoning_summary_part.done", {**ref, "summary_index": 0, "part": part}),
                    self._event("response.output_item.done", {"output_index": item.output_index,
                                                              "item": self._final(item)})]
        text_part = {"type": "output_text", "text": item.text, "annotations": []}
        return [self._event("response.output_text.done", {**ref, "content_index": 0, "text": item.text,
                                                           "logprobs": []}),
                self._event("response.content_part.done", {**ref, "content_index": 0, "part": text_part}),
                self._event("response.output_item.done", {"output_index": item.output_index,
                                                          "item": self._final(item)})]

    def _tool(self, call: JSON, pos: int) -> list[bytes]:
        out: list[bytes] = []
        index = call_index(call, pos)
        fn = as_dict(call.get("function"))
        item = self._calls.get(index)
        if item is None:
            out += self._close_open()
            item = self._calls[index] = self._add("call", f"fc_{self._rid[5:]}_{len(self._items)}")
            item.name = str(fn.get("name") or "")
            item.call_id = str(call.get("id") or stable_id("call_", self._rid, index))
            added = call_item(item.item_id, item.call_id, item.name, "", self._routes, "in_progress")
            out.append(self._event("response.output_item.added", {"output_index": item.output_index,
                                                                  "item": added}))
        args = fn.get("arguments")
        if isinstance(args, str) and args:
            item.text += args
            if not self._route(item).custom:  # a custom tool's input is only known once its JSON is whole
                out.append(self._event("response.function_call_arguments.delta", {
                    "item_id": item.item_id, "output_index": item.output_index, "delta": args}))
        return out

    def _route(self, item: _Item) -> ToolRoute:
        return self._routes.get(item.name) or ToolRoute(item.name)

    def _close_calls(self) -> list[bytes]:
        out: list[bytes] = []
        for item in self._calls.values():
            if item.done:
                continue
            item.done = True
            ref = {"item_id": item.item_id, "output_index": item.output_index}
            if self._route(item).custom:
                text = str(loads_object(item.text).get("input") or "")
                out.append(self._event("response.custom_tool_call_input.delta", {**ref, "delta": text}))
                out.append(self._event("response.custom_tool_call_input.done", {**ref, "input": text}))
            else:
                out.append(self._event("response.function_call_arguments.done", {**ref, "arguments": item.text}))
            out.append(self._event("response.output_item.done", {"output_index": item.output_index,
                                                                  "item": self._final(item)}))
        return out

    def _final(self, item: _Item) -> JSON:
        if item.kind == "reasoning":
            return reasoning_item(item.item_id, item.text)
        if item.kind == "message":
            return message_item(item.item_id, item.text)
        return call_item(item.item_id, item.call_id, item.name, item.text, self._routes)

    def finish(self) -> list[bytes]:
        """Close every open item, then response.completed (or response.incomplete) with output and usage."""
        if self._closed:
            return []
        out = self._ensure_started({})
        out += self._close_open()
        out += self._close_calls()
        self._closed = True
        response = response_object(self._rid, self.model, self._created, [self._final(i) for i in self._items],
                                   self._usage, self._finish)
        kind = "response.incomplete" if response["status"] == "incomplete" else "response.completed"
        return [*out, self._event(kind, {"response": response})]

    def error(self, message: str, code: str) -> list[bytes]:
        if self._closed:
            return []
        out = self._ensure_started({})
        self._closed = True
        failed_code = "rate_limit_exceeded" if "rate" in code.lower() else "server_error"
        if code in _FAILED_CODES:
            failed_code = code
        response = response_object(self._rid, self.model, self._created, [self._final(i) for i in self._items],
                                   self._usage, self._finish, "failed")
        response["error"] = {"code": failed_code, "message": message}
        return [*out, self._event("error", {"code": code, "message": message, "param": None}),
                self._event("response.failed", {"response": response})]
