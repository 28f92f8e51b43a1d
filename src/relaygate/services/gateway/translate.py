"""Dialects and stream strategies: pass bytes through when caller and upstream agree, else translate.

Every dialect module (protocols/openai_dialect, anthropic, responses, gemini) converts to and from
one internal form, OpenAI Chat Completions. A stream strategy turns each complete upstream SSE event
into the bytes the caller gets, and keeps the usage it saw on the way.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Protocol

from relaygate.protocols.openai import StreamObserver, delivered_size, error_event
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

    def transform(self, event: bytes) -> list[bytes]: ...

    def finish(self) -> list[bytes]: ...

    def error(self, message: str, code: str, request_id: str) -> list[bytes]: ...


class OpenAIPassthrough:
    """OpenAI in, OpenAI out: events untouched, except the usage chunk the caller did not ask for."""

    def __init__(self, caller_asked_usage: bool) -> None:
        self.observer = StreamObserver(hide_usage_chunk=not caller_asked_usage)

    @property
    def usage(self) -> Usage | None:
        return self.observer.usage

    @property
    def done(self) -> bool:
        return self.observer.done

    @property
    def completion_chars(self) -> int:
        return self.observer.completion_chars

    @property
    def completion_bytes(self) -> int:
        return self.observer.completion_bytes

    def transform(self, event: bytes) -> list[bytes]:
        return [event] if self.observer.observe(event) else []

    def finish(self) -> list[bytes]:
        return []

    def error(self, message: str, code: str, request_id: str) -> list[bytes]:
        return [error_event(message, code, request_id)]


class NativePassthrough:
    """Same non-OpenAI dialect on both sides: bytes untouched, usage read through the dialect's parser."""

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
