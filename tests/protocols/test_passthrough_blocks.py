"""Pass-through streams read in blocks: the bytes go on untouched and the text counted is the text sent.

The block strategies (services/gateway/translate.Passthrough) read only a stream's first events and
each block's last ones whole, and measure the text of the rest with C-level scans
(protocols/delivered.TextCounter). Whatever the cut points, the JSON spacing or the escapes, they must
count exactly what reading every event would (OpenAI, Anthropic), or every streamed delta (Responses).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from relaygate.protocols import anthropic, responses
from relaygate.protocols.openai import StreamObserver
from relaygate.protocols.sse import SSEFramer
from relaygate.services.gateway.translate import EventPassthrough, NativePassthrough, OpenAIPassthrough
from tests.protocols.replay import DATA, events

DIALECTS = {"anthropic": anthropic, "responses": responses}


def dumps(obj: Any, spaced: bool) -> bytes:
    return json.dumps(obj).encode() if spaced else orjson.dumps(obj)  # json: ": " and \uXXXX escapes


def chat_stream(pieces: list[str], spaced: bool, usage: bool = True) -> bytes:
    out = [b"data: " + dumps({"id": "c", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
                             spaced) + b"\n\n"]
    for i, piece in enumerate(pieces):
        delta: dict[str, Any] = {"content": piece} if i % 3 else {"reasoning_content": piece}
        if i % 5 == 4:
            delta = {"tool_calls": [{"index": 0, "function": {"name": f"t{i}", "arguments": piece}}]}
        out.append(b"data: " + dumps({"id": "c", "choices": [{"index": 0, "delta": delta}]}, spaced) + b"\n\n")
    if usage:
        out.append(b"data: " + dumps({"id": "c", "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 9}},
                                     spaced) + b"\n\n")
    return b"".join(out) + b"data: [DONE]\n\n"


def anthropic_stream(pieces: list[str], spaced: bool) -> bytes:
    def ev(kind: str, data: dict[str, Any]) -> bytes:
        return b"event: " + kind.encode() + b"\ndata: " + dumps({"type": kind, **data}, spaced) + b"\n\n"

    out = [ev("message_start", {"message": {"id": "msg_1", "usage": {"input_tokens": 11, "output_tokens": 1}}}),
           ev("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})]
    out += [ev("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": p}}) for p in pieces]
    out += [ev("content_block_stop", {"index": 0}),
            ev("content_block_start", {"index": 1, "content_block": {"type": "tool_use", "id": "t", "name": "Bash",
                                                                    "input": {}}}),
            ev("content_block_delta", {"index": 1, "delta": {"type": "input_json_delta",
                                                             "partial_json": json.dumps({"cmd": "".join(pieces)})}}),
            ev("content_block_stop", {"index": 1}),
            ev("message_delta", {"delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 42}}),
            ev("message_stop", {})]
    return b"".join(out)


def exact(dialect: str, data: bytes) -> tuple[int, int, Any, bool]:
    """What reading every event whole counts (the strategies before blocks)."""
    if dialect == "openai":
        observer = StreamObserver(hide_usage_chunk=False)
        for event in events(data):
            observer.observe(event)
        return observer.completion_chars, observer.completion_bytes, observer.usage, observer.done
    strategy = EventPassthrough(DIALECTS[dialect], "m")
    for event in events(data):
        strategy.transform(event)
    return strategy.completion_chars, strategy.completion_bytes, strategy.usage, strategy.done


def blocks(dialect: str, data: bytes, cuts: list[int], asked_usage: bool = True) -> tuple[Any, bytes]:
    strategy: Any = (OpenAIPassthrough(asked_usage) if dialect == "openai"
                     else NativePassthrough(DIALECTS[dialect], "m", dialect))
    framer = SSEFramer()
    out: list[bytes] = []
    start = 0
    for end in [*sorted({c % (len(data) + 1) for c in cuts}), len(data)]:
        block = framer.feed_block(data[start:end])
        start = end
        if block:
            out += strategy.relay(block)
    rest = framer.rest()
    if rest.strip():  # an unterminated last event, as services/gateway/streaming.py relays it
        out += strategy.relay(rest + b"\n\n")
    return strategy, b"".join(out)


PIECES = st.lists(st.text(max_size=12), min_size=1, max_size=12)
# long values (a 1 MB answer in few events) take the other way through a block: escaped quotes and
# backslashes at their ends included
LONG = st.lists(st.text(min_size=300, max_size=1500) | st.text(alphabet='\\"a ', min_size=300, max_size=900),
                min_size=1, max_size=5)
CUTS = st.lists(st.integers(min_value=0, max_value=5_000), max_size=8)


@settings(max_examples=150, deadline=None)
@given(pieces=PIECES | LONG, spaced=st.booleans(), cuts=CUTS)
def test_openai_blocks_count_what_every_event_would(pieces: list[str], spaced: bool, cuts: list[int]) -> None:
    data = chat_stream(pieces, spaced)
    strategy, out = blocks("openai", data, cuts)
    chars, size, usage, done = exact("openai", data)
    assert out == data
    assert (strategy.completion_chars, strategy.completion_bytes) == (chars, size)
    assert strategy.usage == usage and strategy.done == done is True


@settings(max_examples=150, deadline=None)
@given(pieces=PIECES | LONG, spaced=st.booleans(), cuts=CUTS)
def test_anthropic_blocks_count_what_every_event_would(pieces: list[str], spaced: bool, cuts: list[int]) -> None:
    data = anthropic_stream(pieces, spaced)
    strategy, out = blocks("anthropic", data, cuts)
    chars, size, usage, done = exact("anthropic", data)
    assert out == data
    assert (strategy.completion_chars, strategy.completion_bytes) == (chars, size)
    assert strategy.usage == usage and strategy.usage.prompt_tokens == 11 and strategy.usage.completion_tokens == 42
    assert strategy.done == done is True


@settings(max_examples=60, deadline=None)
@given(cuts=CUTS)
def test_recorded_streams_at_any_cuts(cuts: list[int]) -> None:
    for path in sorted(DATA.glob("*.sse")):
        dialect = path.name.split("_")[0].replace("chat", "openai")
        if dialect not in ("openai", "anthropic", "responses"):
            continue
        data = path.read_bytes().replace(b"\r\n", b"\n").rstrip(b"\n") + b"\n\n"
        strategy, out = blocks(dialect, data, cuts)
        assert out == data, path.name
        chars, size, usage, done = exact(dialect, data)
        assert strategy.usage == usage and strategy.done == done, path.name
        if dialect == "responses":  # every streamed delta (tool names and paragraph breaks are not deltas)
            deltas = "".join(e["delta"] for e in map(_payload, events(data))
                             if isinstance(e, dict) and isinstance(e.get("delta"), str))
            assert (strategy.completion_chars, strategy.completion_bytes) == (len(deltas), len(deltas.encode()))
        else:
            assert (strategy.completion_chars, strategy.completion_bytes) == (chars, size), path.name


def _payload(event: bytes) -> Any:
    lines = [line[5:].strip() for line in event.split(b"\n") if line.startswith(b"data:")]
    return orjson.loads(lines[0]) if lines and lines[0] != b"[DONE]" else None


@settings(max_examples=80, deadline=None)
@given(cuts=CUTS)
def test_usage_chunk_the_caller_did_not_ask_for_is_dropped(cuts: list[int]) -> None:
    data = chat_stream(["hello", " world"], spaced=False)
    strategy, out = blocks("openai", data, cuts, asked_usage=False)
    assert b'"usage"' not in out and out.endswith(b"data: [DONE]\n\n")
    assert strategy.usage is not None and strategy.usage.completion_tokens == 9
    assert out == data.replace(next(e for e in events(data) if b'"usage"' in e), b"")


def test_an_error_object_is_not_text_even_with_a_content_field() -> None:
    error = {"error": {"message": "boom " * 40, "type": "server_error", "content": "boom " * 40}}
    data = chat_stream(["Hello", " from"], spaced=False, usage=False).replace(
        b"data: [DONE]\n\n", b"data: " + orjson.dumps(error) + b"\n\n")
    strategy, out = blocks("openai", data, [])
    assert out == data and (strategy.completion_chars, strategy.done) == (exact("openai", data)[0], False)
    assert strategy.completion_chars == len("Hello from")  # two pieces; the error message is not output


def test_the_prompt_usage_is_read_when_message_start_comes_in_a_later_block() -> None:
    data = anthropic_stream(["hi"], spaced=False)
    ping = b'event: ping\ndata: {"type": "ping"}\n\n'
    strategy = NativePassthrough(anthropic, "m", "anthropic")
    out = strategy.relay(ping) + strategy.relay(data)
    assert b"".join(out) == ping + data
    assert strategy.usage is not None and strategy.usage.prompt_tokens == 11 and strategy.done


def test_an_error_that_is_the_whole_stream_ends_it() -> None:
    error = b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}\n\n'
    strategy = NativePassthrough(anthropic, "m", "anthropic")
    assert strategy.relay(error) == [error] and strategy.done
