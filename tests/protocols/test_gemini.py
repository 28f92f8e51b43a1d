"""Gemini generateContent <-> chat: recorded streams at every split, JSON mode kept byte for byte, round trips."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
import pytest
from google.genai import types as gt
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion
from openai.types.chat import completion_create_params as ccp
from pydantic import TypeAdapter

from relaygate.protocols import gemini
from relaygate.protocols.chat import ChatCollector
from relaygate.protocols.sse import event_data
from relaygate.protocols.usage import Usage
from tests.protocols.replay import DATA, collect, events, force, mangled, recorded_payloads

RECORDED = ["gemini_thinking.sse", "gemini_parallel_calls.sse", "gemini_parallel_calls_followup.sse",
            "gemini_tool_thought.sse"]
CHAT_CREATE = TypeAdapter(ccp.CompletionCreateParamsNonStreaming)
CONTENTS = TypeAdapter(list[gt.Content])
TOOLS = TypeAdapter(list[gt.Tool])


def validate_request(body: dict[str, Any]) -> None:
    """The parts of a generateContent body, each parsed by google-genai's types (which forbid unknown fields)."""
    assert set(body) <= {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig"}
    CONTENTS.validate_python(body["contents"])
    if "systemInstruction" in body:
        gt.Content.model_validate(body["systemInstruction"])
    if "tools" in body:
        TOOLS.validate_python(body["tools"])
    if "toolConfig" in body:
        gt.ToolConfig.model_validate(body["toolConfig"])
    if "generationConfig" in body:
        gt.GenerationConfig.model_validate(body["generationConfig"])


def to_chat(data: bytes, cuts: Iterable[int] = ()) -> tuple[list[dict[str, Any]], gemini.StreamToChat]:
    translator = gemini.StreamToChat(created=0)
    chunks: list[dict[str, Any]] = []
    for ev in events(data, cuts):
        chunks.extend(translator.feed(ev))
    chunks.extend(translator.finish())
    return chunks, translator


def from_chat(chunks: Iterable[dict[str, Any]], model: str = "gemini-x") -> list[bytes]:
    stream = gemini.StreamFromChat(model)
    out: list[bytes] = []
    for c in chunks:
        out.extend(stream.feed(c))
    out.extend(stream.finish())
    return out


def validated(stream: list[bytes]) -> list[dict[str, Any]]:
    parsed = []
    for ev in stream:
        assert ev.startswith(b"data: ") and ev.endswith(b"\n\n") and ev.count(b"\n") == 2
        payload = orjson.loads(event_data(ev) or b"")
        if "error" not in payload:
            gt.GenerateContentResponse.model_validate(payload)
        parsed.append(payload)
    return parsed


def calls(c: ChatCollector) -> list[tuple[str, Any]]:
    return [(x.name, orjson.loads(x.arguments)) for x in c.calls.values()]


def chat_chunks(name: str) -> list[dict[str, Any]]:
    return [orjson.loads(event_data(ev) or b"") for ev in events((DATA / name).read_bytes())
            if event_data(ev) != b"[DONE]"]


# ---- recorded streams ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", RECORDED)
@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=40_000), max_size=30))
def test_recorded_streams_give_the_same_chunks_at_any_split(name: str, cuts: list[int]) -> None:
    data = (DATA / name).read_bytes()
    assert b"\r\n\r\n" in data  # Google frames its events with CRLF
    whole, t_whole = to_chat(data)
    split, t_split = to_chat(data, cuts)
    assert split == whole
    assert t_split.done and t_split.usage == t_whole.usage


def test_recorded_thinking_stream() -> None:
    chunks, t = to_chat((DATA / "gemini_thinking.sse").read_bytes())
    got = collect(chunks)
    assert got.reasoning.startswith("**Calculating Prime Sum**") and got.content.endswith("is 5117.")
    assert got.finish_reason == "stop" and got.id == "cjGwadCGE7yvnsEP3tfsiQk" and got.model == "gemini-2.5-flash"
    assert t.usage == Usage(51, 745 + 1234, 2030, 0, 1234)
    assert chunks[-1]["usage"]["completion_tokens_details"] == {"reasoning_tokens": 1234}


def test_recorded_parallel_function_calls() -> None:
    chunks, t = to_chat((DATA / "gemini_parallel_calls.sse").read_bytes())
    got = collect(chunks)
    assert calls(got) == [("sum", {"a": 2, "b": 3}), ("sum", {"a": 4, "b": 5}), ("sum", {"a": 6, "b": 7})]
    assert len({c.id for c in got.calls.values()}) == 3 and got.finish_reason == "tool_calls"
    assert t.usage == Usage(171, 54 + 77, 302, 0, 77)
    chunks, _ = to_chat((DATA / "gemini_tool_thought.sse").read_bytes())
    got = collect(chunks)
    assert got.reasoning.startswith("**Checking the Weather Data**")
    assert calls(got) == [("weather", {"city": "San Francisco"})] and got.finish_reason == "tool_calls"


@pytest.mark.parametrize("name", RECORDED)
def test_recorded_streams_survive_gemini_chat_gemini(name: str) -> None:
    chunks, t = to_chat((DATA / name).read_bytes())
    rebuilt = from_chat(chunks, "gemini-2.5-flash")
    validated(rebuilt)
    again, t2 = to_chat(b"".join(rebuilt))
    first, second = collect(chunks), collect(again)
    assert (second.content, second.reasoning, second.finish_reason) == (
        first.content, first.reasoning, first.finish_reason)
    assert [(c.id, c.name, c.arguments) for c in second.calls.values()] == [
        (c.id, c.name, c.arguments) for c in first.calls.values()]
    assert t2.usage == t.usage


@pytest.mark.parametrize("name", ["chat_text.sse", "chat_tool_call.sse"])
def test_recorded_chat_streams_become_valid_gemini_streams(name: str) -> None:
    chunks = chat_chunks(name)
    original = collect(chunks)
    out = validated(from_chat(chunks))
    last = out[-1]
    assert last["candidates"][0]["finishReason"] == "STOP"
    assert last["usageMetadata"]["candidatesTokenCount"] == original.usage.completion_tokens  # type: ignore[union-attr]
    back = collect(to_chat(b"".join(from_chat(chunks)))[0])
    assert back.content == original.content
    assert [(c.id, c.name, orjson.loads(c.arguments)) for c in back.calls.values()] == [
        (c.id, c.name, orjson.loads(c.arguments)) for c in original.calls.values()]


def test_stream_from_chat_closes_without_finish_reason_and_on_error() -> None:
    out = validated(from_chat([{"id": "chatcmpl-1", "choices": [{"index": 0, "delta": {"content": "hi"}}]}]))
    assert [o["candidates"][0].get("finishReason") for o in out] == [None, "STOP"]
    stream = gemini.StreamFromChat("g")
    stream.feed({"id": "x", "choices": [{"index": 0, "delta": {"content": "a"}}]})
    [err] = stream.error("too many requests upstream", "rate_limited")
    assert orjson.loads(event_data(err) or b"") == {"error": {"code": 429, "message": "too many requests upstream",
                                                              "status": "RESOURCE_EXHAUSTED"}}
    assert stream.finish() == [] and stream.feed({"choices": []}) == []
    t = gemini.StreamToChat(created=0)
    [chunk] = t.feed(err)
    assert t.done and chunk["error"]["code"] == "RESOURCE_EXHAUSTED"


def test_usage_after_the_finish_reason_still_counts() -> None:
    t = gemini.StreamToChat(created=0)
    t.feed(b'data: {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": "STOP"}]}\r\n\r\n')
    assert t.done and t.usage is None
    assert t.feed(b'data: {"usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1}}\n\n') == []
    assert t.usage == Usage(3, 1) and [c["usage"]["total_tokens"] for c in t.finish()] == [4]


def test_stream_without_alt_sse_is_one_json_array() -> None:
    data = b"".join(event_data(e) or b"" for e in events((DATA / "gemini_parallel_calls.sse").read_bytes()))
    chunks = gemini.StreamToChat(created=0).feed(b"data: [" + data + b"]\n\n")
    assert len(collect(chunks).calls) == 3


# ---- requests ------------------------------------------------------------------------------------

def test_recorded_requests_survive_gemini_chat_gemini() -> None:
    for name in ("gemini_parallel_calls_request.json", "gemini_parallel_calls_followup_request.json"):
        original = orjson.loads((DATA / name).read_bytes())
        chat = gemini.request_to_chat(original, model="gemini-2.5-flash", stream=True)
        force(CHAT_CREATE.validate_python({**chat, "stream": False}))
        assert chat["messages"][0]["role"] == "system" and chat["messages"][0]["content"].startswith("You are a calc")
        assert chat["tools"][0]["function"]["parameters"]["required"] == ["a", "b"]
        assert chat["model"] == "gemini-2.5-flash" and chat["stream_options"] == {"include_usage": True}
        back = gemini.request_from_chat(chat)
        validate_request(back)
        assert back["systemInstruction"] == {"parts": original["systemInstruction"]["parts"]}
        for got, want in zip(back["contents"], original["contents"], strict=True):
            assert got["role"] == want["role"]
            strip = [{k: v for k, v in p.items() if k != "thoughtSignature"} for p in want["parts"]]
            assert [{k: v for k, v in p.items() if k != "thoughtSignature"} for p in got["parts"]] == strip
        decl = original["tools"][0]["functionDeclarations"][0]
        assert back["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"] == decl["parametersJsonSchema"]


def test_function_responses_pair_with_their_calls_by_id_or_order() -> None:
    body = orjson.loads((DATA / "gemini_parallel_calls_followup_request.json").read_bytes())
    chat = gemini.request_to_chat(body)
    assistant = chat["messages"][2]
    ids = [c["id"] for c in assistant["tool_calls"]]
    assert [m["tool_call_id"] for m in chat["messages"][3:6]] == ids and len(set(ids)) == 3
    assert [m["content"] for m in chat["messages"][3:6]] == ['{"sum":5}', '{"sum":9}', '{"sum":13}']
    body["contents"][1]["parts"][0]["functionCall"]["id"] = "fc_a"
    body["contents"][2]["parts"].reverse()
    body["contents"][2]["parts"][-1]["functionResponse"]["id"] = "fc_a"
    chat = gemini.request_to_chat(body)
    assert chat["messages"][5] == {"role": "tool", "tool_call_id": "fc_a", "content": '{"sum":5}'}


def test_first_function_call_of_a_turn_carries_a_thought_signature() -> None:
    chat = {"model": "g", "messages": [
        {"role": "user", "content": "add"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "sum", "arguments": '{"a":1}'}},
            {"id": "c2", "type": "function", "function": {"name": "sum", "arguments": '{"a":2}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "1"},
        {"role": "tool", "tool_call_id": "c2", "content": "plain text"},
        {"role": "user", "content": "and now?"},
        {"role": "system", "content": "late rule"}]}
    body = gemini.request_from_chat(chat)
    validate_request(body)
    model, user = body["contents"][1:]
    assert [p.get("thoughtSignature") for p in model["parts"]] == ["skip_thought_signature_validator", None]
    assert "id" not in model["parts"][0]["functionCall"]
    assert user["parts"] == [{"functionResponse": {"name": "sum", "response": {"output": "1"}}},
                             {"functionResponse": {"name": "sum", "response": {"output": "plain text"}}},
                             {"text": "and now?"}, {"text": "late rule"}]


GEMINI_CLI_ROUTER = {
    "contents": [{"role": "user", "parts": [{"text": "Which model should answer: hi?"}]}],
    "systemInstruction": {"role": "user", "parts": [{"text": "You are a router."}]},
    "generationConfig": {"temperature": 0, "maxOutputTokens": 1024, "responseMimeType": "application/json",
                         "responseSchema": {"type": "OBJECT", "properties": {
                             "reasoning": {"type": "STRING"},
                             "model_choice": {"type": "STRING", "enum": ["flash", "pro"]}},
                             "required": ["reasoning", "model_choice"]},
                         "thinkingConfig": {"thinkingBudget": 0}},
}
ROUTER_ANSWER = '{\n  "reasoning": "A greeting is simple: \\"hi\\" → flash ✓",\n  "model_choice": "flash"\n}'


def test_json_mode_request_and_output_survive_byte_for_byte() -> None:
    chat = gemini.request_to_chat(GEMINI_CLI_ROUTER, model="gemini-2.5-flash-lite")
    assert chat["response_format"] == {"type": "json_schema", "json_schema": {"name": "response", "schema": {
        "type": "object", "properties": {"reasoning": {"type": "string"},
                                         "model_choice": {"type": "string", "enum": ["flash", "pro"]}},
        "required": ["reasoning", "model_choice"]}}}
    assert "reasoning_effort" not in chat and chat["temperature"] == 0 and chat["max_tokens"] == 1024
    completion = {"id": "chatcmpl-r", "object": "chat.completion", "created": 1, "model": "gpt-x",
                  "choices": [{"index": 0, "finish_reason": "stop",
                               "message": {"role": "assistant", "content": ROUTER_ANSWER}}],
                  "usage": {"prompt_tokens": 30, "completion_tokens": 20, "total_tokens": 50}}
    body = gemini.response_from_chat(completion, "gemini-2.5-flash-lite")
    gt.GenerateContentResponse.model_validate(body)
    assert body["candidates"][0]["content"]["parts"] == [{"text": ROUTER_ANSWER}]
    assert orjson.loads(body["candidates"][0]["content"]["parts"][0]["text"])["model_choice"] == "flash"
    pieces = [ROUTER_ANSWER[i:i + 7] for i in range(0, len(ROUTER_ANSWER), 7)]
    chunks = [{"id": "c", "choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces]
    streamed = validated(from_chat(chunks))
    text = "".join(p.get("text", "") for o in streamed for p in o["candidates"][0]["content"]["parts"])
    assert text == ROUTER_ANSWER
    back = gemini.request_from_chat(chat)
    validate_request(back)
    assert back["generationConfig"]["responseMimeType"] == "application/json"
    assert back["generationConfig"]["responseJsonSchema"] == chat["response_format"]["json_schema"]["schema"]
    assert gemini.response_to_chat(body)["choices"][0]["message"]["content"] == ROUTER_ANSWER


def test_generation_config_and_tool_config() -> None:
    body = {"contents": [{"role": "user", "parts": [
                {"text": "look"}, {"inlineData": {"mimeType": "image/png", "data": "AAAA"}},
                {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://x/y.jpg"}}]}],
            "tools": [{"functionDeclarations": [{"name": "f", "parameters": {
                "type": "OBJECT", "properties": {"xs": {"type": "ARRAY", "items": {"type": "INTEGER"}}}}}]},
                {"googleSearch": {}}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}},
            "generationConfig": {"topP": 0.9, "stopSequences": ["END"], "seed": 7,
                                 "thinkingConfig": {"thinkingLevel": "HIGH", "includeThoughts": True}}}
    chat = gemini.request_to_chat(body)
    assert chat["messages"][0]["content"][1:] == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "image_url", "image_url": {"url": "https://x/y.jpg"}}]
    assert chat["tools"] == [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"xs": {"type": "array", "items": {"type": "integer"}}}}}}]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert (chat["top_p"], chat["stop"], chat["seed"], chat["reasoning_effort"]) == (0.9, ["END"], 7, "high")
    back = gemini.request_from_chat(chat)
    validate_request(back)
    assert back["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}}
    assert back["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 24576, "includeThoughts": True}
    assert back["contents"][0]["parts"][1:] == [{"inlineData": {"mimeType": "image/png", "data": "AAAA"}},
                                                {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://x/y.jpg"}}]
    for budget, effort in ((1024, "low"), (8192, "medium"), (-1, "medium"), (30000, "high"), (0, None)):
        config = {"thinkingConfig": {"thinkingBudget": budget}}
        assert gemini.request_to_chat({"contents": [], "generationConfig": config}).get("reasoning_effort") == effort
    snake = gemini.request_to_chat({"contents": [], "system_instruction": {"parts": [{"text": "s"}]},
                                    "generation_config": {"max_output_tokens": 5}})
    assert snake["messages"] == [{"role": "system", "content": "s"}] and snake["max_tokens"] == 5


names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,20}", fullmatch=True)
texts = st.text(min_size=1, max_size=40).filter(lambda s: s.strip() != "")
json_values = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=10),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                       max_size=3), max_leaves=8)
objects = st.dictionaries(st.text(min_size=1, max_size=8), json_values, min_size=1, max_size=4)


@st.composite
def gemini_requests(draw: st.DrawFn) -> dict[str, Any]:
    contents: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 4))):
        contents.append({"role": "user", "parts": [{"text": draw(texts)}]})
        calls_ = draw(st.lists(st.tuples(names, objects), max_size=3))
        model_parts: list[dict[str, Any]] = [{"text": draw(texts)}]
        model_parts += [{"functionCall": {"name": n, "args": a}} for n, a in calls_]
        contents.append({"role": "model", "parts": model_parts})
        if calls_:
            contents.append({"role": "user", "parts": [{"functionResponse": {"name": n, "response": draw(objects)}}
                                                       for n, _ in calls_]})
    contents.append({"role": "user", "parts": [{"text": draw(texts)}]})
    return {"contents": contents, "systemInstruction": {"parts": [{"text": draw(texts)}]},
            "generationConfig": {"maxOutputTokens": draw(st.integers(1, 10**5))}}


@settings(max_examples=150, deadline=None)
@given(gemini_requests())
def test_requests_survive_gemini_chat_gemini(body: dict[str, Any]) -> None:
    validate_request(body)
    chat = gemini.request_to_chat(body, model="g")
    force(CHAT_CREATE.validate_python(chat))
    back = gemini.request_from_chat(chat)
    validate_request(back)
    assert back["systemInstruction"] == body["systemInstruction"]
    assert back["generationConfig"] == body["generationConfig"]
    strip = [[{k: v for k, v in p.items() if k != "thoughtSignature"} for p in c["parts"]] for c in back["contents"]]
    merged: list[dict[str, Any]] = []  # turns of one role in a row go out as one turn (older models insist)
    for c in body["contents"]:
        if merged and merged[-1]["role"] == c["role"]:
            merged[-1]["parts"] = merged[-1]["parts"] + c["parts"]
        else:
            merged.append(dict(c))
    assert strip == [c["parts"] for c in merged]


@st.composite
def gemini_responses(draw: st.DrawFn) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if draw(st.booleans()):
        parts.append({"text": draw(texts), "thought": True})
    if draw(st.booleans()):
        parts.append({"text": draw(texts)})
    calls_ = draw(st.lists(st.tuples(names, objects), max_size=3))
    parts += [{"functionCall": {"id": f"fc_{n}", "name": name, "args": a}} for n, (name, a) in enumerate(calls_)]
    prompt, cached, out, thoughts = (draw(st.integers(0, 10**6)) for _ in range(4))
    usage = {"promptTokenCount": prompt + cached, "candidatesTokenCount": out, "totalTokenCount":
             prompt + cached + out + thoughts}
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    if cached:
        usage["cachedContentTokenCount"] = cached
    reason = "STOP" if calls_ else draw(st.sampled_from(["STOP", "MAX_TOKENS", "SAFETY"]))
    return {"candidates": [{"content": {"role": "model", "parts": parts or [{"text": ""}]}, "finishReason": reason,
                            "index": 0}],
            "usageMetadata": usage, "modelVersion": "gemini-x", "responseId": draw(st.from_regex(r"[A-Za-z0-9]{12}",
                                                                                              fullmatch=True))}


@settings(max_examples=150, deadline=None)
@given(gemini_responses())
def test_responses_survive_gemini_chat_gemini(body: dict[str, Any]) -> None:
    gt.GenerateContentResponse.model_validate(body)
    chat = gemini.response_to_chat(body)
    ChatCompletion.model_validate(chat)
    back = gemini.response_from_chat(chat, "gemini-x")
    gt.GenerateContentResponse.model_validate(back)
    assert back == body


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(texts.map(lambda t: ("content", t)), texts.map(lambda t: ("reasoning_content", t))),
                max_size=8), st.lists(st.tuples(names, objects), max_size=3))
def test_chat_streams_survive_chat_gemini_chat(deltas: list[tuple[str, str]], tools: list[Any]) -> None:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1, "model": "gpt-x",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    chunks = [chunk({key: value}) for key, value in deltas]
    for n, (name, args) in enumerate(tools):
        text = orjson.dumps(args).decode()
        chunks.append(chunk({"tool_calls": [{"index": n, "id": f"call_{n}", "type": "function",
                                             "function": {"name": name, "arguments": text[:3]}}]}))
        chunks.append(chunk({"tool_calls": [{"index": n, "function": {"arguments": text[3:]}}]}))
    chunks.append(chunk({}, "tool_calls" if tools else "stop"))
    chunks.append({**chunk({}), "choices": [], "usage": {
        "prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14,
        "completion_tokens_details": {"reasoning_tokens": 4}}})
    original = collect(chunks)
    stream = from_chat(chunks)
    validated(stream)
    back_chunks, t = to_chat(b"".join(stream))
    back = collect(back_chunks)
    assert (back.content, back.reasoning, back.finish_reason) == (original.content, original.reasoning,
                                                                  original.finish_reason)
    assert [(c.id, c.name, orjson.loads(c.arguments)) for c in back.calls.values()] == [
        (c.id, c.name, orjson.loads(c.arguments)) for c in original.calls.values()]
    assert t.usage == original.usage


# ---- errors, paths, facts ------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "name"), [
    (400, "INVALID_ARGUMENT"), (401, "UNAUTHENTICATED"), (403, "PERMISSION_DENIED"), (404, "NOT_FOUND"),
    (429, "RESOURCE_EXHAUSTED"), (500, "INTERNAL"), (503, "UNAVAILABLE"), (504, "DEADLINE_EXCEEDED"),
    (418, "INVALID_ARGUMENT"), (599, "INTERNAL")])
def test_error_body(status: int, name: str) -> None:
    body = gemini.error_body(status, "no_channel", "nothing can serve it", "req_9")
    assert (body["error"]["code"], body["error"]["status"], body["error"]["message"]) == (
        status, name, "nothing can serve it")
    assert body["error"]["details"][0] == {"@type": "type.googleapis.com/google.rpc.RequestInfo",
                                           "requestId": "req_9"}


def test_paths_facts_and_usage() -> None:
    assert gemini.upstream_path("gemini-2.5-pro", False) == "/models/gemini-2.5-pro:generateContent"
    assert gemini.upstream_path("gemini-2.5-pro", True) == "/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    assert gemini.path_facts("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse") == (
        "gemini-2.5-flash", True)
    assert gemini.path_facts("/v1beta/models/gemini-2.5-flash:generateContent") == ("gemini-2.5-flash", False)
    assert gemini.path_facts("/v1/chat/completions") == (None, False)
    assert gemini.request_facts(GEMINI_CLI_ROUTER) == (None, False, 1024)
    assert gemini.request_facts(GEMINI_CLI_ROUTER, "/v1beta/models/m:streamGenerateContent") == ("m", True, 1024)
    recorded = orjson.loads((DATA / "gemini_generate.json").read_bytes())
    gt.GenerateContentResponse.model_validate(recorded)
    assert gemini.usage_from_response(recorded) == Usage(11, 1 + 34, 46, 0, 34)
    chat = gemini.response_to_chat(recorded)
    assert chat["choices"][0]["message"]["content"] == "Paris" and chat["usage"]["total_tokens"] == 46


def test_blocked_prompt_and_generated_images() -> None:
    blocked = gemini.response_to_chat({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {
        "promptTokenCount": 4, "totalTokenCount": 4}})
    assert blocked["choices"][0]["finish_reason"] == "content_filter"
    image = {"candidates": [{"content": {"role": "model", "parts": [
        {"text": "here"}, {"inlineData": {"mimeType": "image/png", "data": "iVBO"}}]}, "finishReason": "STOP",
        "index": 0}], "modelVersion": "gemini-2.5-flash-image", "responseId": "r1"}
    chat = gemini.response_to_chat(image)
    assert chat["choices"][0]["message"]["images"] == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}}]
    assert gemini.response_from_chat(chat, "gemini-2.5-flash-image")["candidates"][0]["content"]["parts"] == [
        {"text": "here"}, {"inlineData": {"mimeType": "image/png", "data": "iVBO"}}]


# ---- bodies from the wild: any field may hold anything ------------------------------------------

SEEDS = [GEMINI_CLI_ROUTER, gemini.request_to_chat(GEMINI_CLI_ROUTER),
         orjson.loads((DATA / "gemini_generate.json").read_bytes()), *recorded_payloads("gemini_*.sse")]


@settings(max_examples=400, deadline=None)
@given(mangled(SEEDS))
def test_mangled_bodies_never_crash(body: dict[str, Any]) -> None:
    for translate in (gemini.request_to_chat, gemini.request_from_chat, gemini.response_to_chat,
                      gemini.usage_from_response, gemini.request_facts):
        translate(body)
    gemini.response_from_chat(body, "m")
    to_chat(b"event: x\ndata: " + orjson.dumps(body) + b"\n\n")
    from_chat([body])
    gemini.request_to_chat(body, model="m", stream=True)
