"""The media interfaces: synchronous media calls (images, audio) and asynchronous tasks (video).

Like ``base.Provider``, a media provider only builds upstream requests and reads answers; the
media service does the I/O. A provider module offers media by defining ``MEDIA`` (synchronous
operations) and/or ``TASKS`` (an asynchronous task protocol) next to its ``PROVIDER``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from relaygate.core.domain import ChannelRecord
from relaygate.providers.base import UpstreamRequest

TERMINAL = frozenset({"succeeded", "failed", "cancelled", "expired"})


class SubmitRefused(ValueError):
    """The upstream refused a task at submit (a banned prompt, a bad parameter): no other channel will take it."""


@dataclass(frozen=True, slots=True)
class VideoJob:
    """A video task as the caller asked for it, whatever surface it came in through."""

    model: str  # the upstream's model name
    prompt: str
    action: str = "text2video"  # text2video | image2video
    seconds: int | None = None
    size: str | None = None  # e.g. 1280x720
    aspect_ratio: str | None = None
    image: bytes | None = None  # reference image bytes (image-to-video)
    image_type: str = "image/png"
    image_url: str | None = None  # or a reference image the upstream fetches itself
    extra: dict[str, Any] = field(default_factory=dict)  # other fields, passed through


@dataclass(frozen=True, slots=True)
class TaskStatus:
    """What the upstream says of a task. ``state``: queued | running | succeeded | failed | cancelled."""

    state: str
    progress: int = 0
    started: bool = False  # the upstream began work (a cancel is then not a free release)
    seconds: float | None = None  # the result's duration, when reported
    result_url: str | None = None  # where the result can be fetched (kept from callers)
    review: str | None = None  # a moderation outcome, when reported
    error: str | None = None
    details: dict[str, Any] | None = None  # what the surface shows of a result besides it (Midjourney's buttons)


class SyncMedia(Protocol):
    """Images and audio: one upstream call each, bodies streamed through."""

    operations: frozenset[str]  # images.generations, images.edits, images.variations, audio.speech, …

    def build_sync(self, channel: ChannelRecord, secret: str, operation: str, content_type: str,
                   headers: dict[str, str]) -> UpstreamRequest: ...


class TaskProtocol(Protocol):
    """An asynchronous task upstream: submit, poll, fetch the result, cancel."""

    protocol: str
    kind: str  # "video", or the protocol's own task routes ("midjourney")

    def submit(self, channel: ChannelRecord, secret: str, job: VideoJob) -> UpstreamRequest: ...

    def submitted(self, body: bytes) -> tuple[str, TaskStatus]:
        """The upstream's task id and first status from its answer to ``submit``; ValueError if unreadable."""
        ...

    def poll(self, channel: ChannelRecord, secret: str, upstream_id: str, action: str) -> UpstreamRequest: ...

    def status(self, body: bytes) -> TaskStatus:
        """The task's status from a poll answer; ValueError if unreadable."""
        ...

    def content(self, channel: ChannelRecord, secret: str, upstream_id: str, result_url: str | None) -> UpstreamRequest:
        ...

    def cancel(self, channel: ChannelRecord, secret: str, upstream_id: str) -> UpstreamRequest | None: ...

    def error_detail(self, body: bytes) -> str: ...
