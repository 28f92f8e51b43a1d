"""Anthropic Messages to and from the chat form: requests, responses, errors, facts and a local token estimate."""

from __future__ import annotations

from typing import Any

from relaygate.protocols.anthropic_request import request_from_chat
from relaygate.protocols.anthropic_stream import (
    FINISH_TO_STOP,
    STOP_TO_FINISH,
    StreamFromChat,
    StreamToChat,
    message_id,
    usage_from_anthropic,
    usage_to_anthropic,
)
from relaygate.protocols.chat import (
    JSON,
    as_dict,
    as_list,
    as_str,
    assistant_message,
    completion,
    data_url,
    dicts,
    dumps,
    effort_from_budget,
    first_choice,
    loads_object,
    message_tool_calls,
    now,
    positive_int,
    stable_id,
    text_of,
    tool_call,
    usage_of,
)
from relaygate.protocols.usage import Usage, estimate_tokens

__all__ = ["StreamFromChat", "StreamToChat", "count_tokens_body", "count_tokens_estimate", "error_body",
           "request_facts", "request_from_chat", "request_to_chat", "response_from_chat", "response_to_chat",
           "usage_from_response"]

_STATUS_ERRORS = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
                  403: "permission_error", 404: "not_found_error", 413: "request_too_large",
                  429: "rate_limit_error", 500: "api_error", 502: "api_error", 503: "api_error",
                  504: "timeout_error", 529: "overloaded_error"}


# ---- Anthropic request -> chat request -------------------------------------------------------

def request_to_chat(body: JSON, *, keep_reasoning: bool = False) -> JSON:
    """An Anthropic Messages request as a chat request; system entries mid-conversation stay where they are.

    Thinking blocks of earlier turns are dropped unless keep_reasoning asks for them as `reasoning_content`
    (DeepSeek-style upstreams want it; strict OpenAI-compatible ones reject the unknown field).
    """
    messages: list[JSON] = []
    system = text_of(body.get("system"), "\n\n")
    if system:
        messages.append({"role": "system", "content": system})
    for msg in dicts(body.get("messages")):
        if isinstance(msg, dict):
            messages.extend(_message_to_chat(msg, keep_reasoning))
    chat: JSON = {"model": body.get("model"), "messages": messages}
    if positive_int(body.get("max_tokens")):
        chat["max_tokens"] = body["max_tokens"]
    for key in ("temperature", "top_p"):
        if isinstance(body.get(key), int | float):
            chat[key] = body[key]
    stops = [s for s in as_list(body.get("stop_sequences")) if isinstance(s, str)]
    if stops:
        chat["stop"] = stops
    if body.get("stream") is True:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    tools = [_tool_to_chat(t) for t in dicts(body.get("tools")) if isinstance(t, dict) and "input_schema" in t]
    if tools:
        chat["tools"] = tools
        _tool_choice_to_chat(body.get("tool_choice"), chat)
    effort = _effort(body)
    if effort:
        chat["reasoning_effort"] = effort
    fmt = as_dict(body.get("output_config")).get("format")
    if isinstance(fmt, dict) and isinstance(fmt.get("schema"), dict):
        chat["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", "schema": fmt["schema"]}}
    user = as_dict(body.get("metadata")).get("user_id")
    if isinstance(user, str) and user:
        chat["user"] = user  # the end-user id both sides know (docs/dialects.md, "What a translation drops")
    return chat


def _message_to_chat(msg: JSON, keep_reasoning: bool) -> list[JSON]:
    role, content = msg.get("role"), msg.get("content")
    if role == "system":
        return [{"role": "system", "content": text_of(content, "\n\n")}]
    if role == "assistant":
        return [_assistant_to_chat(content, keep_reasoning)]
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    out: list[JSON] = []
    parts: list[JSON] = []
    for block in content if isinstance(content, list) else []:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "tool_result":
            text, images = _tool_result_to_chat(block.get("content"))
            out.append({"role": "tool", "tool_call_id": str(block.get("tool_use_id") or ""), "content": text})
            parts.extend(images)  # a tool message carries text only: its images follow in the user message
        elif kind == "text" and block.get("text"):
            parts.append({"type": "text", "text": block["text"]})
        elif kind in ("image", "document"):
            part = _media_to_chat(block)
            if part:
                parts.append(part)
    if parts:
        one_text = len(parts) == 1 and parts[0]["type"] == "text"
        out.append({"role": "user", "content": parts[0]["text"] if one_text else parts})
    return out


def _assistant_to_chat(content: Any, keep_reasoning: bool) -> JSON:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[JSON] = []
    for block in content if isinstance(content, list) else []:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(as_str(block.get("text")))
        elif kind == "thinking" and keep_reasoning:
            reasoning.append(as_str(block.get("thinking")))
        elif kind == "tool_use":
            calls.append(tool_call(str(block.get("id") or ""), str(block.get("name") or ""),
                                   dumps(as_dict(block.get("input")))))
    text = "".join(texts)
    return assistant_message(text if text or not calls else None, "".join(reasoning), calls)


def _tool_result_to_chat(content: Any) -> tuple[str, list[JSON]]:
    if isinstance(content, str):
        return content, []
    texts, images = [], []
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and block.get("type") == "text":
            texts.append(as_str(block.get("text")))
        elif isinstance(block, dict):
            part = _media_to_chat(block)
            if part:
                images.append(part)
    return "\n".join(texts), images


def _media_to_chat(block: JSON) -> JSON | None:
    source = as_dict(block.get("source"))
    if source.get("type") == "base64" and isinstance(source.get("data"), str):
        url = data_url(str(source.get("media_type") or "application/octet-stream"), source["data"])
    elif source.get("type") == "url" and isinstance(source.get("url"), str):
        url = source["url"]
    elif source.get("type") == "text" and block.get("type") == "document":
        return {"type": "text", "text": str(source.get("data") or "")}
    else:
        return None
    if block.get("type") == "image":
        return {"type": "image_url", "image_url": {"url": url}}
    return {"type": "file", "file": {"file_data": url, "filename": str(block.get("title") or "document")}}


def _tool_to_chat(tool: JSON) -> JSON:
    fn: JSON = {"name": tool.get("name"), "parameters": tool.get("input_schema") or {"type": "object"}}
    if tool.get("description"):
        fn["description"] = tool["description"]
    if tool.get("strict") is True:
        fn["strict"] = True
    return {"type": "function", "function": fn}


def _tool_choice_to_chat(choice: Any, chat: JSON) -> None:
    if not isinstance(choice, dict):
        return
    kind = choice.get("type")
    if kind == "tool" and choice.get("name"):
        chat["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    elif kind in ("auto", "any", "none"):
        chat["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[kind]
    if choice.get("disable_parallel_tool_use") is True:
        chat["parallel_tool_calls"] = False


def _effort(body: JSON) -> str | None:
    thinking = body.get("thinking")
    if not isinstance(thinking, dict):
        return None
    kind = thinking.get("type")
    if kind not in ("enabled", "adaptive"):
        return None
    effort = as_dict(body.get("output_config")).get("effort")
    if effort in ("low", "medium", "high"):
        return str(effort)
    if effort in ("xhigh", "max"):
        return "high"
    budget = positive_int(thinking.get("budget_tokens"))
    return effort_from_budget(budget) if kind == "enabled" and budget else "medium"


# ---- responses -------------------------------------------------------------------------------

def response_to_chat(body: JSON) -> JSON:
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[JSON] = []
    for block in dicts(body.get("content")):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(as_str(block.get("text")))
        elif kind == "thinking":
            reasoning.append(as_str(block.get("thinking")))
        elif kind == "tool_use":
            calls.append(tool_call(str(block.get("id") or stable_id("toolu_", body.get("id"), len(calls))),
                                   str(block.get("name") or ""), dumps(as_dict(block.get("input")))))
    text = "".join(texts)
    message = assistant_message(text if text or not calls else None, "".join(reasoning), calls)
    finish = STOP_TO_FINISH.get(str(body.get("stop_reason")), "stop")
    return completion(str(body.get("id") or ""), str(body.get("model") or ""), now(), message, finish,
                      usage_from_anthropic(body.get("usage")))


def response_from_chat(chat: JSON, model: str) -> JSON:
    message, finish = first_choice(chat)
    blocks: list[JSON] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        blocks.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    text = text_of(message.get("content")) or as_str(message.get("refusal"))
    if text:
        blocks.append({"type": "text", "text": text})
    for n, (call_id, name, args) in enumerate(message_tool_calls(message)):
        blocks.append({"type": "tool_use", "id": call_id or stable_id("toolu_", chat.get("id"), n, name),
                       "name": name, "input": loads_object(args)})
    return {"id": message_id(chat.get("id")), "type": "message", "role": "assistant", "model": model,
            "content": blocks, "stop_reason": FINISH_TO_STOP.get(finish or "stop", "end_turn"),
            "stop_sequence": None, "usage": usage_to_anthropic(usage_of(chat) or Usage())}


def usage_from_response(body: JSON) -> Usage | None:
    return usage_from_anthropic(body.get("usage"))


def error_body(status: int, code: str, message: str, request_id: str) -> JSON:
    kind = _STATUS_ERRORS.get(status) or ("invalid_request_error" if status < 500 else "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}


def request_facts(body: JSON) -> tuple[str | None, bool, int | None]:
    model = body.get("model")
    return (model if isinstance(model, str) and model else None, body.get("stream") is True,
            positive_int(body.get("max_tokens")))


# ---- /v1/messages/count_tokens when the upstream cannot count --------------------------------

_IMAGE_TOKENS = 1600  # Anthropic's cost of the largest image it accepts without resizing
_TOOLS_PREAMBLE = 350  # the tool-use system prompt Anthropic adds when tools are present


def count_tokens_estimate(body: JSON) -> int:
    """A conservative local count of the input tokens of a Messages request."""
    total = estimate_tokens(text_of(body.get("system"), "\n\n"))
    for msg in dicts(body.get("messages")):
        if isinstance(msg, dict):
            total += 4 + _content_tokens(msg.get("content"))
    tools = [t for t in dicts(body.get("tools")) if isinstance(t, dict)]
    if tools:
        total += _TOOLS_PREAMBLE + sum(estimate_tokens(dumps(t)) for t in tools)
    return max(total, 1)


def count_tokens_body(body: JSON) -> JSON:
    """The /v1/messages/count_tokens response for a request."""
    return {"input_tokens": count_tokens_estimate(body)}


def _content_tokens(content: Any) -> int:
    if isinstance(content, str):
        return estimate_tokens(content)
    total = 0
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind in ("image", "document"):
            total += _IMAGE_TOKENS
        elif kind == "tool_result":
            total += _content_tokens(block.get("content"))
        elif kind == "tool_use":
            total += estimate_tokens(str(block.get("name") or "") + dumps(as_dict(block.get("input"))))
        else:
            total += estimate_tokens(str(block.get("text") or block.get("thinking") or ""))
    return total
