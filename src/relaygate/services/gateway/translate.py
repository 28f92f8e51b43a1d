"""Dialects and stream strategies: pass bytes through when caller and upstream agree, else translate.

Every dialect module (protocols/openai_dialect, anthropic, responses, gemini) converts to and from
one internal form, OpenAI Chat Completions. A stream strategy turns each block of complete upstream
SSE events into the bytes the caller gets, and keeps the usage it saw on the way.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Protocol

from relaygate.protocols.delivered import COUNTERS, TextCounter
from relaygate.protocols.openai import StreamObserver, delivered_size, error_event
from relaygate.protocols.sse import events_of
from relaygate.protocols.usage import Usage

DIALECT_MODULES = {
    "openai": "relaygate.protocols.openai_dialect",
    "anthropic": "relaygate.protocols.anthropic",
    "responses": "relaygate.protocols.responses",
    "gemini": "relaygate.protocols.gemini",
}


def caller_options(dialect: str, module: ModuleType, request: dict[str, Any]) -> dict[str, Any]:
    """What a caller's dialect needs to shape answers like its request (Codex's tool namespaces)."""
    if dialect == "responses":
        return {"tools": module.tool_routes(request)}
    return {}


class Dialects:
    """Loads each dialect module once, on first use (one instance per process, built in app.py)."""

    def __init__(self) -> None:
        self._loaded: dict[str, ModuleType] = {}

    def get(self, name: str) -> ModuleType:
        module = self._loaded.get(name)
        if module is None:
            module = self._loaded[name] = importlib.import_module(DIALECT_MODULES[name])
        return module


class StreamStrategy(Protocol):
    @property
    def usage(self) -> Usage | None: ...

    @property
    def done(self) -> bool: ...

    @property
    def completion_chars(self) -> int: ...

    @property
    def completion_bytes(self) -> int: ...

    def relay(self, block: bytes) -> list[bytes]: ...

    def transform(self, event: bytes) -> list[bytes]: ...

    def finish(self) -> list[bytes]: ...

    def error(self, message: str, code: str, request_id: str) -> list[bytes]: ...


class Passthrough:
    """Caller and upstream speak one dialect: blocks of complete events go on untouched.

    What the gateway needs of them is read where it is, not from every event: the stream's first
    events (Anthropic's message_start: the prompt's usage), the last events of each block (the end
    marker, the usage, an error), read whole by the dialect's own parser; and the text the caller was
    sent, measured over the whole block by ``protocols/delivered.TextCounter`` (C-level scans). An
    event read whole may be dropped (OpenAI's usage chunk the caller did not ask for).
    """

    HEAD_EVENTS = 3  # events read whole at the stream's start, at most
    TAIL_EVENTS = 4  # events read whole at a block's end, at most, while each is a control event

    def __init__(self, counter: TextCounter, head: tuple[bytes, ...], control: tuple[bytes, ...]) -> None:
        self.counter = counter
        self.head = head
        self.control = control
        self.completion_chars = 0
        self.completion_bytes = 0
        self._head_left = self.HEAD_EVENTS if head else 0  # the stream's first events, whatever blocks hold them

    def read(self, event: bytes) -> tuple[bool, int, int]:
        """Read one event whole: (forward it?, characters and bytes of the text in it)."""
        raise NotImplementedError

    def relay(self, block: bytes) -> list[bytes]:
        spans: list[tuple[int, int]] = []  # the events read whole: (start, end), in order
        floor = 0
        if self._head_left:
            spans, floor = self._head(block)
        spans += self._tail(block, floor)
        chars = size = 0
        pos = 0
        drop: list[tuple[int, int]] = []
        for start, end in spans:
            c, b = self.counter.count(block, pos, start)
            keep, c2, b2 = self.read(block[start:end])
            chars += c + c2
            size += b + b2
            if not keep:
                drop.append((start, end))
            pos = end
        c, b = self.counter.count(block, pos, len(block))
        self.completion_chars += chars + c
        self.completion_bytes += size + b
        for start, end in reversed(drop):  # last first, so earlier spans keep their offsets
            block = block[:start] + block[end:]
        return [block] if block else []

    def transform(self, event: bytes) -> list[bytes]:
        return self.relay(event if event.endswith(b"\n\n") else event + b"\n\n")

    def _head(self, block: bytes) -> tuple[list[tuple[int, int]], int]:
        spans = []
        start = 0
        while self._head_left:
            end = block.find(b"\n\n", start) + 2
            if end < 2:
                break
            self._head_left -= 1
            if any(block.find(token, start, end) >= 0 for token in self.head):
                spans.append((start, end))
                self._head_left = 0  # found: the rest of the stream is read at block ends only
            start = end
        return spans, spans[-1][1] if spans else 0  # the tail may reach back to the events after it

    def _tail(self, block: bytes, floor: int) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        end = len(block)
        while end > floor and len(spans) < self.TAIL_EVENTS:
            found = block.rfind(b"\n\n", floor, end - 2)
            start = found + 2 if found >= 0 else floor
            if not any(block.find(token, start, end) >= 0 for token in self.control):
                break
            spans.append((start, end))
            end = start
        return spans[::-1]


class OpenAIPassthrough(Passthrough):
    """OpenAI in, OpenAI out: events untouched, except the usage chunk the caller did not ask for."""

    def __init__(self, caller_asked_usage: bool) -> None:
        super().__init__(COUNTERS["openai"], (), (b'"usage"', b"[DONE]", b'"error"'))
        self.observer = StreamObserver(hide_usage_chunk=not caller_asked_usage)

    @property
    def usage(self) -> Usage | None:
        return self.observer.usage

    @property
    def done(self) -> bool:
        return self.observer.done

    def read(self, event: bytes) -> tuple[bool, int, int]:
        observer = self.observer
        chars, size = observer.completion_chars, observer.completion_bytes
        keep = observer.observe(event)
        return keep, observer.completion_chars - chars, observer.completion_bytes - size

    def finish(self) -> list[bytes]:
        return []

    def error(self, message: str, code: str, request_id: str) -> list[bytes]:
        return [error_event(message, code, request_id)]


# per dialect: the tokens of the events read whole at the start, and at a block's end
NATIVE_EVENTS: dict[str, tuple[tuple[bytes, ...], tuple[bytes, ...]]] = {
    "anthropic": ((b"message_start",), (b"message_delta", b"message_stop", b'"error"')),
    "responses": ((), (b"response.completed", b"response.incomplete", b"response.failed", b'"error"')),
}


class NativePassthrough(Passthrough):
    """Same non-OpenAI dialect on both sides: bytes untouched, usage read through the dialect's parser."""

    def __init__(self, dialect: ModuleType, model: str, name: str) -> None:
        head, control = NATIVE_EVENTS[name]
        super().__init__(COUNTERS[name], head, control)
        self.reader = dialect.StreamToChat()
        self.writer = dialect.StreamFromChat(model)

    @property
    def usage(self) -> Usage | None:
        usage: Usage | None = self.reader.usage
        return usage

    @property
    def done(self) -> bool:
        return bool(self.reader.done)

    def read(self, event: bytes) -> tuple[bool, int, int]:
        chars = size = 0
        for chunk in self.reader.feed(event):
            c, b = delivered_size(chunk)
            chars += c
            size += b
        return True, chars, size

    def finish(self) -> list[bytes]:
        return []

    def error(self, message: str, code: str, request_id: str) -> list[bytes]:
        return list(self.writer.error(f"{message} (request id: {request_id})", code))


class EventPassthrough:
    """Same dialect on both sides, read event by event (Gemini: its tool calls' arguments are objects)."""

    def __init__(self, dialect: ModuleType, model: str) -> None:
        self.reader = dialect.StreamToChat()
        self.writer = dialect.StreamFromChat(model)
        self.completion_chars = 0
        self.completion_bytes = 0

    @property
    def usage(self) -> Usage | None:
        usage: Usage | None = self.reader.usage
        return usage

    @property
    def done(self) -> bool:
        return bool(self.reader.done)

    def relay(self, block: bytes) -> list[bytes]:
        for event in events_of(block):
            self.transform(event)
        return [block]

    def transform(self, event: bytes) -> list[bytes]:
        for chunk in self.reader.feed(event):
            chars, size = delivered_size(chunk)
            self.completion_chars += chars
            self.completion_bytes += size
        return [event]

    def finish(self) -> list[bytes]:
        return []

    def error(self, message: str, code: str, request_id: str) -> list[bytes]:
        return list(self.writer.error(f"{message} (request id: {request_id})", code))


class Translated:
    """Upstream dialect → chat chunks → caller dialect, event by event."""

    def __init__(self, upstream: ModuleType, caller: ModuleType, model: str, **caller_options: Any) -> None:
        self.reader = upstream.StreamToChat()
        self.writer = caller.StreamFromChat(model, **caller_options)
        self.completion_chars = 0
        self.completion_bytes = 0
        self.finished = False

    @property
    def usage(self) -> Usage | None:
        usage: Usage | None = self.reader.usage
        return usage

    @property
    def done(self) -> bool:
        return bool(self.reader.done)

    def relay(self, block: bytes) -> list[bytes]:
        out: list[bytes] = []
        for event in events_of(block):
            out.extend(self.transform(event))
        return out

    def transform(self, event: bytes) -> list[bytes]:
        out: list[bytes] = []
        for chunk in self.reader.feed(event):
            chars, size = delivered_size(chunk)
            self.completion_chars += chars
            self.completion_bytes += size
            out.extend(self.writer.feed(chunk))
        if self.reader.done:
            out.extend(self.finish())
        return out

    def finish(self) -> list[bytes]:
        if self.finished:
            return []
        self.finished = True
        out: list[bytes] = []
        for chunk in self.reader.finish():
            out.extend(self.writer.feed(chunk))
        out.extend(self.writer.finish())
        return out

    def error(self, message: str, code: str, request_id: str) -> list[bytes]:
        self.finished = True
        return list(self.writer.error(f"{message} (request id: {request_id})", code))
