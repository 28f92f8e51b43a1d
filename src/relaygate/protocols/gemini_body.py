"""Gemini generateContent responses to and from the chat form: parts, finish reasons, usageMetadata."""

from __future__ import annotations

from typing import Any

from relaygate.protocols.chat import (
    JSON,
    as_dict,
    as_int,
    assistant_message,
    completion,
    data_url,
    dicts,
    dumps,
    first_choice,
    loads_object,
    message_tool_calls,
    now,
    parse_data_url,
    stable_id,
    text_of,
    tool_call,
    usage_of,
)
from relaygate.protocols.usage import Usage

_FILTERED = ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
             "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "MODEL_ARMOR")
FINISH_TO_GEMINI = {"stop": "STOP", "tool_calls": "STOP", "function_call": "STOP", "length": "MAX_TOKENS",
                    "content_filter": "SAFETY"}


def finish_to_chat(reason: Any, has_calls: bool) -> str:
    if reason == "MAX_TOKENS":
        return "length"
    if reason in _FILTERED:
        return "content_filter"
    return "tool_calls" if has_calls else "stop"


def usage_from_gemini(raw: Any) -> Usage | None:
    """Gemini counts thoughts apart from candidates; the chat form counts them inside completion_tokens."""
    if not isinstance(raw, dict):
        return None
    prompt = as_int(raw.get("promptTokenCount")) + as_int(raw.get("toolUsePromptTokenCount"))
    thoughts = as_int(raw.get("thoughtsTokenCount"))
    completion_tokens = as_int(raw.get("candidatesTokenCount")) + thoughts
    return Usage(prompt, completion_tokens, as_int(raw.get("totalTokenCount")),
                 as_int(raw.get("cachedContentTokenCount")), thoughts)


def usage_to_gemini(usage: Usage) -> JSON:
    out: JSON = {"promptTokenCount": usage.prompt_tokens,
                 "candidatesTokenCount": max(usage.completion_tokens - usage.reasoning_tokens, 0),
                 "totalTokenCount": usage.total_tokens}
    if usage.reasoning_tokens:
        out["thoughtsTokenCount"] = usage.reasoning_tokens
    if usage.cached_tokens:
        out["cachedContentTokenCount"] = usage.cached_tokens
    return out


def call_part(call_id: str, name: str, arguments: str) -> JSON:
    call: JSON = {"name": name, "args": loads_object(arguments)}
    if call_id:
        call["id"] = call_id
    return {"functionCall": call}


def image_part(url: str) -> JSON | None:
    parsed = parse_data_url(url)
    return {"inlineData": {"mimeType": parsed[0], "data": parsed[1]}} if parsed else None


def candidate_parts(body: JSON) -> tuple[list[JSON], Any]:
    """(parts, finishReason) of the first candidate."""
    candidates = body.get("candidates")
    if not isinstance(candidates, list) or not candidates or not isinstance(candidates[0], dict):
        blocked = as_dict(body.get("promptFeedback")).get("blockReason")
        return [], "SAFETY" if blocked else None
    content = as_dict(candidates[0].get("content"))
    parts = [p for p in dicts(content.get("parts")) if isinstance(p, dict)]
    return parts, candidates[0].get("finishReason")


def response_to_chat(body: JSON) -> JSON:
    parts, reason = candidate_parts(body)
    rid = str(body.get("responseId") or stable_id("gen-", dumps(body)[:200]))
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[JSON] = []
    images: list[JSON] = []
    for n, part in enumerate(parts):
        if isinstance(part.get("text"), str):
            (thoughts if part.get("thought") else texts).append(part["text"])
        elif isinstance(part.get("functionCall"), dict):
            fc = part["functionCall"]
            name = str(fc.get("name") or "")
            calls.append(tool_call(str(fc.get("id") or stable_id("call_", rid, n, name)), name,
                                   dumps(as_dict(fc.get("args")))))
        elif isinstance(part.get("inlineData"), dict):
            blob = part["inlineData"]
            url = data_url(str(blob.get("mimeType") or "application/octet-stream"), str(blob.get("data") or ""))
            images.append({"type": "image_url", "image_url": {"url": url}})
    text = "".join(texts)
    message = assistant_message(text if text or not calls else None, "".join(thoughts), calls)
    if images:
        message["images"] = images  # the OpenRouter convention for generated images in a chat message
    return completion(rid, str(body.get("modelVersion") or ""), now(), message,
                      finish_to_chat(reason, bool(calls)), usage_from_gemini(body.get("usageMetadata")))


def response_from_chat(chat: JSON, model: str) -> JSON:
    message, finish = first_choice(chat)
    parts: list[JSON] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        parts.append({"text": reasoning, "thought": True})
    text = text_of(message.get("content")) or str(message.get("refusal") or "")
    if text:
        parts.append({"text": text})
    for image in dicts(message.get("images")):
        part = image_part(str(as_dict(image.get("image_url")).get("url") or "")) if isinstance(image, dict) else None
        if part:
            parts.append(part)
    parts.extend(call_part(*call) for call in message_tool_calls(message))
    body: JSON = {"candidates": [{"content": {"role": "model", "parts": parts or [{"text": ""}]},
                                  "finishReason": FINISH_TO_GEMINI.get(finish or "stop", "STOP"), "index": 0}],
                  "modelVersion": model, "responseId": str(chat.get("id") or stable_id("gen-", model))}
    usage = usage_of(chat)
    if usage is not None:
        body["usageMetadata"] = usage_to_gemini(usage)
    return body
