"""Identifiers: request ids that sort by time, short random ids for owners and tokens."""

from __future__ import annotations

import random
import secrets
import time


def request_id() -> str:
    """``req_`` + 11 hex digits of millisecond time + 10 random hex digits: sortable, unique, cheap.

    Request ids are not secrets, so the random part comes from ``random`` (no system call per request).
    """
    return f"req_{time.time_ns() // 1_000_000:011x}{random.getrandbits(40):010x}"


def short_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"
