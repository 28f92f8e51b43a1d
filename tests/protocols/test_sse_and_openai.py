"""SSE framing and the OpenAI stream observer, replayed chunk by chunk at every possible split."""

from __future__ import annotations

from pathlib import Path

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from relaygate.protocols.openai import StreamObserver, error_event, parse_request, rewrite_body
from relaygate.protocols.sse import SSEFramer, event_data

SHARED = Path(__file__).resolve().parents[3] / "shared" / "bench" / "stream20.sse"
STREAM = (SHARED.read_bytes() if SHARED.exists() else b"".join(
    b'data: {"choices":[{"delta":{"content":"tok%d "}}]}\n\n' % i for i in range(20))
    + b'data: {"choices":[],"usage":{"prompt_tokens":25,"completion_tokens":20,"total_tokens":45}}\n\n'
    + b"data: [DONE]\n\n")


def replay(data: bytes, cuts: list[int]) -> tuple[list[bytes], StreamObserver]:
    framer = SSEFramer()
    observer = StreamObserver(hide_usage_chunk=False)
    out: list[bytes] = []
    points = [*sorted({c % (len(data) + 1) for c in cuts}), len(data)]
    start = 0
    for end in points:
        for ev in framer.feed(data[start:end]):
            if observer.observe(ev):
                out.append(ev)
        start = end
    return out, observer


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=40))
def test_any_chunking_yields_the_same_events_and_usage(cuts: list[int]) -> None:
    whole, obs_whole = replay(STREAM, [])
    split, obs_split = replay(STREAM, cuts)
    assert split == whole
    assert b"".join(split) == STREAM.replace(b"\r\n", b"\n")
    assert obs_split.done and obs_split.usage is not None
    assert obs_split.usage.total_tokens == obs_whole.usage.total_tokens  # type: ignore[union-attr]


def test_crlf_and_comments() -> None:
    framer = SSEFramer()
    events = framer.feed(b": keep-alive\r\n\r\ndata: {\"a\":1}\r\n\r\ndata: [DONE]\r\n\r\n")
    assert [event_data(e) for e in events] == [None, b'{"a":1}', b"[DONE]"]


def test_hidden_usage_chunk_only_when_caller_did_not_ask() -> None:
    usage_event = b'data: {"id":"x","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}\n\n'
    hide = StreamObserver(hide_usage_chunk=True)
    assert hide.observe(usage_event) is False and hide.usage and hide.usage.total_tokens == 7
    keep = StreamObserver(hide_usage_chunk=False)
    assert keep.observe(usage_event) is True
    inline = b'data: {"choices":[{"delta":{"content":"x"}}],"usage":{"prompt_tokens":1,"completion_tokens":1}}\n\n'
    assert hide.observe(inline) is True  # a chunk with content is never dropped


def test_rewrite_only_when_needed() -> None:
    raw = b'{"model":"a","messages":[],"x":{"y":1}}'
    data, facts = parse_request(raw, "chat/completions")
    assert rewrite_body(raw, data, "a", facts) is raw
    assert orjson.loads(rewrite_body(raw, data, "b", facts)) == {"model": "b", "messages": [], "x": {"y": 1}}
    raw_stream = b'{"model":"a","messages":[],"stream":true,"stream_options":{"other":1}}'
    data, facts = parse_request(raw_stream, "chat/completions")
    assert orjson.loads(rewrite_body(raw_stream, data, "a", facts))["stream_options"] == {
        "other": 1, "include_usage": True}


def test_error_event_shape() -> None:
    out = error_event("boom", "upstream_stream_error", "req_1")
    first, done, _ = out.split(b"\n\n")
    assert orjson.loads(first[6:])["error"]["code"] == "upstream_stream_error" and done == b"data: [DONE]"


def test_chat_to_openai_upstreams_respects_reasoning_models() -> None:
    from relaygate.protocols.openai_dialect import request_from_chat

    chat = {"model": "o4-mini", "messages": [], "max_tokens": 10, "temperature": 0.2, "reasoning_effort": "low"}
    out = request_from_chat(chat)
    assert out["max_completion_tokens"] == 10 and "max_tokens" not in out and "temperature" not in out
    assert out["reasoning_effort"] == "low"
    plain = request_from_chat({**chat, "model": "gpt-4o-mini", "stream": True})
    assert plain["max_tokens"] == 10 and "reasoning_effort" not in plain
    assert plain["stream_options"] == {"include_usage": True}
    assert request_from_chat({**chat, "model": "deepseek-reasoner"})["reasoning_effort"] == "low"
