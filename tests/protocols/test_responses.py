"""OpenAI Responses <-> chat: recorded streams replayed at every split, round trips, and what Codex CLI sends."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion
from openai.types.chat import completion_create_params as ccp
from openai.types.responses import Response, ResponseStreamEvent
from openai.types.responses import response_create_params as rcp
from pydantic import TypeAdapter

from relaygate.protocols import responses
from relaygate.protocols.chat import ChatCollector
from relaygate.protocols.sse import event_data
from relaygate.protocols.usage import Usage
from tests.protocols.replay import DATA, collect, events, force, mangled, recorded_payloads

RECORDED = ["responses_text.sse", "responses_tools.sse", "responses_reasoning.sse", "responses_error.sse"]
EVENT = TypeAdapter(ResponseStreamEvent)
CREATE = TypeAdapter(rcp.ResponseCreateParamsNonStreaming)
CHAT_CREATE = TypeAdapter(ccp.CompletionCreateParamsNonStreaming)


def to_chat(data: bytes, cuts: Iterable[int] = ()) -> tuple[list[dict[str, Any]], responses.StreamToChat]:
    translator = responses.StreamToChat(created=0)
    chunks: list[dict[str, Any]] = []
    for ev in events(data, cuts):
        chunks.extend(translator.feed(ev))
    chunks.extend(translator.finish())
    return chunks, translator


def from_chat(chunks: Iterable[dict[str, Any]], model: str = "gpt-x",
              routes: responses.Routes | None = None) -> list[bytes]:
    stream = responses.StreamFromChat(model, routes)
    out: list[bytes] = []
    for c in chunks:
        out.extend(stream.feed(c))
    out.extend(stream.finish())
    return out


def validated(stream: list[bytes]) -> list[dict[str, Any]]:
    """Each event parsed by the SDK's own event union, numbered 0, 1, 2, ... and named by its type."""
    parsed = []
    for n, ev in enumerate(stream):
        payload = orjson.loads(event_data(ev) or b"")
        assert ev.startswith(b"event: " + payload["type"].encode() + b"\ndata: ")
        assert payload["sequence_number"] == n
        EVENT.validate_python(payload)
        parsed.append(payload)
    return parsed


def chat_chunks(name: str) -> list[dict[str, Any]]:
    return [orjson.loads(event_data(ev) or b"") for ev in events((DATA / name).read_bytes())
            if event_data(ev) != b"[DONE]"]


def calls(c: ChatCollector) -> list[tuple[str, str, Any]]:
    return [(x.id, x.name, orjson.loads(x.arguments)) for x in c.calls.values()]


# ---- recorded streams ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", RECORDED)
@settings(max_examples=50, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=40_000), max_size=30))
def test_recorded_streams_give_the_same_chunks_at_any_split(name: str, cuts: list[int]) -> None:
    data = (DATA / name).read_bytes()
    whole, t_whole = to_chat(data)
    split, t_split = to_chat(data, cuts)
    assert split == whole
    assert t_split.done and t_split.usage == t_whole.usage


def test_recorded_text_stream() -> None:
    chunks, t = to_chat((DATA / "responses_text.sse").read_bytes())
    got = collect(chunks)
    assert got.content and got.finish_reason == "stop" and got.id.startswith("resp_") and not got.calls
    assert t.usage == Usage(10, 62, 72)


def test_recorded_parallel_tool_calls() -> None:
    chunks, t = to_chat((DATA / "responses_tools.sse").read_bytes())
    got = collect(chunks)
    assert calls(got) == [("call_GXd80NWdsX8ng3xdeNLeA42o", "search",
                           {"query": "Detroit Tigers game time October 6, 2023"}),
                          ("call_qfdHN9tTntv02109c9RNnGGe", "weather", {"city": "Detroit"})]
    assert got.finish_reason == "tool_calls" and t.usage == Usage(92, 52, 144)


def test_recorded_reasoning_stream() -> None:
    chunks, t = to_chat((DATA / "responses_reasoning.sse").read_bytes())
    got = collect(chunks)
    assert got.reasoning.startswith("**Providing game details**") and got.reasoning.endswith("attire for the game.")
    assert calls(got) == [("call_nNlsgLEC5L6HTPLYNLGxYOrZ", "search",
                           {"query": "Detroit Tigers game time June 23 2025"})]
    assert t.usage == Usage(78, 221, 299, 0, 192)


def test_recorded_error_stream_gives_one_error_chunk() -> None:
    chunks, t = to_chat((DATA / "responses_error.sse").read_bytes())
    errors = [c for c in chunks if "error" in c]
    assert [e["error"]["message"] for e in errors] == ["Foobar"] and t.done


@pytest.mark.parametrize("name", RECORDED[:3])
def test_recorded_streams_survive_responses_chat_responses(name: str) -> None:
    chunks, t = to_chat((DATA / name).read_bytes())
    rebuilt = from_chat(chunks)
    parsed = validated(rebuilt)
    assert parsed[0]["type"] == "response.created" and parsed[-1]["type"] == "response.completed"
    final = Response.model_validate(parsed[-1]["response"])
    again, t2 = to_chat(b"".join(rebuilt))
    first, second = collect(chunks), collect(again)
    assert (second.content, second.reasoning, second.finish_reason) == (
        first.content, first.reasoning, first.finish_reason)
    assert calls(second) == calls(first) and t2.usage == t.usage
    assert final.output_text == first.content


@pytest.mark.parametrize("name", ["chat_text.sse", "chat_tool_call.sse"])
def test_recorded_chat_streams_become_valid_responses_streams(name: str) -> None:
    chunks = chat_chunks(name)
    original = collect(chunks)
    parsed = validated(from_chat(chunks))
    final = Response.model_validate(parsed[-1]["response"])
    assert final.status == "completed" and final.usage is not None
    assert final.usage.output_tokens == original.usage.completion_tokens  # type: ignore[union-attr]
    back = collect(to_chat(b"".join(from_chat(chunks)))[0])
    assert back.content == original.content and calls(back) == calls(original)


def test_stream_from_chat_ends_without_finish_reason_and_on_errors() -> None:
    parsed = validated(from_chat([{"id": "chatcmpl-1", "choices": [{"index": 0, "delta": {"content": "hi"}}]}]))
    assert [e["type"] for e in parsed] == [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.done", "response.content_part.done",
        "response.output_item.done", "response.completed"]
    cut = validated(from_chat([{"id": "c", "choices": [{"index": 0, "delta": {"content": "x"},
                                                        "finish_reason": "length"}]}]))
    assert cut[-1]["type"] == "response.incomplete"
    assert cut[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    stream = responses.StreamFromChat("m")
    head = stream.feed({"id": "c", "choices": [{"index": 0, "delta": {"content": "x"}}]})
    tail = stream.error("upstream went away", "upstream_stream_error")
    parsed = validated([*head, *tail])
    assert [e["type"] for e in parsed[-2:]] == ["error", "response.failed"]
    assert parsed[-2]["code"] == "upstream_stream_error" and parsed[-1]["response"]["status"] == "failed"
    assert stream.finish() == [] and stream.feed({"choices": []}) == []
    t = responses.StreamToChat(created=0)
    [chunk] = [c for ev in tail for c in t.feed(ev)]
    assert chunk["error"]["message"] == "upstream went away" and t.done


# ---- what Codex CLI sends ------------------------------------------------------------------------

def codex_body() -> dict[str, Any]:
    return {
        "model": "gpt-5-codex", "stream": True, "store": False, "parallel_tool_calls": False,
        "include": ["reasoning.encrypted_content"], "prompt_cache_key": "019a-session",
        "client_metadata": {"originator": "codex_exec"}, "reasoning": {"effort": "medium", "summary": "auto"},
        "tool_choice": "auto",
        "tools": [
            {"type": "function", "name": "shell", "description": "Run a command", "strict": False,
             "parameters": {"type": "object", "properties": {"command": {"type": "array",
                                                                         "items": {"type": "string"}}}}},
            {"type": "web_search"},
        ],
        "input": [
            {"type": "additional_tools", "tools": [
                {"type": "namespace", "name": "mcp__docs", "description": "Docs server", "tools": [
                    {"type": "function", "name": "search", "parameters": {"type": "object"}}]},
                {"type": "custom", "name": "apply_patch", "description": "Patch files",
                 "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}}]},
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "sandbox rules"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<environment_context/>"},
                                                            {"type": "input_text", "text": "fix the test"}]},
            {"type": "configuration_update", "reasoning": {"effort": "high"}},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Look first."}],
             "encrypted_content": "gAAAA..."},
            {"type": "function_call", "call_id": "call_1", "name": "shell", "arguments": '{"command":["ls"]}'},
            {"type": "function_call_output", "call_id": "call_1", "output": "a.py\nb.py"},
            {"type": "function_call", "call_id": "call_2", "name": "search", "namespace": "mcp__docs",
             "arguments": '{"q":"x"}'},
            {"type": "function_call_output", "call_id": "call_2",
             "output": [{"type": "input_text", "text": "found"}]},
            {"type": "custom_tool_call", "call_id": "call_3", "name": "apply_patch", "input": "*** Begin Patch"},
            {"type": "custom_tool_call_output", "call_id": "call_3", "output": "Done"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Fixed."}]},
            {"type": "message", "role": "developer", "content": "approval policy changed"},
            {"type": "message", "role": "user", "content": "thanks"},
            {"type": "item_reference", "id": "msg_old"},
        ],
    }


def test_codex_request_to_chat() -> None:
    chat = responses.request_to_chat(codex_body())
    force(CHAT_CREATE.validate_python({**chat, "stream": False}))
    roles = [m["role"] for m in chat["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant", "tool", "assistant",
                     "system", "user"]
    assert chat["messages"][0] == {"role": "system", "content": "sandbox rules"}
    assert chat["messages"][1]["content"] == [{"type": "text", "text": "<environment_context/>"},
                                              {"type": "text", "text": "fix the test"}]
    assert chat["messages"][2]["tool_calls"][0]["function"] == {"name": "shell", "arguments": '{"command":["ls"]}'}
    assert "reasoning_content" not in chat["messages"][2]
    assert chat["messages"][4]["tool_calls"][0]["function"]["name"] == "mcp__docs__search"
    assert chat["messages"][5] == {"role": "tool", "tool_call_id": "call_2", "content": "found"}
    assert chat["messages"][6]["tool_calls"][0]["function"] == {"name": "apply_patch",
                                                                "arguments": '{"input":"*** Begin Patch"}'}
    assert chat["messages"][8]["content"] == "Fixed." and chat["messages"][9]["content"] == "approval policy changed"
    names = [t["function"]["name"] for t in chat["tools"]]
    assert names == ["shell", "mcp__docs__search", "apply_patch"]  # web_search has no chat form
    assert "lark grammar" in chat["tools"][2]["function"]["description"]
    assert chat["parallel_tool_calls"] is False and chat["tool_choice"] == "auto"
    assert chat["reasoning_effort"] == "medium" and chat["stream_options"] == {"include_usage": True}
    kept = responses.request_to_chat(codex_body(), keep_reasoning=True)
    assert kept["messages"][2]["reasoning_content"] == "Look first."


def test_tool_routes_restore_namespaces_and_custom_tools() -> None:
    routes = responses.tool_routes(codex_body())
    assert routes == {"mcp__docs__search": responses.ToolRoute("search", "mcp__docs"),
                      "apply_patch": responses.ToolRoute("apply_patch", None, True)}
    chat = {"id": "chatcmpl-7", "created": 5, "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "mcp__docs__search", "arguments": '{"q":1}'}},
            {"id": "call_b", "type": "function",
             "function": {"name": "apply_patch", "arguments": '{"input":"*** Begin Patch\\n"}'}},
            {"id": "call_c", "type": "function", "function": {"name": "shell", "arguments": "{}"}}]}}]}
    body = responses.response_from_chat(chat, "gpt-5-codex", routes)
    Response.model_validate(body)
    a, b, c = body["output"]
    assert (a["type"], a["name"], a["namespace"], a["arguments"]) == ("function_call", "search", "mcp__docs", '{"q":1}')
    assert (b["type"], b["name"], b["input"]) == ("custom_tool_call", "apply_patch", "*** Begin Patch\n")
    assert (c["name"], c.get("namespace")) == ("shell", None)
    chunks = [{"id": "chatcmpl-7", "choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "id": "call_a", "function": {"name": "mcp__docs__search", "arguments": '{"q"'}},
        {"index": 1, "id": "call_b", "function": {"name": "apply_patch", "arguments": '{"input":'}}]}}]},
        {"id": "chatcmpl-7", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 1, "function": {"arguments": '"diff"}'}}, {"index": 0, "function": {"arguments": ":1}"}}]},
            "finish_reason": "tool_calls"}]}]
    parsed = validated(from_chat(chunks, routes=routes))
    final = parsed[-1]["response"]["output"]
    assert final[0]["namespace"] == "mcp__docs" and final[0]["arguments"] == '{"q":1}'
    assert final[1] == {"type": "custom_tool_call", "id": final[1]["id"], "call_id": "call_b", "name": "apply_patch",
                        "input": "diff"}
    back = collect(to_chat(b"".join(from_chat(chunks, routes=routes)))[0])
    assert calls(back) == [("call_a", "mcp__docs__search", {"q": 1}), ("call_b", "apply_patch", {"input": "diff"})]


def test_long_namespaced_names_stay_within_the_chat_limit() -> None:
    body = {"input": [{"type": "additional_tools", "tools": [{"type": "namespace", "name": "n" * 50, "tools": [
        {"type": "function", "name": "t" * 40}]}]}]}
    [name] = responses.tool_routes(body)
    assert len(name) == 64 and responses.tool_routes(body)[name] == responses.ToolRoute("t" * 40, "n" * 50)


def test_request_to_chat_json_modes_and_odd_inputs() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    chat = responses.request_to_chat({"model": "m", "input": "hi", "instructions": "be terse", "max_output_tokens": 9,
                                      "text": {"format": {"type": "json_schema", "name": "r", "schema": schema,
                                                          "strict": True}}})
    assert chat["messages"] == [{"role": "system", "content": "be terse"}, {"role": "user", "content": "hi"}]
    assert chat["response_format"] == {"type": "json_schema", "json_schema": {"name": "r", "schema": schema,
                                                                              "strict": True}}
    assert chat["max_tokens"] == 9
    odd = responses.request_to_chat({"model": "m", "input": [
        None, 3, {"type": "mystery_item", "x": 1}, {"role": "user", "content": [
            {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"},
            {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBE"}]},
        {"type": "function_call", "call_id": "c", "name": "f"}],
        "text": {"format": {"type": "json_object"}}})
    assert odd["messages"][0]["content"][0] == {"type": "image_url", "image_url": {
        "url": "data:image/png;base64,AAAA", "detail": "low"}}
    assert odd["messages"][0]["content"][1]["file"]["filename"] == "a.pdf"
    assert odd["messages"][1]["tool_calls"][0]["function"] == {"name": "f", "arguments": "{}"}
    assert odd["response_format"] == {"type": "json_object"}


def test_request_from_chat() -> None:
    chat = {"model": "gpt-x", "max_tokens": 50, "stream": True, "reasoning_effort": "high", "temperature": 0.5,
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object"}}},
            "messages": [
                {"role": "system", "content": "rules"},
                {"role": "user", "content": [{"type": "text", "text": "see"},
                                             {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
                {"role": "assistant", "content": "calling", "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
                {"role": "developer", "content": "late"}]}
    body = responses.request_from_chat(chat)
    force(CREATE.validate_python({**body, "stream": False}))
    assert [i.get("role") or i["type"] for i in body["input"]] == [
        "system", "user", "assistant", "function_call", "function_call_output", "developer"]
    assert body["input"][1]["content"][1] == {"type": "input_image", "image_url": "https://x/y.png", "detail": "auto"}
    assert body["max_output_tokens"] == 50 and body["store"] is False and body["stream"] is True
    assert body["reasoning"] == {"effort": "high", "summary": "auto"}
    assert body["tool_choice"] == {"type": "function", "name": "f"}
    assert body["text"] == {"format": {"type": "json_schema", "name": "r", "schema": {"type": "object"}}}


names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,20}", fullmatch=True)
texts = st.text(min_size=1, max_size=40).filter(lambda s: s.strip() != "")
json_values = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=10),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                       max_size=3), max_leaves=8)
arguments = st.dictionaries(st.text(min_size=1, max_size=8), json_values, max_size=4).map(
    lambda d: orjson.dumps(d).decode())


@st.composite
def codex_inputs(draw: st.DrawFn) -> dict[str, Any]:
    items: list[dict[str, Any]] = [{"type": "message", "role": "developer", "content": draw(texts)}]
    for turn in range(draw(st.integers(1, 4))):
        items.append({"type": "message", "role": "user", "content": draw(texts)})
        if draw(st.booleans()):
            items.append({"type": "message", "role": "assistant", "content": draw(texts)})
        for n, (name, args) in enumerate(draw(st.lists(st.tuples(names, arguments), max_size=3))):
            items.append({"type": "function_call", "call_id": f"call_{turn}_{n}", "name": name, "arguments": args})
            items.append({"type": "function_call_output", "call_id": f"call_{turn}_{n}", "output": draw(texts)})
        if draw(st.booleans()):
            items.append({"type": "configuration_update", "reasoning": {"effort": "low"}})
    return {"model": "gpt-x", "input": items}


def _essence(items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    keep = []
    for i in items:
        kind = i.get("type")
        if kind == "message":
            keep.append((i["role"], i["content"]))
        elif kind == "function_call":
            keep.append((kind, i["call_id"], i["name"], orjson.loads(i["arguments"])))
        elif kind == "function_call_output":
            keep.append((kind, i["call_id"], i["output"]))
    return keep


@settings(max_examples=150, deadline=None)
@given(codex_inputs())
def test_requests_survive_responses_chat_responses(body: dict[str, Any]) -> None:
    chat = responses.request_to_chat(body)
    force(CHAT_CREATE.validate_python(chat))
    back = responses.request_from_chat(chat)
    force(CREATE.validate_python(back))
    expected = [("system" if e[0] == "developer" else e[0], *e[1:]) for e in _essence(body["input"])]
    assert _essence(back["input"]) == expected


@st.composite
def response_bodies(draw: st.DrawFn) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    if draw(st.booleans()):
        output.append({"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": draw(texts)}]})
    if draw(st.booleans()):
        output.append({"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                       "content": [{"type": "output_text", "text": draw(texts), "annotations": []}]})
    for n, (name, args) in enumerate(draw(st.lists(st.tuples(names, arguments), max_size=3))):
        output.append({"type": "function_call", "id": f"fc_{n}", "call_id": f"call_{n}", "name": name,
                       "arguments": args, "status": "completed"})
    prompt, cached, out, reasoning = (draw(st.integers(0, 10**6)) for _ in range(4))
    usage = {"input_tokens": prompt + cached, "input_tokens_details": {"cached_tokens": cached,
                                                                       "cache_write_tokens": 0},
             "output_tokens": out + reasoning, "output_tokens_details": {"reasoning_tokens": reasoning},
             "total_tokens": prompt + cached + out + reasoning}
    status = draw(st.sampled_from(["completed", "incomplete"]))
    return {"id": "resp_" + draw(st.from_regex(r"[a-z0-9]{8}", fullmatch=True)), "object": "response",
            "created_at": 1700000000, "status": status, "model": "gpt-x", "output": output,
            "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
            "parallel_tool_calls": True, "tool_choice": "auto", "tools": [], "usage": usage}


@settings(max_examples=150, deadline=None)
@given(response_bodies())
def test_responses_survive_responses_chat_responses(body: dict[str, Any]) -> None:
    Response.model_validate(body)
    chat = responses.response_to_chat(body)
    ChatCompletion.model_validate(chat)
    back = responses.response_from_chat(chat, "gpt-x")
    Response.model_validate(back)

    def essence(b: dict[str, Any]) -> list[Any]:
        out: list[Any] = []
        for i in b["output"]:
            if i["type"] == "reasoning":
                out.append(("reasoning", i["summary"][0]["text"]))
            elif i["type"] == "message":
                out.append(("text", i["content"][0]["text"]))
            else:
                out.append((i["call_id"], i["name"], orjson.loads(i["arguments"])))
        return out

    assert essence(back) == essence(body)
    assert back["id"] == body["id"] and back["status"] == body["status"] and back["created_at"] == body["created_at"]
    assert responses.usage_from_response(back) == responses.usage_from_response(body)


# ---- errors and facts ----------------------------------------------------------------------------

def test_error_body_facts_and_usage() -> None:
    body = responses.error_body(429, "rate_limited", "slow down", "req_1")
    assert body == {"error": {"message": "slow down", "type": "rate_limit_error", "param": None,
                              "code": "rate_limited", "request_id": "req_1"}}
    assert responses.error_body(502, "upstream_error", "x", "r")["error"]["type"] == "server_error"
    assert responses.request_facts(codex_body()) == ("gpt-5-codex", True, None)
    assert responses.request_facts({"model": "m", "max_output_tokens": 64}) == ("m", False, 64)
    assert responses.usage_from_response({}) is None


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1, "model": "gpt-x",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["content", "reasoning_content"]), texts), max_size=8),
       st.lists(st.tuples(names, arguments), max_size=3), st.integers(0, 10**5), st.integers(0, 10**4),
       st.sampled_from(["stop", "length"]))
def test_streams_survive_chat_responses_chat(deltas: list[tuple[str, str]], tools: list[Any], prompt: int,
                                             reasoning: int, finish: str) -> None:
    chunks = [_chunk({key: value}) for key, value in deltas]
    for n, (name, args) in enumerate(tools):
        chunks.append(_chunk({"tool_calls": [{"index": n, "id": f"call_{n}", "type": "function",
                                              "function": {"name": name, "arguments": args[:2]}}]}))
        chunks.append(_chunk({"tool_calls": [{"index": n, "function": {"arguments": args[2:]}}]}))
    chunks.append(_chunk({}, "tool_calls" if tools and finish == "stop" else finish))
    chunks.append({**_chunk({}), "choices": [], "usage": {
        "prompt_tokens": prompt, "completion_tokens": reasoning + 7, "total_tokens": prompt + reasoning + 7,
        "completion_tokens_details": {"reasoning_tokens": reasoning}}})
    original = collect(chunks)
    stream = from_chat(chunks)
    parsed = validated(stream)
    Response.model_validate(parsed[-1]["response"])
    back_chunks, t = to_chat(b"".join(stream))
    back = collect(back_chunks)
    assert (back.content, back.reasoning, back.finish_reason) == (original.content, original.reasoning,
                                                                  original.finish_reason)
    assert calls(back) == calls(original) and t.usage == original.usage


# ---- bodies from the wild: any field may hold anything ------------------------------------------

SEEDS = [codex_body(), responses.request_to_chat(codex_body()), *recorded_payloads("responses_*.sse")]


@settings(max_examples=400, deadline=None)
@given(mangled(SEEDS))
def test_mangled_bodies_never_crash(body: dict[str, Any]) -> None:
    for translate in (responses.request_to_chat, responses.request_from_chat, responses.response_to_chat,
                      responses.usage_from_response, responses.request_facts):
        translate(body)
    responses.response_from_chat(body, "m")
    to_chat(b"event: x\ndata: " + orjson.dumps(body) + b"\n\n")
    from_chat([body])
    responses.tool_routes(body)


def test_reasoning_items_with_only_encrypted_content() -> None:
    """Codex asks include=[reasoning.encrypted_content]: opaque reasoning has no text for the chat form."""
    body = {"id": "resp_1", "object": "response", "created_at": 1, "status": "completed", "model": "o4-mini",
            "parallel_tool_calls": True, "tool_choice": "auto", "tools": [], "output": [
                {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA"},
                {"type": "reasoning", "id": "rs_2", "summary": [],
                 "content": [{"type": "reasoning_text", "text": "raw thought"}]},
                {"type": "message", "id": "m", "status": "completed", "role": "assistant",
                 "content": [{"type": "output_text", "text": "ok", "annotations": []}]}]}
    message = responses.response_to_chat(body)["choices"][0]["message"]
    assert message["reasoning_content"] == "raw thought" and message["content"] == "ok"
    chat = responses.request_to_chat({"model": "m", "include": ["reasoning.encrypted_content"], "input": [
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA"},
        {"type": "message", "role": "assistant", "content": "ok"}]}, keep_reasoning=True)
    assert chat["messages"] == [{"role": "assistant", "content": "ok"}] and "include" not in chat
