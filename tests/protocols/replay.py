"""Shared by the dialect tests: replay SSE bytes at any cut points, recorded payloads, mangled bodies."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson
from hypothesis import strategies as st
from openai.types.chat import ChatCompletionChunk

from relaygate.protocols.chat import ChatCollector
from relaygate.protocols.sse import SSEFramer, event_data

DATA = Path(__file__).parent / "data"


def events(data: bytes, cuts: Iterable[int] = ()) -> list[bytes]:
    """The complete SSE events of ``data`` when it arrives split at ``cuts``."""
    framer = SSEFramer()
    out: list[bytes] = []
    start = 0
    for end in [*sorted({c % (len(data) + 1) for c in cuts}), len(data)]:
        out.extend(framer.feed(data[start:end]))
        start = end
    rest = framer.rest()
    if rest.strip():
        out.append(rest + b"\n\n")
    return out


def recorded_payloads(pattern: str) -> list[dict[str, Any]]:
    """Every JSON payload of the recorded streams matching ``pattern`` (plus the chat ones)."""
    out = []
    for path in sorted(DATA.glob(pattern)) + sorted(DATA.glob("chat_*.sse")):
        for ev in events(path.read_bytes()):
            payload = event_data(ev)
            if payload and payload != b"[DONE]":
                out.append(orjson.loads(payload))
    return out


def json_paths(obj: Any, prefix: tuple[Any, ...] = ()) -> Iterable[tuple[Any, ...]]:
    yield prefix
    children = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else []
    for key, value in children:
        yield from json_paths(value, (*prefix, key))


ANYTHING = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=4),
                        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                    max_size=3), max_leaves=6)


def mangled(seeds: Sequence[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A real body (request, response, chunk or event) with a few fields replaced by arbitrary JSON."""

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        body: dict[str, Any] = orjson.loads(orjson.dumps(draw(st.sampled_from(list(seeds)))))
        for _ in range(draw(st.integers(1, 5))):
            path = draw(st.sampled_from([p for p in json_paths(body) if p]))
            target: Any = body
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = draw(ANYTHING)
        return body

    return build()


def force(value: Any) -> Any:
    """Walk pydantic's lazy iterators so every nested item is validated."""
    if isinstance(value, dict):
        return {k: force(v) for k, v in value.items()}
    if isinstance(value, str | bytes | int | float | bool) or value is None:
        return value
    if isinstance(value, Iterable):
        return [force(v) for v in value]
    return value


def collect(chunks: list[dict[str, Any]], *, error_chunks: bool = True) -> ChatCollector:
    """Chat chunks gathered into one answer, each validated by the openai SDK's chunk type
    (in-stream error chunks are not chunks of that type; ``error_chunks`` lets them through unchecked)."""
    collector = ChatCollector()
    for c in chunks:
        if not (error_chunks and "error" in c):
            ChatCompletionChunk.model_validate(c)
        collector.add(c)
    return collector
