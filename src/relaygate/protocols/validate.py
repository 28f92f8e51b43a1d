"""What a request body must look like, per dialect and endpoint, before the gateway holds money for it.

``check_body`` runs on the dict the relay already parsed (the body is parsed once) and raises
``BadBody`` naming the first field that is wrong and what is expected, in English and Chinese. It
checks only what the gateway itself reads or translates: the top-level fields of each dialect and
the shape of each message (an object with a role and a content), never the text inside; its cost
grows with the number of messages, not with their size. Fields it does not know pass untouched.
``null`` counts as absent for optional fields, as the providers' own APIs take it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from relaygate.protocols.openai import BadBody


class Kind(NamedTuple):
    types: tuple[type, ...]
    en: str
    zh: str
    minimum: int | None = None  # integers: the smallest value accepted
    non_empty: bool = False  # lists: at least one item


STRING = Kind((str,), "a string", "字符串")
INTEGER = Kind((int,), "an integer", "整数")
COUNT = Kind((int,), "a positive integer", "正整数", minimum=1)
NUMBER = Kind((int, float), "a number", "数字")
BOOLEAN = Kind((bool,), "true or false (a JSON boolean)", "true 或 false（JSON 布尔值）")
OBJECT = Kind((dict,), "a JSON object", "JSON 对象")
ARRAY = Kind((list,), "a list", "列表")
MESSAGES = Kind((list,), "a non-empty list of messages", "非空的消息列表", non_empty=True)
STRING_OR_ARRAY = Kind((str, list), "a string or a list", "字符串或列表")
STRING_OR_OBJECT = Kind((str, dict), "a string or a JSON object", "字符串或 JSON 对象")
CONTENT = Kind((str, list), "a string or a list of content parts", "字符串或内容块列表")

_TYPE_NAMES = {str: ("a string", "字符串"), bool: ("a boolean", "布尔值"), int: ("an integer", "整数"),
               float: ("a number", "数字"), list: ("a list", "列表"), dict: ("an object", "对象"),
               type(None): ("null", "null")}

Spec = dict[str, tuple[Kind, bool]]  # field -> (kind, required)

_OPENAI_COMMON: Spec = {
    "stream": (BOOLEAN, False), "stream_options": (OBJECT, False), "max_tokens": (COUNT, False),
    "max_completion_tokens": (COUNT, False), "temperature": (NUMBER, False), "top_p": (NUMBER, False),
    "n": (COUNT, False), "presence_penalty": (NUMBER, False), "frequency_penalty": (NUMBER, False),
    "seed": (INTEGER, False), "user": (STRING, False), "stop": (STRING_OR_ARRAY, False),
}
_CHAT: Spec = {
    **_OPENAI_COMMON, "messages": (MESSAGES, True), "tools": (ARRAY, False),
    "tool_choice": (STRING_OR_OBJECT, False), "parallel_tool_calls": (BOOLEAN, False),
    "response_format": (OBJECT, False), "reasoning_effort": (STRING, False), "logprobs": (BOOLEAN, False),
    "top_logprobs": (INTEGER, False),
}
_COMPLETIONS: Spec = {**_OPENAI_COMMON, "prompt": (STRING_OR_ARRAY, True), "echo": (BOOLEAN, False),
                      "suffix": (STRING, False), "logprobs": (INTEGER, False), "best_of": (COUNT, False)}
_EMBEDDINGS: Spec = {"input": (STRING_OR_ARRAY, True), "stream": (BOOLEAN, False),
                     "encoding_format": (STRING, False), "dimensions": (COUNT, False), "user": (STRING, False)}
_RESPONSES: Spec = {
    "input": (STRING_OR_ARRAY, False), "instructions": (STRING, False), "stream": (BOOLEAN, False),
    "max_output_tokens": (COUNT, False), "temperature": (NUMBER, False), "top_p": (NUMBER, False),
    "tools": (ARRAY, False), "tool_choice": (STRING_OR_OBJECT, False), "parallel_tool_calls": (BOOLEAN, False),
    "reasoning": (OBJECT, False), "text": (OBJECT, False), "store": (BOOLEAN, False),
    "previous_response_id": (STRING, False), "metadata": (OBJECT, False), "user": (STRING, False),
    "stream_options": (OBJECT, False),
}
_ANTHROPIC_COMMON: Spec = {
    "messages": (MESSAGES, True), "system": (STRING_OR_ARRAY, False), "tools": (ARRAY, False),
    "tool_choice": (OBJECT, False), "thinking": (OBJECT, False),
}
_ANTHROPIC: Spec = {
    **_ANTHROPIC_COMMON, "max_tokens": (COUNT, True), "stream": (BOOLEAN, False), "temperature": (NUMBER, False),
    "top_p": (NUMBER, False), "top_k": (INTEGER, False), "stop_sequences": (ARRAY, False),
    "metadata": (OBJECT, False), "output_config": (OBJECT, False),
}
_GEMINI: Spec = {
    "contents": (MESSAGES, True), "tools": (ARRAY, False),
    **{name: (STRING_OR_OBJECT, False) for name in ("systemInstruction", "system_instruction")},
    **{name: (OBJECT, False) for name in ("generationConfig", "generation_config", "toolConfig", "tool_config")},
    **{name: (ARRAY, False) for name in ("safetySettings", "safety_settings")},
    **{name: (STRING, False) for name in ("cachedContent", "cached_content")},
}
_GEMINI_CONFIG: Spec = {
    **{name: (COUNT, False) for name in ("maxOutputTokens", "max_output_tokens", "candidateCount",
                                         "candidate_count")},
    **{name: (NUMBER, False) for name in ("temperature", "topP", "top_p", "topK", "top_k")},
    **{name: (ARRAY, False) for name in ("stopSequences", "stop_sequences")},
    **{name: (OBJECT, False) for name in ("thinkingConfig", "thinking_config")},
}

# (dialect, endpoint) -> (top-level spec, the list of messages, what each message needs)
_ENDPOINTS: dict[tuple[str, str], tuple[Spec, str | None, Spec]] = {
    ("openai", "chat/completions"): (_CHAT, "messages", {"role": (STRING, True), "content": (CONTENT, False)}),
    ("openai", "completions"): (_COMPLETIONS, None, {}),
    ("openai", "embeddings"): (_EMBEDDINGS, None, {}),
    ("responses", "responses"): (_RESPONSES, "input", {}),
    ("anthropic", "messages"): (_ANTHROPIC, "messages", {"role": (STRING, True), "content": (CONTENT, True)}),
    ("anthropic", "messages/count_tokens"): (_ANTHROPIC_COMMON, "messages",
                                             {"role": (STRING, True), "content": (CONTENT, True)}),
    ("gemini", "generateContent"): (_GEMINI, "contents", {"role": (STRING, False), "parts": (ARRAY, True)}),
}


def check_body(dialect: str, endpoint: str, data: dict[str, Any]) -> None:
    """Raise BadBody for the first field of ``data`` that this endpoint cannot take as it is."""
    known = _ENDPOINTS.get((dialect, endpoint))
    if known is None:
        return
    spec, items_field, item_spec = known
    _check_fields(data, spec, "")
    items = data.get(items_field) if items_field else None
    if isinstance(items, list) and items:
        shape = _SHAPES.get(id(item_spec))
        # one pass in a comprehension over the usual shape; the field-by-field walk names the first fault
        if shape is None or any([type(m) is not dict or type(m.get("role")) not in shape[0]
                                 or type(m.get(shape[1])) not in shape[2] for m in items]):
            for n, item in enumerate(items):
                if not isinstance(item, dict):
                    raise _wrong(f"{items_field}[{n}]", OBJECT, item)
                if item_spec:
                    _check_fields(item, item_spec, f"{items_field}[{n}].")
    if dialect == "gemini":
        for name in ("generationConfig", "generation_config"):
            config = data.get(name)
            if isinstance(config, dict):
                _check_fields(config, _GEMINI_CONFIG, f"{name}.")


def _shape(item_spec: Spec) -> tuple[tuple[type, ...], str, tuple[type, ...]] | None:
    """(role types, the content field, its types) of a message spec with a role and one content field,
    None (absent) allowed where the spec allows it: what the comprehension in ``check_body`` tests."""
    fields = list(item_spec.items())
    if len(fields) != 2 or fields[0][0] != "role":
        return None
    (_, (role, role_required)), (content, (kind, required)) = fields
    return (role.types if role_required else (*role.types, type(None)), content,
            kind.types if required else (*kind.types, type(None)))


_SHAPES = {id(item_spec): shape for _, _, item_spec in _ENDPOINTS.values()
           if (shape := _shape(item_spec)) is not None}


def _check_fields(obj: dict[str, Any], spec: Spec, prefix: str) -> None:
    if len(obj) < len(spec):  # walk the fields the object has (and the required ones), not the whole spec
        for name in obj:
            entry = spec.get(name)
            if entry is not None:
                _check_field(obj, name, entry[0], False, prefix)
        for name, (kind, required) in spec.items():
            if required and obj.get(name) is None:
                _check_field(obj, name, kind, True, prefix)
        return
    for name, (kind, required) in spec.items():
        _check_field(obj, name, kind, required, prefix)


def _check_field(obj: dict[str, Any], name: str, kind: Kind, required: bool, prefix: str) -> None:
    value = obj.get(name)
    if value is None:
        if required:
            raise BadBody(f"The field '{prefix}{name}' is required: send {kind.en}.",
                          f"缺少必填字段 '{prefix}{name}'：应为{kind.zh}。", f"{prefix}{name}")
        return
    if type(value) not in kind.types:  # exact types: true is not an integer, 1 is not a boolean
        raise _wrong(prefix + name, kind, value)
    if kind.minimum is not None and value < kind.minimum:
        raise BadBody(f"The field '{prefix}{name}' must be {kind.en} (at least {kind.minimum}); got {value}.",
                      f"字段 '{prefix}{name}' 必须是{kind.zh}（至少为 {kind.minimum}）；收到的是 {value}。",
                      prefix + name)
    if kind.non_empty and not value:
        raise BadBody(f"The field '{prefix}{name}' must be {kind.en}; got an empty list.",
                      f"字段 '{prefix}{name}' 必须是{kind.zh}；收到的是空列表。", prefix + name)


def _wrong(path: str, kind: Kind, value: Any) -> BadBody:
    got_en, got_zh = _TYPE_NAMES.get(type(value), ("a value of another type", "其他类型的值"))
    return BadBody(f"The field '{path}' must be {kind.en}; got {got_en}.",
                   f"字段 '{path}' 必须是{kind.zh}；收到的是{got_zh}。", path)
