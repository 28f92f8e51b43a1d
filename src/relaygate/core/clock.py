"""Time in one place: wall-clock milliseconds for records, monotonic seconds for durations."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def monotonic() -> float:
    return time.perf_counter()


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> int:
    """Parse an ISO date/time (UTC when no zone), or a relative '15m' / '2h' / '7d', to epoch ms."""
    text = text.strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text and text[-1] in units and text[:-1].isdigit():
        return now_ms() - int(text[:-1]) * units[text[-1]] * 1000
    if text.isdigit():
        return int(text)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def parse_future(text: str) -> int:
    """Like ``parse_time``, but a relative '30d' / '12h' counts forward from now (for expiry times)."""
    text = text.strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text and text[-1] in units and text[:-1].isdigit():
        return now_ms() + int(text[:-1]) * units[text[-1]] * 1000
    return parse_time(text)
