"""Shared by the dialect tests: replay SSE bytes at any cut points, recorded payloads, mangled bodies."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson
from hypothesis import strategies as st

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
