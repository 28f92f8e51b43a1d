"""Anthropic Messages <-> chat: recorded streams replayed at every split, round trips, Claude Code's shapes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from anthropic.types import message_create_params as mcp
from anthropic.types.shared import ErrorResponse
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion
from openai.types.chat import completion_create_params as ccp
from pydantic import TypeAdapter

from relaygate.protocols import anthropic
from relaygate.protocols.sse import event_data
from relaygate.protocols.usage import Usage
from tests.protocols.replay import DATA, events, force, mangled, recorded_payloads
from tests.protocols.replay import collect as collect_all


def collect_strict(chunks: list[dict[str, Any]]) -> Any:
    return collect_all(chunks, error_chunks=False)

RECORDED = ["anthropic_text.sse", "anthropic_tool_use.sse", "anthropic_thinking_refusal.sse", "anthropic_thinking.sse"]
EVENT = TypeAdapter(RawMessageStreamEvent)
CREATE = TypeAdapter(mcp.MessageCreateParamsNonStreaming)
CHAT_CREATE = TypeAdapter(ccp.CompletionCreateParamsNonStreaming)


def to_chat(data: bytes, cuts: Iterable[int] = ()) -> tuple[list[dict[str, Any]], anthropic.StreamToChat]:
    translator = anthropic.StreamToChat(created=0)
    chunks: list[dict[str, Any]] = []
    for ev in events(data, cuts):
        chunks.extend(translator.feed(ev))
    chunks.extend(translator.finish())
    return chunks, translator


def from_chat(chunks: Iterable[dict[str, Any]], model: str = "claude-x") -> list[bytes]:
    out_stream = anthropic.StreamFromChat(model)
    out: list[bytes] = []
    for c in chunks:
        out.extend(out_stream.feed(c))
    out.extend(out_stream.finish())
    return out


def validated(stream: list[bytes]) -> list[dict[str, Any]]:
    """Each event parsed by the SDK's own stream event types; the SSE event name matches the type."""
    parsed = []
    for ev in stream:
        name, _, data_line = ev.partition(b"\n")
        payload = orjson.loads(event_data(ev) or b"")
        assert name == b"event: " + payload["type"].encode() and data_line.startswith(b"data: ")
        if payload["type"] != "error":
            EVENT.validate_python(payload)
        parsed.append(payload)
    return parsed


# ---- recorded streams ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", RECORDED)
@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=40_000), max_size=30))
def test_recorded_streams_give_the_same_chunks_at_any_split(name: str, cuts: list[int]) -> None:
    data = (DATA / name).read_bytes()
    whole, t_whole = to_chat(data)
    split, t_split = to_chat(data, cuts)
    assert split == whole
    assert t_split.done and t_whole.done and t_split.usage == t_whole.usage


def test_recorded_text_stream() -> None:
    chunks, t = to_chat((DATA / "anthropic_text.sse").read_bytes())
    got = collect_strict(chunks)
    assert (got.content, got.finish_reason) == ("Hello there!", "stop")
    assert got.id == "msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK"
    assert t.usage == Usage(11, 6, 17)
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 17


def test_recorded_tool_use_stream() -> None:
    chunks, t = to_chat((DATA / "anthropic_tool_use.sse").read_bytes())
    got = collect_strict(chunks)
    assert got.content == "I'll check the current weather in Paris for you." and got.finish_reason == "tool_calls"
    [call] = got.calls.values()
    assert (call.id, call.name, orjson.loads(call.arguments)) == (
        "toolu_01NRLabsLyVHZPKxbKvkfSMn", "get_weather", {"location": "Paris"})
    assert t.usage == Usage(377, 65)


def test_recorded_thinking_streams() -> None:
    chunks, t = to_chat((DATA / "anthropic_thinking_refusal.sse").read_bytes())
    got = collect_strict(chunks)
    assert got.reasoning.startswith("Simple educational question") and got.content == "Hi"
    assert got.finish_reason == "content_filter"
    assert t.usage == Usage(28, 106, 134, 0, 67)
    chunks, t = to_chat((DATA / "anthropic_thinking.sse").read_bytes())
    got = collect_strict(chunks)
    assert "Deep Thought" in got.reasoning and got.content.endswith("in pop culture.")
    assert t.usage == Usage(50, 452)


@pytest.mark.parametrize("name", RECORDED)
def test_recorded_streams_survive_anthropic_chat_anthropic(name: str) -> None:
    chunks, t = to_chat((DATA / name).read_bytes())
    rebuilt = from_chat(chunks, "claude-sonnet-4")
    validated(rebuilt)
    again, t2 = to_chat(b"".join(rebuilt))
    first, second = collect_strict(chunks), collect_strict(again)
    assert (second.content, second.reasoning, second.finish_reason) == (
        first.content, first.reasoning, first.finish_reason)
    assert [(c.id, c.name, c.arguments) for c in second.calls.values()] == [
        (c.id, c.name, c.arguments) for c in first.calls.values()]
    assert t2.usage == t.usage


@pytest.mark.parametrize("name", ["chat_text.sse", "chat_tool_call.sse"])
def test_recorded_chat_streams_become_valid_anthropic_streams(name: str) -> None:
    chat_chunks = [orjson.loads(event_data(ev) or b"") for ev in events((DATA / name).read_bytes())
                   if event_data(ev) != b"[DONE]"]
    original = collect_strict(chat_chunks)
    out = validated(from_chat(chat_chunks))
    assert out[0]["type"] == "message_start" and out[-1]["type"] == "message_stop"
    delta = out[-2]
    assert delta["delta"]["stop_reason"] == ("tool_use" if original.calls else "end_turn")
    assert delta["usage"]["output_tokens"] == original.usage.completion_tokens  # type: ignore[union-attr]
    back = collect_strict(to_chat(b"".join(from_chat(chat_chunks)))[0])
    assert back.content == original.content
    assert [(c.id, c.name, c.arguments) for c in back.calls.values()] == [
        (c.id, c.name, c.arguments) for c in original.calls.values()]


def test_stream_from_chat_closes_without_finish_reason_and_on_error() -> None:
    out = validated(from_chat([{"id": "chatcmpl-1", "choices": [{"index": 0, "delta": {"content": "par"}}]}]))
    assert [e["type"] for e in out] == ["message_start", "content_block_start", "content_block_delta",
                                       "content_block_stop", "message_delta", "message_stop"]
    assert out[-2]["delta"]["stop_reason"] == "end_turn"
    assert [e["type"] for e in validated(from_chat([]))] == ["message_start", "message_delta", "message_stop"]
    stream = anthropic.StreamFromChat("m")
    stream.feed({"id": "x", "choices": [{"index": 0, "delta": {"content": "a"}}]})
    [err] = stream.error("upstream overloaded", "upstream_overloaded")
    assert err.startswith(b"event: error\n")
    ErrorResponse.model_validate(orjson.loads(event_data(err) or b""))
    assert orjson.loads(event_data(err) or b"")["error"]["type"] == "overloaded_error"
    assert stream.finish() == [] and stream.feed({"choices": []}) == []


def test_error_event_and_error_chunk_round_trip() -> None:
    ev = b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n'
    t = anthropic.StreamToChat(created=0)
    [chunk] = t.feed(ev)
    assert t.done and chunk["error"]["type"] == "overloaded_error"
    [out] = anthropic.StreamFromChat("m").feed(chunk)
    assert orjson.loads(event_data(out) or b"")["error"] == {"type": "overloaded_error", "message": "Overloaded"}


def test_interleaved_tool_deltas_and_thinking_blocks() -> None:
    chunks = [
        {"id": "c", "choices": [{"index": 0, "delta": {"reasoning_content": "think"}}]},
        {"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "call_a", "function": {"name": "a", "arguments": '{"x"'}},
            {"index": 1, "id": "call_b", "function": {"name": "b", "arguments": "{}"}}]}}]},
        {"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": ":1}"}}]}, "finish_reason": "tool_calls"}]},
        {"id": "c", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 5,
                                             "completion_tokens_details": {"reasoning_tokens": 3}}},
    ]
    out = validated(from_chat(chunks))
    assert out[1]["content_block"]["type"] == "thinking"
    back = collect_strict(to_chat(b"".join(from_chat(chunks)))[0])
    assert [(c.id, c.name, orjson.loads(c.arguments)) for c in back.calls.values()] == [
        ("call_a", "a", {"x": 1}), ("call_b", "b", {})]
    assert back.reasoning == "think" and back.finish_reason == "tool_calls"
    assert out[-2]["usage"] == {"input_tokens": 9, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                                "output_tokens": 5, "output_tokens_details": {"thinking_tokens": 3}}


# ---- requests --------------------------------------------------------------------------------------

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
CACHE = {"type": "ephemeral"}


def claude_code_body() -> dict[str, Any]:
    """The shape Claude Code sends: cached system blocks, a mid-conversation system entry, thinking, tools."""
    return {
        "model": "claude-sonnet-4-5", "max_tokens": 32000, "stream": True,
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": CACHE},
                   {"type": "text", "text": "Be brief.", "cache_control": CACHE}],
        "thinking": {"type": "adaptive"}, "output_config": {"effort": "high"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015"}]},
        "metadata": {"user_id": "user_abc"},
        "tools": [{"name": "Read", "description": "Read a file",
                   "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
                   "cache_control": CACHE},
                  {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "<system-reminder>ctx</system-reminder>"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                {"type": "text", "text": "What is in README?", "cache_control": CACHE}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Read it.", "signature": "sig=="},
                {"type": "text", "text": "Reading."},
                {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"path": "README.md"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [
                    {"type": "text", "text": "# relaygate"},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}],
                 "cache_control": CACHE}]},
            {"role": "system", "content": "The user switched to plan mode."},
            {"role": "user", "content": "Summarise it."},
        ],
    }


def test_claude_code_request_to_chat() -> None:
    chat = anthropic.request_to_chat(claude_code_body())
    force(CHAT_CREATE.validate_python({**chat, "stream": False}))
    assert b"cache_control" not in orjson.dumps(chat)
    roles = [m["role"] for m in chat["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "user", "system", "user"]
    assert chat["messages"][0]["content"] == "You are Claude Code.\n\nBe brief."
    assert chat["messages"][5] == {"role": "system", "content": "The user switched to plan mode."}
    user = chat["messages"][1]["content"]
    assert user[1] == {"type": "image_url", "image_url": {"url": "data:image/png;base64," + PNG}}
    assistant = chat["messages"][2]
    assert assistant["content"] == "Reading." and "reasoning_content" not in assistant
    kept = anthropic.request_to_chat(claude_code_body(), keep_reasoning=True)["messages"][2]
    assert kept["reasoning_content"] == "Read it."
    assert assistant["tool_calls"] == [{"id": "toolu_1", "type": "function",
                                        "function": {"name": "Read", "arguments": '{"path":"README.md"}'}}]
    assert chat["messages"][3] == {"role": "tool", "tool_call_id": "toolu_1", "content": "# relaygate"}
    assert chat["messages"][4]["content"] == [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]
    assert [t["function"]["name"] for t in chat["tools"]] == ["Read"]  # the server tool has no chat form
    assert chat["tool_choice"] == "auto" and chat["parallel_tool_calls"] is False
    assert chat["reasoning_effort"] == "high" and chat["max_tokens"] == 32000
    assert chat["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(("thinking", "config", "effort"), [
    ({"type": "enabled", "budget_tokens": 1024}, None, "low"),
    ({"type": "enabled", "budget_tokens": 8000}, None, "medium"),
    ({"type": "enabled", "budget_tokens": 31999}, None, "high"),
    ({"type": "adaptive"}, None, "medium"),
    ({"type": "adaptive"}, {"effort": "low"}, "low"),
    ({"type": "adaptive"}, {"effort": "max"}, "high"),
    ({"type": "disabled"}, {"effort": "high"}, None),
    (None, None, None),
])
def test_thinking_maps_to_reasoning_effort(thinking: Any, config: Any, effort: str | None) -> None:
    body: dict[str, Any] = {"model": "m", "max_tokens": 32000, "messages": [{"role": "user", "content": "q"}]}
    if thinking:
        body["thinking"] = thinking
    if config:
        body["output_config"] = config
    assert anthropic.request_to_chat(body).get("reasoning_effort") == effort


def chat_request(**extra: Any) -> dict[str, Any]:
    return {"model": "claude-x", "messages": [{"role": "system", "content": "sys"},
                                              {"role": "user", "content": "hi"}], **extra}


def test_reasoning_effort_asks_for_thinking_within_max_tokens() -> None:
    body = anthropic.request_from_chat(chat_request(reasoning_effort="high", max_tokens=32000, temperature=0.2))
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 24576} and "temperature" not in body
    assert anthropic.request_from_chat(chat_request(reasoning_effort="low", max_tokens=1500))["thinking"][
        "budget_tokens"] == 1499
    assert "thinking" not in anthropic.request_from_chat(chat_request(reasoning_effort="high", max_tokens=1000))
    assert "thinking" not in anthropic.request_from_chat(chat_request(reasoning_effort="none"))
    loop = chat_request(reasoning_effort="high", messages=[
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "r"}])
    assert "thinking" not in anthropic.request_from_chat(loop)  # no signed thinking block to continue with
    forced = chat_request(reasoning_effort="high", tools=[{"type": "function", "function": {"name": "f"}}],
                          tool_choice="required")
    assert "thinking" not in anthropic.request_from_chat(forced)


def test_request_from_chat_shapes() -> None:
    chat = {
        "model": "claude-x", "max_completion_tokens": 100, "stream": True, "stop": "END", "user": "u1",
        "temperature": 1.7, "parallel_tool_calls": False,
        "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object"}}},
        "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {
            "type": "object", "properties": {"a": {"type": "integer"}}}}}],
        "messages": [
            {"role": "developer", "content": [{"type": "text", "text": "dev rules"}]},
            {"role": "user", "content": [{"type": "text", "text": "look"},
                                         {"type": "image_url", "image_url": {"url": "data:image/png;base64," + PNG}},
                                         {"type": "image_url", "image_url": {"url": "https://x/y.jpg"}}]},
            {"role": "assistant", "content": "ok", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
                {"id": "call_2", "type": "function", "function": {"name": "f", "arguments": '{"a": 2}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "one"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "two"}]},
            {"role": "user", "content": "and?"},
            {"role": "system", "content": "late rule"},
        ],
    }
    body = anthropic.request_from_chat(chat)
    force(CREATE.validate_python({**body, "stream": False}))
    assert body["system"] == "dev rules" and body["max_tokens"] == 100 and body["stop_sequences"] == ["END"]
    assert body["temperature"] == 1.0 and body["metadata"] == {"user_id": "u1"} and body["stream"] is True
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert body["tools"] == [{"name": "f", "description": "d", "input_schema": {
        "type": "object", "properties": {"a": {"type": "integer"}}}}]
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": {"type": "object"}}}
    user, assistant, results, late = body["messages"]
    assert user["content"][1]["source"] == {"type": "base64", "media_type": "image/png", "data": PNG}
    assert user["content"][2]["source"] == {"type": "url", "url": "https://x/y.jpg"}
    assert [b.get("input") for b in assistant["content"]] == [None, {"a": 1}, {"a": 2}]
    assert results["content"] == [{"type": "tool_result", "tool_use_id": "call_1", "content": "one"},
                                  {"type": "tool_result", "tool_use_id": "call_2", "content": "two"},
                                  {"type": "text", "text": "and?"}]
    assert late == {"role": "system", "content": "late rule"}


def test_claude_code_request_survives_a_round_trip() -> None:
    original = claude_code_body()
    body = anthropic.request_from_chat(anthropic.request_to_chat(original))
    force(CREATE.validate_python({**body, "stream": False}))
    assert body["system"] == "You are Claude Code.\n\nBe brief."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user", "system", "user"]
    assert body["messages"][1]["content"][1] == {"type": "tool_use", "id": "toolu_1", "name": "Read",
                                                 "input": {"path": "README.md"}}
    assert body["messages"][2]["content"][0] == {"type": "tool_result", "tool_use_id": "toolu_1",
                                                 "content": "# relaygate"}
    assert body["messages"][0]["content"][1]["source"]["data"] == PNG
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 24576}  # the last turn is the user's
    assert body["stream"] is True


names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,20}", fullmatch=True)
texts = st.text(min_size=1, max_size=40).filter(lambda s: s.strip() != "")
json_values = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=10),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                       max_size=3), max_leaves=8)
tool_inputs = st.dictionaries(st.text(min_size=1, max_size=8), json_values, max_size=4)


@st.composite
def conversations(draw: st.DrawFn) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    for turn in range(draw(st.integers(1, 4))):
        messages.append({"role": "user", "content": [{"type": "text", "text": draw(texts)}]})
        calls = draw(st.lists(st.tuples(names, tool_inputs), max_size=3))
        content: list[dict[str, Any]] = [{"type": "text", "text": draw(texts)}]
        content += [{"type": "tool_use", "id": f"toolu_{turn}_{n}", "name": name, "input": args}
                    for n, (name, args) in enumerate(calls)]
        messages.append({"role": "assistant", "content": content})
        if calls:
            messages.append({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": f"toolu_{turn}_{n}", "content": draw(texts)}
                for n in range(len(calls))]})
        if draw(st.booleans()):
            messages.append({"role": "system", "content": draw(texts)})
    messages.append({"role": "user", "content": [{"type": "text", "text": draw(texts)}]})
    return {"model": "claude-x", "max_tokens": 2048, "system": draw(texts), "messages": messages}


def _flat(body: dict[str, Any]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for m in body["messages"]:
        content = m["content"] if isinstance(m["content"], list) else [{"type": "text", "text": m["content"]}]
        for b in content:
            key = {"text": "text", "tool_use": "input", "tool_result": "content"}[b["type"]]
            out.append((m["role"] + ":" + b["type"], (b.get("id") or b.get("tool_use_id"), b.get("name"), b[key])))
    return out


@settings(max_examples=150, deadline=None)
@given(conversations())
def test_requests_survive_anthropic_chat_anthropic(body: dict[str, Any]) -> None:
    back = anthropic.request_from_chat(anthropic.request_to_chat(body))
    force(CREATE.validate_python(back))
    assert back["system"] == body["system"] and back["max_tokens"] == body["max_tokens"]
    assert _flat(back) == _flat(body)


# ---- responses -------------------------------------------------------------------------------------

usages = st.builds(lambda i, c, o, r: {"input_tokens": i, "cache_read_input_tokens": c,
                                       "cache_creation_input_tokens": 0, "output_tokens": o + r,
                                       "output_tokens_details": {"thinking_tokens": r}},
                   st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**5), st.integers(0, 10**5))


@st.composite
def messages(draw: st.DrawFn) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if draw(st.booleans()):
        content.append({"type": "thinking", "thinking": draw(texts), "signature": "sig"})
    if draw(st.booleans()):
        content.append({"type": "text", "text": draw(texts)})
    calls = draw(st.lists(st.tuples(names, tool_inputs), max_size=3))
    content += [{"type": "tool_use", "id": f"toolu_{n}", "name": n_, "input": a} for n, (n_, a) in enumerate(calls)]
    stop = "tool_use" if calls else draw(st.sampled_from(["end_turn", "max_tokens", "refusal"]))
    return {"id": "msg_" + draw(st.from_regex(r"[A-Za-z0-9]{8}", fullmatch=True)), "type": "message",
            "role": "assistant", "model": "claude-x", "content": content, "stop_reason": stop,
            "stop_sequence": None, "usage": draw(usages)}


@settings(max_examples=150, deadline=None)
@given(messages())
def test_responses_survive_anthropic_chat_anthropic(message: dict[str, Any]) -> None:
    Message.model_validate(message)
    chat = anthropic.response_to_chat(message)
    ChatCompletion.model_validate(chat)
    back = anthropic.response_from_chat(chat, "claude-x")
    Message.model_validate(back)
    strip = [{k: v for k, v in b.items() if k != "signature"} for b in message["content"]]
    assert [{k: v for k, v in b.items() if k != "signature"} for b in back["content"]] == strip
    assert back["stop_reason"] == message["stop_reason"] and back["id"] == message["id"]
    assert anthropic.usage_from_response(back) == anthropic.usage_from_response(message)
    assert back["usage"]["cache_read_input_tokens"] == message["usage"]["cache_read_input_tokens"]


def test_response_usage_counts_cache_reads_and_writes_as_prompt() -> None:
    body = {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "stop_reason": "stop_sequence",
            "stop_sequence": "END", "content": [{"type": "text", "text": "x"}],
            "usage": {"input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 5,
                      "output_tokens": 7}}
    chat = anthropic.response_to_chat(body)
    assert chat["choices"][0]["finish_reason"] == "stop"
    assert chat["usage"]["prompt_tokens"] == 115 and chat["usage"]["prompt_tokens_details"]["cached_tokens"] == 100
    assert chat["usage"]["total_tokens"] == 122


@pytest.mark.parametrize(("finish", "stop"), [("stop", "end_turn"), ("length", "max_tokens"),
                                              ("tool_calls", "tool_use"), ("content_filter", "refusal"),
                                              (None, "end_turn")])
def test_finish_reasons_to_stop_reasons(finish: str | None, stop: str) -> None:
    chat = {"id": "chatcmpl-9", "choices": [{"index": 0, "finish_reason": finish,
                                             "message": {"role": "assistant", "content": "x"}}]}
    body = anthropic.response_from_chat(chat, "m")
    Message.model_validate(body)
    assert body["stop_reason"] == stop and body["id"] == "msg_9"


# ---- errors, facts, token estimate -----------------------------------------------------------------

@pytest.mark.parametrize(("status", "kind"), [
    (400, "invalid_request_error"), (401, "authentication_error"), (402, "billing_error"),
    (403, "permission_error"), (404, "not_found_error"), (422, "invalid_request_error"),
    (429, "rate_limit_error"), (500, "api_error"), (502, "api_error"), (503, "api_error"),
    (504, "timeout_error"), (529, "overloaded_error")])
def test_error_body(status: int, kind: str) -> None:
    body = anthropic.error_body(status, "x", "went wrong", "req_1")
    ErrorResponse.model_validate(body)
    assert body == {"type": "error", "error": {"type": kind, "message": "went wrong"}, "request_id": "req_1"}


def test_facts_usage_and_count_tokens() -> None:
    assert anthropic.request_facts(claude_code_body()) == ("claude-sonnet-4-5", True, 32000)
    assert anthropic.request_facts({"messages": []}) == (None, False, None)
    assert anthropic.usage_from_response({"usage": {"input_tokens": 3, "output_tokens": 4}}) == Usage(3, 4)
    assert anthropic.usage_from_response({}) is None
    small = anthropic.count_tokens_estimate({"messages": [{"role": "user", "content": "hello"}]})
    big = anthropic.count_tokens_estimate(claude_code_body())
    assert 1 <= small < big
    assert big > 2 * 1600 + 350  # two images and the tool preamble, counted conservatively
    assert anthropic.count_tokens_body(claude_code_body()) == {"input_tokens": big}


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1, "model": "gpt-x",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["content", "reasoning_content"]), texts), max_size=8),
       st.lists(st.tuples(names, tool_inputs), max_size=3), st.integers(0, 10**5), st.integers(0, 10**4))
def test_streams_survive_chat_anthropic_chat(deltas: list[tuple[str, str]], tools: list[Any], prompt: int,
                                             reasoning: int) -> None:
    chunks = [_chunk({key: value}) for key, value in deltas]
    for n, (name, args) in enumerate(tools):
        text = orjson.dumps(args).decode()
        chunks.append(_chunk({"tool_calls": [{"index": n, "id": f"toolu_{n}", "type": "function",
                                              "function": {"name": name, "arguments": text[:2]}}]}))
        chunks.append(_chunk({"tool_calls": [{"index": n, "function": {"arguments": text[2:]}}]}))
    chunks.append(_chunk({}, "tool_calls" if tools else "stop"))
    chunks.append({**_chunk({}), "choices": [], "usage": {
        "prompt_tokens": prompt, "completion_tokens": reasoning + 7, "total_tokens": prompt + reasoning + 7,
        "completion_tokens_details": {"reasoning_tokens": reasoning}}})
    original = collect_strict(chunks)
    stream = from_chat(chunks)
    validated(stream)
    back_chunks, t = to_chat(b"".join(stream))
    back = collect_strict(back_chunks)
    assert (back.content, back.reasoning, back.finish_reason) == (original.content, original.reasoning,
                                                                  original.finish_reason)
    assert [(c.id, c.name, orjson.loads(c.arguments)) for c in back.calls.values()] == [
        (c.id, c.name, orjson.loads(c.arguments)) for c in original.calls.values()]
    assert t.usage == original.usage


def test_stop_sequences_both_ways() -> None:
    chat = anthropic.request_to_chat({"model": "m", "max_tokens": 5, "stop_sequences": ["###", "END"],
                                      "messages": [{"role": "user", "content": "q"}]})
    assert chat["stop"] == ["###", "END"]
    assert anthropic.request_from_chat(chat)["stop_sequences"] == ["###", "END"]


# ---- bodies from the wild: any field may hold anything ------------------------------------------

SEEDS = [claude_code_body(), anthropic.request_to_chat(claude_code_body()), *recorded_payloads("anthropic_*.sse")]


@settings(max_examples=400, deadline=None)
@given(mangled(SEEDS))
def test_mangled_bodies_never_crash(body: dict[str, Any]) -> None:
    for translate in (anthropic.request_to_chat, anthropic.request_from_chat, anthropic.response_to_chat,
                      anthropic.usage_from_response, anthropic.request_facts):
        translate(body)
    anthropic.response_from_chat(body, "m")
    to_chat(b"event: x\ndata: " + orjson.dumps(body) + b"\n\n")
    from_chat([body])
    anthropic.count_tokens_estimate(body)
