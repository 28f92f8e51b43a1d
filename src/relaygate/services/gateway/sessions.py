"""Sticky sessions: the requests of one agent session go to one channel and one upstream key.

Upstream prompt caches are per key (and often per machine behind it), so an agent whose turns are
spread over channels or keys pays the full prompt every turn. A session is named by the client:
Claude Code's ``X-Claude-Code-Session-Id``, Codex CLI's ``session_id`` header or the body's
``prompt_cache_key`` (OpenAI chat and Responses). The session keeps its channel and key while that
channel is usable; a failure drops it and the next attempt's channel becomes the session's.
Per process, in memory, bounded, forgotten after ``sticky_session_seconds`` idle (0 turns it off).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relaygate.core.clock import monotonic

SESSION_HEADERS = ("x-claude-code-session-id", "session_id", "session-id", "x-session-id")
LIMIT = 50_000


def session_of(headers: Mapping[str, str], data: Mapping[str, Any]) -> str | None:
    for name in SESSION_HEADERS:
        value = headers.get(name)
        if value:
            return value[:200]
    key = data.get("prompt_cache_key")
    return key[:200] if isinstance(key, str) and key else None


class StickySessions:
    """session -> [channel id, secret index or None, last used]; oldest dropped beyond LIMIT."""

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl = ttl_seconds
        self._held: dict[str, list[Any]] = {}

    def _get(self, session: str) -> list[Any] | None:
        if self.ttl <= 0:
            return None
        entry = self._held.get(session)
        if entry is None:
            return None
        if monotonic() - entry[2] > self.ttl:
            del self._held[session]
            return None
        return entry

    def channel(self, session: str) -> int | None:
        entry = self._get(session)
        return entry[0] if entry is not None else None

    def secret(self, session: str, channel_id: int) -> int | None:
        entry = self._get(session)
        return entry[1] if entry is not None and entry[0] == channel_id else None

    def hold(self, session: str, channel_id: int, secret_index: int | None) -> None:
        if self.ttl <= 0:
            return
        self._held.pop(session, None)  # re-inserted last: the dict's order is least recently used first
        self._held[session] = [channel_id, secret_index, monotonic()]
        if len(self._held) > LIMIT:
            del self._held[next(iter(self._held))]

    def keep(self, session: str, channel_id: int) -> None:
        """After a success on ``channel_id``: the session stays (or now is) there."""
        entry = self._get(session)
        self.hold(session, channel_id, entry[1] if entry is not None and entry[0] == channel_id else None)

    def drop(self, session: str) -> None:
        self._held.pop(session, None)

    def __len__(self) -> int:
        return len(self._held)
