"""OpenAI Responses bodies to and from the chat form: output items, usage, statuses, and tool routes for Codex."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from relaygate.protocols.chat import (
    JSON,
    as_int,
    as_str,
    assistant_message,
    completion,
    dicts,
    dumps,
    first_choice,
    loads_object,
    message_tool_calls,
    now,
    stable_id,
    text_of,
    tool_call,
    usage_of,
)
from relaygate.protocols.usage import Usage

CUSTOM_TOOL_PARAMETERS: JSON = {"type": "object", "properties": {"input": {"type": "string"}}, "required": ["input"]}
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


@dataclass(frozen=True, slots=True)
class ToolRoute:
    """How a chat function name maps back to the tool the Responses client declared."""

    name: str
    namespace: str | None = None
    custom: bool = False  # a freeform (custom) tool: the chat function takes its text as {"input": ...}


Routes = dict[str, ToolRoute]


def flat_name(namespace: Any, name: str) -> str:
    """The chat function name of a tool inside a namespace (chat functions have no namespaces)."""
    if not isinstance(namespace, str) or not namespace:
        return name
    joined = namespace + name if namespace.endswith("_") else f"{namespace}__{name}"
    return joined if len(joined) <= 64 else joined[:39] + stable_id("_", joined)


def usage_from_responses(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    details = raw.get("input_tokens_details")
    out_details = raw.get("output_tokens_details")
    return Usage(as_int(raw.get("input_tokens")), as_int(raw.get("output_tokens")), as_int(raw.get("total_tokens")),
                 as_int(details.get("cached_tokens")) if isinstance(details, dict) else 0,
                 as_int(out_details.get("reasoning_tokens")) if isinstance(out_details, dict) else 0)


def usage_to_responses(usage: Usage) -> JSON:
    return {"input_tokens": usage.prompt_tokens,
            "input_tokens_details": {"cached_tokens": usage.cached_tokens, "cache_write_tokens": 0},
            "output_tokens": usage.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
            "total_tokens": usage.total_tokens}


def reasoning_text(item: JSON) -> str:
    """The readable text of a reasoning item: its summary parts, else its raw reasoning text."""
    parts = [p.get("text") for p in dicts(item.get("summary")) if isinstance(p, dict)]
    if not any(parts):
        parts = [p.get("text") for p in dicts(item.get("content")) if isinstance(p, dict)]
    return "\n\n".join(p for p in parts if isinstance(p, str) and p)


def call_from_item(item: JSON) -> JSON | None:
    """A function_call or custom_tool_call output item as a chat tool call."""
    kind = item.get("type")
    if kind not in ("function_call", "custom_tool_call"):
        return None
    name = flat_name(item.get("namespace"), str(item.get("name") or ""))
    call_id = str(item.get("call_id") or item.get("id") or stable_id("call_", name))
    args = item.get("arguments") if kind == "function_call" else dumps({"input": as_str(item.get("input"))})
    return tool_call(call_id, name, args if isinstance(args, str) else dumps(args or {}))


def finish_reason(status: Any, incomplete: Any, has_calls: bool) -> str:
    if status == "incomplete":
        reason = incomplete.get("reason") if isinstance(incomplete, dict) else None
        return "content_filter" if reason == "content_filter" else "length"
    return "tool_calls" if has_calls else "stop"


def response_to_chat(body: JSON) -> JSON:
    texts: list[str] = []
    reasoning: list[str] = []
    refusal: list[str] = []
    calls: list[JSON] = []
    for item in dicts(body.get("output")):
        if not isinstance(item, dict):
            continue
        if item.get("type") == "message":
            for part in dicts(item.get("content")):
                if isinstance(part, dict) and part.get("type") == "output_text":
                    texts.append(str(part.get("text") or ""))
                elif isinstance(part, dict) and part.get("type") == "refusal":
                    refusal.append(str(part.get("refusal") or ""))
        elif item.get("type") == "reasoning":
            reasoning.append(reasoning_text(item))
        else:
            call = call_from_item(item)
            if call:
                calls.append(call)
    text = "".join(texts)
    message = assistant_message(text if text or not calls else None, "".join(reasoning), calls)
    if refusal:
        message["refusal"] = "".join(refusal)
    finish = finish_reason(body.get("status"), body.get("incomplete_details"), bool(calls))
    return completion(str(body.get("id") or ""), str(body.get("model") or ""),
                      as_int(body.get("created_at")) or now(), message, finish,
                      usage_from_responses(body.get("usage")))


def response_id(chat_id: Any) -> str:
    text = str(chat_id or "")
    return text if text.startswith("resp_") else "resp_" + (text.removeprefix("chatcmpl-") or stable_id("", "empty"))


def reasoning_item(item_id: str, text: str) -> JSON:
    return {"type": "reasoning", "id": item_id, "summary": [{"type": "summary_text", "text": text}]}


def message_item(item_id: str, text: str, status: str = "completed") -> JSON:
    content = [{"type": "output_text", "text": text, "annotations": []}] if status == "completed" else []
    return {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": content}


def call_item(item_id: str, call_id: str, name: str, arguments: str, routes: Routes | None,
              status: str = "completed") -> JSON:
    """The output item for a chat tool call, restoring the namespace or custom-tool form the client declared."""
    route = (routes or {}).get(name) or ToolRoute(name)
    if route.custom:
        item: JSON = {"type": "custom_tool_call", "id": item_id, "call_id": call_id, "name": route.name,
                      "input": str(loads_object(arguments).get("input") or "") if status == "completed" else ""}
    else:
        item = {"type": "function_call", "id": item_id, "call_id": call_id, "name": route.name,
                "arguments": arguments if status == "completed" else "", "status": status}
    if route.namespace:
        item["namespace"] = route.namespace
    return item


def response_object(rid: str, model: str, created: int, output: list[JSON], usage: Usage | None,
                    finish: str | None, status: str | None = None) -> JSON:
    incomplete = _INCOMPLETE.get(finish or "")
    return {"id": rid, "object": "response", "created_at": created,
            "status": status or ("incomplete" if incomplete else "completed"),
            "error": None, "incomplete_details": {"reason": incomplete} if incomplete else None,
            "instructions": None, "max_output_tokens": None, "model": model, "output": output,
            "parallel_tool_calls": True, "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None}, "store": False, "temperature": None,
            "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [], "top_p": None,
            "truncation": "disabled", "usage": usage_to_responses(usage) if usage else None, "user": None,
            "metadata": {}}


def response_from_chat(chat: JSON, model: str, tools: Routes | None = None) -> JSON:
    """A chat completion as a Responses body; pass tool_routes(request) so Codex gets its namespaced tools back."""
    message, finish = first_choice(chat)
    rid = response_id(chat.get("id"))
    output: list[JSON] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        output.append(reasoning_item("rs_" + rid[5:], reasoning))
    text = text_of(message.get("content"))
    if text:
        output.append(message_item("msg_" + rid[5:], text))
    if message.get("refusal"):
        output.append({**message_item("msg_r" + rid[5:], ""), "content": [
            {"type": "refusal", "refusal": str(message["refusal"])}]})
    for n, (call_id, name, args) in enumerate(message_tool_calls(message)):
        call_id = call_id or stable_id("call_", rid, n, name)
        output.append(call_item(f"fc_{rid[5:]}_{n}", call_id, name, args, tools))
    created = as_int(chat.get("created")) or now()
    return response_object(rid, model, created, output, usage_of(chat), finish)
