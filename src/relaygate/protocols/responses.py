"""OpenAI Responses API (what Codex CLI speaks) to and from the chat form: requests, errors, facts, tool routes."""

from __future__ import annotations

from typing import Any

from relaygate.protocols.chat import (
    JSON,
    as_dict,
    as_str,
    assistant_message,
    dicts,
    dumps,
    message_tool_calls,
    positive_int,
    text_of,
)
from relaygate.protocols.responses_body import (
    CUSTOM_TOOL_PARAMETERS,
    Routes,
    ToolRoute,
    call_from_item,
    flat_name,
    reasoning_text,
    response_from_chat,
    response_to_chat,
    usage_from_responses,
)
from relaygate.protocols.responses_stream import StreamFromChat, StreamToChat
from relaygate.protocols.usage import Usage

__all__ = ["Routes", "StreamFromChat", "StreamToChat", "ToolRoute", "error_body", "request_facts",
           "request_from_chat", "request_to_chat", "response_from_chat", "response_to_chat", "tool_routes",
           "usage_from_response"]

_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "invalid_request_error",
                404: "invalid_request_error", 429: "rate_limit_error"}


# ---- tools ---------------------------------------------------------------------------------------

def _declared_tools(body: JSON) -> list[JSON]:
    """Top-level tools plus those Codex sends as `additional_tools` input items, namespaces unfolded."""
    tools = [t for t in dicts(body.get("tools")) if isinstance(t, dict)]
    items = body.get("input")
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("type") == "additional_tools":
            tools.extend(t for t in dicts(item.get("tools")) if isinstance(t, dict))
    flat: list[JSON] = []
    for tool in tools:
        if tool.get("type") == "namespace":
            flat.extend({**t, "namespace": tool.get("name")} for t in dicts(tool.get("tools")) if isinstance(t, dict))
        else:
            flat.append(tool)
    return flat


def tool_routes(body: JSON) -> Routes:
    """Chat function name -> declared tool, for every tool the chat form had to rename or reshape."""
    routes: Routes = {}
    for tool in _declared_tools(body):
        name, namespace = str(tool.get("name") or ""), as_str(tool.get("namespace")) or None
        if tool.get("type") in ("function", "custom") and (namespace or tool.get("type") == "custom"):
            routes[flat_name(namespace, name)] = ToolRoute(name, namespace, tool.get("type") == "custom")
    return routes


def _tools_to_chat(body: JSON) -> list[JSON]:
    out: dict[str, JSON] = {}
    for tool in _declared_tools(body):
        kind, name = tool.get("type"), str(tool.get("name") or "")
        if kind not in ("function", "custom") or not name:
            continue  # hosted tools (web_search, file_search, local_shell, ...) have no chat form
        fn: JSON = {"name": flat_name(tool.get("namespace"), name)}
        description = str(tool.get("description") or "")
        if kind == "custom":
            fmt = as_dict(tool.get("format"))
            if fmt.get("type") == "grammar" and fmt.get("definition"):
                description += f"\n\nThe input must follow this {fmt.get('syntax', '')} grammar:\n{fmt['definition']}"
            fn["parameters"] = CUSTOM_TOOL_PARAMETERS
        else:
            fn["parameters"] = tool.get("parameters") or {"type": "object", "properties": {}}
            if tool.get("strict") is True:
                fn["strict"] = True
        if description:
            fn["description"] = description
        out.setdefault(fn["name"], {"type": "function", "function": fn})
    return list(out.values())


def _tool_choice_to_chat(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict):
        if choice.get("type") in ("function", "custom") and choice.get("name"):
            return {"type": "function", "function": {"name": flat_name(choice.get("namespace"), choice["name"])}}
        if choice.get("type") == "allowed_tools" and choice.get("mode") in ("auto", "required"):
            return choice["mode"]
    return None


# ---- Responses request -> chat request -----------------------------------------------------------

def request_to_chat(body: JSON, *, keep_reasoning: bool = False) -> JSON:
    """A Responses request as a chat request; developer items become system messages where they stand.

    Non-standard items are tolerated: `additional_tools` adds tools, `configuration_update` and any other
    unknown item are skipped. Reasoning items of earlier turns are dropped unless keep_reasoning is set.
    """
    messages: list[JSON] = []
    if isinstance(body.get("instructions"), str) and body["instructions"]:
        messages.append({"role": "system", "content": body["instructions"]})
    items = body.get("input")
    if isinstance(items, str):
        messages.append({"role": "user", "content": items})
    else:
        _items_to_chat(dicts(items), messages, keep_reasoning)
    chat: JSON = {"model": body.get("model"), "messages": messages}
    tools = _tools_to_chat(body)
    if tools:
        chat["tools"] = tools
        choice = _tool_choice_to_chat(body.get("tool_choice"))
        if choice is not None:
            chat["tool_choice"] = choice
        if isinstance(body.get("parallel_tool_calls"), bool):
            chat["parallel_tool_calls"] = body["parallel_tool_calls"]
    if positive_int(body.get("max_output_tokens")):
        chat["max_tokens"] = body["max_output_tokens"]
    for key in ("temperature", "top_p"):
        if isinstance(body.get(key), int | float):
            chat[key] = body[key]
    if body.get("stream") is True:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    effort = as_dict(body.get("reasoning")).get("effort")
    if effort in _EFFORTS:
        chat["reasoning_effort"] = effort
    fmt = as_dict(as_dict(body.get("text")).get("format"))
    if fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        spec = {"name": fmt.get("name") or "output", "schema": fmt["schema"]}
        spec.update({k: fmt[k] for k in ("strict", "description") if k in fmt})
        chat["response_format"] = {"type": "json_schema", "json_schema": spec}
    elif fmt.get("type") == "json_object":
        chat["response_format"] = {"type": "json_object"}
    # what has a Chat Completions twin of the same name and meaning (docs/dialects.md)
    if isinstance(body.get("prompt_cache_key"), str) and body["prompt_cache_key"]:
        chat["prompt_cache_key"] = body["prompt_cache_key"]
    user = body.get("safety_identifier") or body.get("user")
    if isinstance(user, str) and user:
        chat["user"] = user
    verbosity = as_dict(body.get("text")).get("verbosity")
    if verbosity in ("low", "medium", "high"):
        chat["verbosity"] = verbosity
    return chat


def _items_to_chat(items: list[JSON], messages: list[JSON], keep_reasoning: bool) -> None:
    reasoning = ""
    open_assistant: JSON | None = None  # function calls join the assistant message just before them
    for item in items:
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            role = item.get("role")
            if role == "assistant":
                open_assistant = assistant_message(_text(item.get("content")), reasoning if keep_reasoning else "", [])
                messages.append(open_assistant)
                reasoning = ""
                continue
            messages.append({"role": "system" if role in ("system", "developer") else "user",
                             "content": _user_content(item.get("content"), role in ("system", "developer"))})
        elif kind in ("function_call", "custom_tool_call"):
            call = call_from_item(item)
            if call is None:
                continue
            if open_assistant is None:
                open_assistant = assistant_message(None, reasoning if keep_reasoning else "", [])
                messages.append(open_assistant)
                reasoning = ""
            open_assistant.setdefault("tool_calls", []).append(call)
            continue
        elif kind in ("function_call_output", "custom_tool_call_output"):
            messages.append({"role": "tool", "tool_call_id": str(item.get("call_id") or ""),
                             "content": _output_text(item.get("output"))})
        elif kind == "reasoning":
            reasoning = "\n\n".join(r for r in (reasoning, reasoning_text(item)) if r)
            continue
        else:
            continue  # additional_tools (read with the tools), configuration_update, item_reference, hosted calls
        open_assistant = None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(str(p.get("text") or p.get("refusal") or "") for p in dicts(content))


def _output_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    return text_of(output, "\n") if isinstance(output, list) else dumps(output)


def _user_content(content: Any, system: bool) -> Any:
    if isinstance(content, str) or system:
        return content if isinstance(content, str) else text_of(content, "\n\n")
    parts: list[JSON] = []
    for part in dicts(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": str(part.get("text") or "")})
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            image: JSON = {"url": part["image_url"]}
            if part.get("detail") in ("low", "high", "auto"):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        elif kind == "input_file":
            file = {k: part[k] for k in ("file_data", "file_id", "filename") if isinstance(part.get(k), str)}
            if file:
                parts.append({"type": "file", "file": file})
    if len(parts) == 1 and parts[0]["type"] == "text":
        return parts[0]["text"]
    return parts


# ---- chat request -> Responses request -----------------------------------------------------------

def request_from_chat(chat: JSON) -> JSON:
    """A chat request for a Responses upstream; every message stays in place as an input item."""
    items: list[JSON] = []
    for msg in dicts(chat.get("messages")):
        if isinstance(msg, dict):
            items.extend(_message_items(msg))
    body: JSON = {"model": chat.get("model"), "input": items, "store": False}
    max_tokens = positive_int(chat.get("max_completion_tokens")) or positive_int(chat.get("max_tokens"))
    if max_tokens:
        body["max_output_tokens"] = max_tokens
    for key in ("temperature", "top_p", "parallel_tool_calls", "user", "prompt_cache_key"):
        if chat.get(key) is not None:
            body[key] = chat[key]
    if chat.get("stream") is True:
        body["stream"] = True
    tools = []
    for tool in dicts(chat.get("tools")):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(fn, dict) and fn.get("name"):
            tool_out: JSON = {"type": "function", "name": fn["name"],
                              "parameters": fn.get("parameters") or {"type": "object", "properties": {}},
                              "strict": fn.get("strict") is True}
            if fn.get("description"):
                tool_out["description"] = fn["description"]
            tools.append(tool_out)
    if tools:
        body["tools"] = tools
        choice = chat.get("tool_choice")
        if choice in ("auto", "none", "required"):
            body["tool_choice"] = choice
        elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
            body["tool_choice"] = {"type": "function", "name": choice["function"].get("name")}
    if chat.get("reasoning_effort") in _EFFORTS:
        body["reasoning"] = {"effort": chat["reasoning_effort"], "summary": "auto"}
    fmt = as_dict(chat.get("response_format"))
    if fmt.get("type") == "json_schema" and isinstance(fmt.get("json_schema"), dict):
        spec = fmt["json_schema"]
        body["text"] = {"format": {"type": "json_schema", "name": spec.get("name") or "output",
                                   "schema": as_dict(spec.get("schema")),
                                   **{k: spec[k] for k in ("strict", "description") if k in spec}}}
    elif fmt.get("type") == "json_object":
        body["text"] = {"format": {"type": "json_object"}}
    if chat.get("verbosity") in ("low", "medium", "high"):
        body["text"] = {**as_dict(body.get("text")), "verbosity": chat["verbosity"]}
    return body


def _message_items(msg: JSON) -> list[JSON]:
    role, content = msg.get("role"), msg.get("content")
    if role == "tool":
        return [{"type": "function_call_output", "call_id": str(msg.get("tool_call_id") or ""),
                 "output": text_of(content, "\n")}]
    if role == "assistant":
        items: list[JSON] = []
        text = text_of(content)
        if text:
            items.append({"type": "message", "role": "assistant", "content": text})
        items.extend({"type": "function_call", "call_id": call_id, "name": name, "arguments": args}
                     for call_id, name, args in message_tool_calls(msg))
        return items
    if role not in ("system", "developer", "user"):
        return []
    if isinstance(content, str):
        return [{"type": "message", "role": role, "content": content}]
    parts: list[JSON] = []
    for part in dicts(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append({"type": "input_text", "text": str(part.get("text") or "")})
        elif kind == "image_url":
            image = as_dict(part.get("image_url"))
            detail = image.get("detail") if image.get("detail") in ("low", "high", "auto") else "auto"
            parts.append({"type": "input_image", "image_url": as_str(image.get("url")), "detail": detail})
        elif kind == "file":
            file = as_dict(part.get("file"))
            parts.append({"type": "input_file", **{k: file[k] for k in ("file_data", "file_id", "filename")
                                                   if isinstance(file.get(k), str)}})
    return [{"type": "message", "role": role, "content": parts}]


# ---- errors and facts ----------------------------------------------------------------------------

def error_body(status: int, code: str, message: str, request_id: str) -> JSON:
    """OpenAI's error envelope, which the Responses API shares."""
    kind = _ERROR_TYPES.get(status) or ("invalid_request_error" if status < 500 else "server_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": code, "request_id": request_id}}


def usage_from_response(body: JSON) -> Usage | None:
    return usage_from_responses(body.get("usage"))


def request_facts(body: JSON) -> tuple[str | None, bool, int | None]:
    model = body.get("model")
    return (model if isinstance(model, str) and model else None, body.get("stream") is True,
            positive_int(body.get("max_output_tokens")))

