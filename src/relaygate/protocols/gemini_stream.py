"""Gemini streamGenerateContent (alt=sse) streams to and from chat chunks."""

from __future__ import annotations

import orjson

from relaygate.protocols.chat import (
    JSON,
    ChatReader,
    ToolCallState,
    as_dict,
    call_index,
    data_url,
    dicts,
    dumps,
    error_chunk,
    read_event,
    stable_id,
    usage_of,
)
from relaygate.protocols.gemini_body import (
    FINISH_TO_GEMINI,
    call_part,
    candidate_parts,
    finish_to_chat,
    usage_from_gemini,
    usage_to_gemini,
)
from relaygate.protocols.usage import Usage

_ERROR_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 402: "FAILED_PRECONDITION",
                 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 408: "DEADLINE_EXCEEDED", 409: "ABORTED",
                 413: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL",
                 501: "UNIMPLEMENTED", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
_CODE_HINTS = (("rate", 429), ("quota", 429), ("timeout", 504), ("auth", 401), ("permission", 403),
               ("not_found", 404), ("invalid", 400), ("unavailable", 503), ("overload", 503))


def error_status(status: int) -> str:
    return _ERROR_STATUS.get(status) or ("INVALID_ARGUMENT" if status < 500 else "INTERNAL")


def error_object(status: int, message: str) -> JSON:
    return {"code": status, "message": message, "status": error_status(status)}


class StreamToChat(ChatReader):
    """GenerateContentResponse chunks (data: lines) in, chat chunks out; finish() sends usage if
    no finishReason carried it (Gemini streams simply end with the body)."""

    def __init__(self, created: int | None = None) -> None:
        super().__init__(created)
        self._calls = 0

    def feed(self, event: bytes) -> list[JSON]:
        _, data = read_event(event)
        if isinstance(data, list):  # a stream read without alt=sse arrives as one JSON array
            return [c for item in data if isinstance(item, dict) for c in self._response(item)]
        if not isinstance(data, dict):
            return []
        if self.done:  # a chunk after the finish reason can only refine the usage
            self.usage = usage_from_gemini(data.get("usageMetadata")) or self.usage
            return []
        return self._response(data)

    def _response(self, data: JSON) -> list[JSON]:
        if isinstance(data.get("error"), dict):
            self.done = True
            err = data["error"]
            return [error_chunk(str(err.get("message") or "upstream error"), "server_error",
                                str(err.get("status") or err.get("code") or "INTERNAL"))]
        out: list[JSON] = []
        if not self._id:
            self._id = str(data.get("responseId") or stable_id("gen-", "stream"))
            self._model = str(data.get("modelVersion") or "")
            out.append(self._chunk({"role": "assistant", "content": ""}))
        usage = usage_from_gemini(data.get("usageMetadata"))
        if usage is not None:
            self.usage = usage
        parts, reason = candidate_parts(data)
        for part in parts:
            out.extend(self._part(part))
        if reason:
            self.done = True
            out.append(self._chunk({}, finish_to_chat(reason, self._calls > 0)))
            out.extend(self._usage_chunk())
        return out

    def _part(self, part: JSON) -> list[JSON]:
        if isinstance(part.get("text"), str) and part["text"]:
            return [self._chunk({"reasoning_content" if part.get("thought") else "content": part["text"]})]
        if isinstance(part.get("functionCall"), dict):
            fc = part["functionCall"]
            index, self._calls = self._calls, self._calls + 1
            name = str(fc.get("name") or "")
            call = {"index": index, "id": str(fc.get("id") or stable_id("call_", self._id, index, name)),
                    "type": "function", "function": {"name": name, "arguments": dumps(as_dict(fc.get("args")))}}
            return [self._chunk({"tool_calls": [call]})]
        if isinstance(part.get("inlineData"), dict):
            blob = part["inlineData"]
            url = data_url(str(blob.get("mimeType") or "application/octet-stream"), str(blob.get("data") or ""))
            return [self._chunk({"images": [{"type": "image_url", "image_url": {"url": url}}]})]
        return []



class StreamFromChat:
    """Chat chunks in, `data: {GenerateContentResponse}` events out; function calls go out whole."""

    def __init__(self, model: str) -> None:
        self.model = model
        self._id = ""
        self._closed = False
        self._calls: dict[int, ToolCallState] = {}
        self._finish: str | None = None
        self._usage: Usage | None = None

    def _event(self, parts: list[JSON], finish: str | None = None, usage: Usage | None = None) -> bytes:
        candidate: JSON = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        body: JSON = {"candidates": [candidate]}
        if usage is not None:
            body["usageMetadata"] = usage_to_gemini(usage)
        body["modelVersion"] = self.model
        body["responseId"] = self._id
        return b"data: " + orjson.dumps(body) + b"\n\n"

    def feed(self, data: JSON) -> list[bytes]:
        if self._closed:
            return []
        if isinstance(data.get("error"), dict) and not data.get("choices"):
            err = data["error"]
            return self.error(str(err.get("message") or "upstream error"), str(err.get("code") or err.get("type")))
        self._id = self._id or str(data.get("id") or stable_id("gen-", self.model, "stream"))
        parts: list[JSON] = []
        for choice in dicts(data.get("choices")):
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = as_dict(choice.get("delta"))
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                parts.append({"text": reasoning, "thought": True})
            for key in ("content", "refusal"):
                if isinstance(delta.get(key), str) and delta[key]:
                    parts.append({"text": delta[key]})
            for pos, call in enumerate(dicts(delta.get("tool_calls"))):
                self._add_call(call, pos)
            if isinstance(choice.get("finish_reason"), str):
                self._finish = choice["finish_reason"]
        out = [self._event(parts)] if parts else []
        usage = usage_of(data)
        if usage is not None:
            self._usage = usage
            if self._finish:  # the usage chunk follows the finish reason: the stream is complete
                out += self.finish()
        return out

    def _add_call(self, call: JSON, pos: int) -> None:
        index = call_index(call, pos)
        fn = as_dict(call.get("function"))
        state = self._calls.get(index)
        if state is None:
            state = self._calls[index] = ToolCallState(str(call.get("id") or ""), str(fn.get("name") or ""))
        state.name = state.name or str(fn.get("name") or "")
        state.arguments += str(fn.get("arguments") or "")

    def finish(self) -> list[bytes]:
        """The last chunk: buffered function calls, finishReason and usageMetadata."""
        if self._closed:
            return []
        self._closed = True
        self._id = self._id or stable_id("gen-", self.model, "stream")
        parts = [call_part(c.id, c.name, c.arguments) for _, c in sorted(self._calls.items())]
        finish = FINISH_TO_GEMINI.get(self._finish or "stop", "STOP")
        return [self._event(parts or [{"text": ""}], finish, self._usage)]

    def error(self, message: str, code: str) -> list[bytes]:
        if self._closed:
            return []
        self._closed = True
        lowered = code.lower()
        status = next((s for hint, s in _CODE_HINTS if hint in lowered), 500)
        return [b"data: " + orjson.dumps({"error": error_object(status, message)}) + b"\n\n"]

