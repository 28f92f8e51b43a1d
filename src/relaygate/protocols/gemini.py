"""Gemini generateContent (what Gemini CLI speaks) to and from the chat form: requests, paths, errors, facts."""

from __future__ import annotations

import mimetypes
import re
from typing import Any

import orjson

from relaygate.protocols.chat import (
    JSON,
    as_dict,
    as_list,
    as_str,
    assistant_message,
    data_url,
    dicts,
    dumps,
    effort_from_budget,
    message_tool_calls,
    parse_data_url,
    positive_int,
    stable_id,
    text_of,
    tool_call,
)
from relaygate.protocols.gemini_body import call_part, response_from_chat, response_to_chat, usage_from_gemini
from relaygate.protocols.gemini_stream import StreamFromChat, StreamToChat, error_object
from relaygate.protocols.usage import Usage

__all__ = ["StreamFromChat", "StreamToChat", "error_body", "path_facts", "request_facts", "request_from_chat",
           "request_to_chat", "response_from_chat", "response_to_chat", "upstream_path", "usage_from_response"]

# Google's documented signature for function calls whose real thought signature is unknown (history
# from another model): Gemini 3 refuses function-call history without one.
DUMMY_THOUGHT_SIGNATURE = "skip_thought_signature_validator"
_GEMINI_BUDGET = {"minimal": 512, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 32768}
_PATH = re.compile(r"/models/(?P<model>[^/:?]+):(?P<method>streamGenerateContent|generateContent)")


def upstream_path(model: str, stream: bool) -> str:
    return f"/models/{model}:streamGenerateContent?alt=sse" if stream else f"/models/{model}:generateContent"


def path_facts(path: str) -> tuple[str | None, bool]:
    """(model, stream) from a request path such as /v1beta/models/gemini-2.5-pro:streamGenerateContent."""
    match = _PATH.search(path)
    if not match:
        return None, False
    return match["model"], match["method"] == "streamGenerateContent"


def request_facts(body: JSON, path: str | None = None) -> tuple[str | None, bool, int | None]:
    """The model and stream flag live in the URL: pass the path to learn them, else (None, False, ...)."""
    model, stream = path_facts(path) if path else (None, False)
    config = as_dict(_get(body, "generationConfig"))
    return model, stream, positive_int(_get(config, "maxOutputTokens"))


def usage_from_response(body: JSON) -> Usage | None:
    return usage_from_gemini(body.get("usageMetadata"))


def error_body(status: int, code: str, message: str, request_id: str) -> JSON:
    """Google's error envelope; the request id rides in a google.rpc.RequestInfo detail."""
    error = error_object(status, message)
    error["details"] = [{"@type": "type.googleapis.com/google.rpc.RequestInfo", "requestId": request_id},
                        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": code.upper(),
                         "domain": "relaygate"}]
    return {"error": error}


def _get(obj: Any, camel: str) -> Any:
    """A field by its camelCase name or its snake_case one (both are accepted on the wire)."""
    if not isinstance(obj, dict):
        return None
    if camel in obj:
        return obj[camel]
    return obj.get(re.sub(r"([A-Z])", lambda m: "_" + m[1].lower(), camel))


def json_schema(schema: Any) -> Any:
    """Gemini's OpenAPI-style Schema (types in capitals) as JSON Schema."""
    if isinstance(schema, list):
        return [json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: JSON = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            out[key] = value.lower()
        elif key == "type" and isinstance(value, list):
            out[key] = [v.lower() if isinstance(v, str) else v for v in value]
        elif key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            out[key] = {k: json_schema(v) for k, v in value.items()}
        elif key in ("items", "anyOf", "oneOf", "allOf", "not", "additionalProperties", "prefixItems"):
            out[key] = json_schema(value)
        else:
            out[key] = value
    return out


# ---- Gemini request -> chat request --------------------------------------------------------------

def request_to_chat(body: JSON, *, model: str | None = None, stream: bool = False,
                    keep_reasoning: bool = False) -> JSON:
    """A generateContent request as a chat request; model and stream come from the URL (see path_facts)."""
    messages: list[JSON] = []
    system = _get(body, "systemInstruction")
    system_text = system if isinstance(system, str) else text_of(_get(system, "parts"), "\n")
    if system_text:
        messages.append({"role": "system", "content": system_text})
    pending: list[tuple[str, str]] = []  # (id, name) of calls still waiting for their response
    for n, content in enumerate(dicts(_get(body, "contents"))):
        if isinstance(content, dict):
            _content_to_chat(n, content, messages, pending, keep_reasoning)
    chat: JSON = {"model": model or body.get("model"), "messages": messages}
    tools = [{"type": "function", "function": _declaration_to_chat(d)}
             for tool in dicts(_get(body, "tools")) if isinstance(tool, dict)
             for d in dicts(_get(tool, "functionDeclarations")) if isinstance(d, dict) and d.get("name")]
    if tools:
        chat["tools"] = tools
        choice = _tool_choice_to_chat(_get(_get(body, "toolConfig"), "functionCallingConfig"))
        if choice is not None:
            chat["tool_choice"] = choice
    _config_to_chat(as_dict(_get(body, "generationConfig")), chat)
    if stream:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat


def _content_to_chat(n: int, content: JSON, messages: list[JSON], pending: list[tuple[str, str]],
                     keep_reasoning: bool) -> None:
    parts = [p for p in dicts(_get(content, "parts")) if isinstance(p, dict)]
    if content.get("role") == "model":
        texts: list[str] = []
        thoughts: list[str] = []
        calls: list[JSON] = []
        pending.clear()
        for m, part in enumerate(parts):
            fc = _get(part, "functionCall")
            if isinstance(fc, dict):
                name = str(fc.get("name") or "")
                call_id = str(fc.get("id") or stable_id("call_", n, m, name))
                pending.append((call_id, name))
                calls.append(tool_call(call_id, name, dumps(as_dict(fc.get("args")))))
            elif isinstance(part.get("text"), str):
                (thoughts if part.get("thought") else texts).append(part["text"])
        text = "".join(texts)
        messages.append(assistant_message(text if text or not calls else None,
                                          "".join(thoughts) if keep_reasoning else "", calls))
        return
    user: list[JSON] = []
    for part in parts:
        fr = _get(part, "functionResponse")
        if isinstance(fr, dict):
            messages.append({"role": "tool", "tool_call_id": _match_call(fr, pending),
                             "content": _response_text(fr.get("response"))})
        elif isinstance(part.get("text"), str) and not part.get("thought"):
            user.append({"type": "text", "text": part["text"]})
        else:
            media = _media_to_chat(part)
            if media:
                user.append(media)
    if user:
        one_text = len(user) == 1 and user[0]["type"] == "text"
        messages.append({"role": "user", "content": user[0]["text"] if one_text else user})


def _match_call(response: JSON, pending: list[tuple[str, str]]) -> str:
    """The id of the call a functionResponse answers: by id, else the first waiting call of that name."""
    wanted = response.get("id")
    name = response.get("name")
    for pos, (call_id, call_name) in enumerate(pending):
        if call_id == wanted or (not wanted and call_name == name):
            return pending.pop(pos)[0]
    return str(wanted or stable_id("call_", name, len(pending)))


def _response_text(response: Any) -> str:
    if isinstance(response, dict) and set(response) in ({"output"}, {"result"}) and isinstance(
            next(iter(response.values())), str):
        return str(next(iter(response.values())))
    return dumps(response if response is not None else {})


def _media_to_chat(part: JSON) -> JSON | None:
    blob = _get(part, "inlineData")
    if isinstance(blob, dict) and isinstance(blob.get("data"), str):
        mime = str(_get(blob, "mimeType") or "application/octet-stream")
        url = data_url(mime, blob["data"])
        if mime.startswith("image/"):
            return {"type": "image_url", "image_url": {"url": url}}
        return {"type": "file", "file": {"file_data": url, "filename": "file" + (mimetypes.guess_extension(mime)
                                                                                 or "")}}
    ref = _get(part, "fileData")
    if isinstance(ref, dict) and isinstance(_get(ref, "fileUri"), str):
        if str(_get(ref, "mimeType") or "").startswith("image/"):
            return {"type": "image_url", "image_url": {"url": _get(ref, "fileUri")}}
        return {"type": "text", "text": f"[file: {_get(ref, 'fileUri')}]"}
    return None


def _declaration_to_chat(decl: JSON) -> JSON:
    params = _get(decl, "parametersJsonSchema")
    params = json_schema(params) if isinstance(params, dict) else params
    if params is None:
        params = json_schema(decl.get("parameters")) if decl.get("parameters") else {"type": "object",
                                                                                     "properties": {}}
    fn: JSON = {"name": decl["name"], "parameters": params}
    if decl.get("description"):
        fn["description"] = decl["description"]
    return fn


def _tool_choice_to_chat(config: Any) -> Any:
    mode = str(_get(config, "mode") or "").upper()
    allowed = as_list(_get(config, "allowedFunctionNames"))
    if mode == "ANY":
        return {"type": "function", "function": {"name": allowed[0]}} if len(allowed) == 1 else "required"
    return {"AUTO": "auto", "VALIDATED": "auto", "NONE": "none"}.get(mode)


def _config_to_chat(config: JSON, chat: JSON) -> None:
    if positive_int(_get(config, "maxOutputTokens")):
        chat["max_tokens"] = _get(config, "maxOutputTokens")
    for camel, key in (("temperature", "temperature"), ("topP", "top_p"), ("presencePenalty", "presence_penalty"),
                       ("frequencyPenalty", "frequency_penalty"), ("seed", "seed")):
        value = _get(config, camel)
        if isinstance(value, int | float) and not isinstance(value, bool):
            chat[key] = value
    stops = [s for s in as_list(_get(config, "stopSequences")) if isinstance(s, str)]
    if stops:
        chat["stop"] = stops
    if str(_get(config, "responseMimeType") or "").startswith("application/json"):
        # both forms as JSON Schema: Gemini's own (responseSchema, types in capitals) and clients that
        # put capitals in responseJsonSchema too; OpenAI refuses "OBJECT" and "STRING"
        schema = _get(config, "responseJsonSchema")
        if schema is None:
            schema = _get(config, "responseSchema")
        schema = json_schema(schema) if schema is not None else None
        chat["response_format"] = ({"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}
                                   if isinstance(schema, dict) else {"type": "json_object"})
    thinking = _get(config, "thinkingConfig")
    if isinstance(thinking, dict):
        level = str(_get(thinking, "thinkingLevel") or "").lower()
        budget = _get(thinking, "thinkingBudget")
        if level in ("minimal", "low", "medium", "high"):
            chat["reasoning_effort"] = level
        elif level == "xhigh":
            chat["reasoning_effort"] = "high"
        elif budget == -1:
            chat["reasoning_effort"] = "medium"  # dynamic thinking: let the upstream's default decide
        elif positive_int(budget):
            chat["reasoning_effort"] = effort_from_budget(budget)


# ---- chat request -> Gemini request --------------------------------------------------------------

def request_from_chat(chat: JSON) -> JSON:
    """A chat request for a Gemini upstream (the model and stream flag go in the URL: see upstream_path)."""
    messages = [m for m in dicts(chat.get("messages")) if isinstance(m, dict)]
    lead = 0
    while lead < len(messages) and messages[lead].get("role") in ("system", "developer"):
        lead += 1
    body: JSON = {"contents": _contents_from_chat(messages[lead:])}
    system = "\n\n".join(text_of(m.get("content"), "\n\n") for m in messages[:lead])
    if system:
        body["systemInstruction"] = {"parts": [{"text": system}]}
    declarations = []
    for tool in dicts(chat.get("tools")):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(fn, dict) and fn.get("name"):
            decl: JSON = {"name": fn["name"]}
            if fn.get("description"):
                decl["description"] = fn["description"]
            decl["parametersJsonSchema"] = fn.get("parameters") or {"type": "object", "properties": {}}
            declarations.append(decl)
    if declarations:
        body["tools"] = [{"functionDeclarations": declarations}]
        choice = chat.get("tool_choice")
        if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
            body["toolConfig"] = {"functionCallingConfig": {"mode": "ANY",
                                                            "allowedFunctionNames": [choice["function"]["name"]]}}
        elif choice in ("auto", "none", "required"):
            mode = {"auto": "AUTO", "none": "NONE", "required": "ANY"}[str(choice)]
            body["toolConfig"] = {"functionCallingConfig": {"mode": mode}}
    config = _config_from_chat(chat)
    if config:
        body["generationConfig"] = config
    return body


def _contents_from_chat(messages: list[JSON]) -> list[JSON]:
    contents: list[JSON] = []
    names: dict[str, str] = {}  # tool call id -> function name, for the functionResponse parts

    def add(role: str, parts: list[JSON]) -> None:
        if not parts:
            return
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})

    for msg in messages:
        role, content = msg.get("role"), msg.get("content")
        if role == "assistant":
            parts: list[JSON] = [{"text": text_of(content)}] if text_of(content) else []
            calls = message_tool_calls(msg)
            for n, (call_id, name, args) in enumerate(calls):
                names[call_id] = name
                part = call_part(call_id, name, args)
                part["functionCall"].pop("id", None)  # ids are the Gemini API's to give; order pairs them
                if n == 0:
                    part["thoughtSignature"] = DUMMY_THOUGHT_SIGNATURE
                parts.append(part)
            add("model", parts)
        elif role == "tool":
            call_id = str(msg.get("tool_call_id") or "")
            response = _tool_response(text_of(content, "\n"))
            add("user", [{"functionResponse": {"name": names.get(call_id, ""), "response": response}}])
        elif role in ("user", "system", "developer"):
            add("user", _user_parts(content))  # Gemini has no system turn mid-conversation: it becomes user text
    return contents


def _tool_response(text: str) -> JSON:
    """A tool message as functionResponse.response: its JSON object, else {"output": text} as Google suggests."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = None
    return value if isinstance(value, dict) else {"output": text}


def _user_parts(content: Any) -> list[JSON]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts: list[JSON] = []
    for part in content if isinstance(content, list) else []:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and part.get("text"):
            parts.append({"text": part["text"]})
        elif kind in ("image_url", "file"):
            url = as_str(as_dict(part.get("image_url")).get("url") if kind == "image_url"
                         else as_dict(part.get("file")).get("file_data"))
            parsed = parse_data_url(url)
            if parsed:
                parts.append({"inlineData": {"mimeType": parsed[0], "data": parsed[1]}})
            elif url:
                mime = mimetypes.guess_type(url.split("?")[0])[0] or "image/jpeg"
                parts.append({"fileData": {"mimeType": mime, "fileUri": url}})
    return parts


def _config_from_chat(chat: JSON) -> JSON:
    config: JSON = {}
    max_tokens = positive_int(chat.get("max_completion_tokens")) or positive_int(chat.get("max_tokens"))
    if max_tokens:
        config["maxOutputTokens"] = max_tokens
    for key, camel in (("temperature", "temperature"), ("top_p", "topP"), ("presence_penalty", "presencePenalty"),
                       ("frequency_penalty", "frequencyPenalty"), ("seed", "seed")):
        if isinstance(chat.get(key), int | float) and not isinstance(chat.get(key), bool):
            config[camel] = chat[key]
    stop = chat.get("stop")
    stops = [stop] if isinstance(stop, str) else [s for s in as_list(stop) if isinstance(s, str)]
    if stops:
        config["stopSequences"] = stops[:5]
    fmt = as_dict(chat.get("response_format"))
    if fmt.get("type") in ("json_schema", "json_object"):
        config["responseMimeType"] = "application/json"
        schema = as_dict(fmt.get("json_schema")).get("schema")
        if isinstance(schema, dict):
            config["responseJsonSchema"] = schema
    budget = _GEMINI_BUDGET.get(str(chat.get("reasoning_effort")))
    if budget:
        config["thinkingConfig"] = {"thinkingBudget": budget, "includeThoughts": True}
    return config
