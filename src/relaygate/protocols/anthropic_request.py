"""Chat requests rewritten for an Anthropic upstream (Messages API)."""

from __future__ import annotations

from typing import Any

from relaygate.protocols.chat import (
    EFFORT_BUDGET,
    JSON,
    as_dict,
    as_list,
    as_str,
    dicts,
    loads_object,
    message_tool_calls,
    parse_data_url,
    positive_int,
    stable_id,
    text_of,
)

DEFAULT_MAX_TOKENS = 4096  # Anthropic requires max_tokens; every Claude model allows at least this many
MIN_THINKING_BUDGET = 1024


def request_from_chat(chat: JSON) -> JSON:
    """A chat request for an Anthropic upstream; leading system messages become `system`, later ones stay in place."""
    messages = [m for m in dicts(chat.get("messages")) if isinstance(m, dict)]
    lead = 0
    while lead < len(messages) and messages[lead].get("role") in ("system", "developer"):
        lead += 1
    max_tokens = positive_int(chat.get("max_completion_tokens")) or positive_int(chat.get("max_tokens"))
    body: JSON = {"model": chat.get("model"), "max_tokens": max_tokens or DEFAULT_MAX_TOKENS,
                  "messages": _messages_from_chat(messages[lead:])}
    system = "\n\n".join(text_of(m.get("content"), "\n\n") for m in messages[:lead])
    if system:
        body["system"] = system
    if isinstance(chat.get("temperature"), int | float):
        body["temperature"] = min(float(chat["temperature"]), 1.0)
    if isinstance(chat.get("top_p"), int | float):
        body["top_p"] = chat["top_p"]
    stop = chat.get("stop")
    stops = [stop] if isinstance(stop, str) else [s for s in as_list(stop) if isinstance(s, str) and s]
    if stops:
        body["stop_sequences"] = stops
    if chat.get("stream") is True:
        body["stream"] = True
    tools = [_tool_from_chat(t["function"]) for t in dicts(chat.get("tools"))
             if isinstance(t, dict) and isinstance(t.get("function"), dict)]
    if tools:
        body["tools"] = tools
        choice = _tool_choice_from_chat(chat.get("tool_choice"), chat.get("parallel_tool_calls") is False)
        if choice:
            body["tool_choice"] = choice
    _thinking_from_chat(chat, body)
    fmt = as_dict(chat.get("response_format"))
    schema = as_dict(fmt.get("json_schema")).get("schema") if fmt.get("type") == "json_schema" else None
    if isinstance(schema, dict):
        body["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    if isinstance(chat.get("user"), str):
        body["metadata"] = {"user_id": chat["user"]}
    return body


def _messages_from_chat(messages: list[JSON]) -> list[JSON]:
    out: list[JSON] = []
    for msg in messages:
        role, content = msg.get("role"), msg.get("content")
        if role in ("system", "developer"):
            out.append({"role": "system", "content": text_of(content, "\n\n")})
        elif role == "assistant":
            blocks = _assistant_blocks(msg)
            if blocks:
                out.append({"role": "assistant", "content": blocks})
        elif role == "tool":
            result = {"type": "tool_result", "tool_use_id": str(msg.get("tool_call_id") or ""),
                      "content": text_of(content, "\n")}
            _append_user(out, [result])
        elif role == "user":
            if isinstance(content, str) and not (out and out[-1]["role"] == "user"):
                out.append({"role": "user", "content": content})
            else:
                _append_user(out, _user_blocks(content))
    return out


def _append_user(out: list[JSON], blocks: list[JSON]) -> None:
    if not blocks:
        return
    if out and out[-1]["role"] == "user":
        last = out[-1]
        if isinstance(last["content"], str):
            last["content"] = [{"type": "text", "text": last["content"]}] if last["content"] else []
        last["content"].extend(blocks)
    else:
        out.append({"role": "user", "content": blocks})


def _user_blocks(content: Any) -> list[JSON]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[JSON] = []
    for part in content if isinstance(content, list) else []:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and part.get("text"):
            blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            url = as_str(as_dict(part.get("image_url")).get("url"))
            parsed = parse_data_url(url)
            source = ({"type": "base64", "media_type": parsed[0], "data": parsed[1]} if parsed
                      else {"type": "url", "url": url})
            blocks.append({"type": "image", "source": source})
        elif kind == "file":
            parsed = parse_data_url(as_str(as_dict(part.get("file")).get("file_data")))
            if parsed:
                blocks.append({"type": "document",
                               "source": {"type": "base64", "media_type": parsed[0], "data": parsed[1]}})
    return blocks


def _assistant_blocks(msg: JSON) -> list[JSON]:
    blocks: list[JSON] = []
    text = text_of(msg.get("content"))
    if text:
        blocks.append({"type": "text", "text": text})
    for n, (call_id, name, args) in enumerate(message_tool_calls(msg)):
        blocks.append({"type": "tool_use", "id": call_id or stable_id("toolu_", name, n, args), "name": name,
                       "input": loads_object(args)})
    return blocks


def _tool_from_chat(fn: JSON) -> JSON:
    tool: JSON = {"name": fn.get("name"), "input_schema": fn.get("parameters") or {"type": "object", "properties": {}}}
    if fn.get("description"):
        tool["description"] = fn["description"]
    if fn.get("strict") is True:
        tool["strict"] = True
    return tool


def _tool_choice_from_chat(choice: Any, serial: bool) -> JSON | None:
    out: JSON | None = None
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        out = {"type": "tool", "name": choice["function"].get("name")}
    elif choice in ("auto", "required", "none"):
        out = {"type": {"auto": "auto", "required": "any", "none": "none"}[str(choice)]}
    if serial:
        out = out or {"type": "auto"}
        if out["type"] != "none":
            out["disable_parallel_tool_use"] = True
    return out


def _thinking_from_chat(chat: JSON, body: JSON) -> None:
    """Ask for thinking with a budget for the effort, unless Anthropic would refuse the combination."""
    budget = EFFORT_BUDGET.get(str(chat.get("reasoning_effort")))
    if not budget:
        return
    budget = min(budget, body["max_tokens"] - 1)
    forced = as_dict(body.get("tool_choice")).get("type") in ("any", "tool")
    last = body["messages"][-1] if body["messages"] else {}
    # Continuing a tool loop needs the signed thinking block of the previous turn, which the chat form lacks.
    in_tool_loop = last.get("role") == "user" and isinstance(last.get("content"), list) and any(
        b.get("type") == "tool_result" for b in last["content"])
    if budget < MIN_THINKING_BUDGET or forced or in_tool_loop:
        return
    body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    body.pop("temperature", None)  # thinking is incompatible with temperature and top_p changes
    body.pop("top_p", None)
