"""Identifiers: request ids that sort by time, short random ids for owners and tokens."""

from __future__ import annotations

import os
import secrets
import time

_B32 = "0123456789abcdefghjkmnpqrstvwxyz"


def request_id() -> str:
    """``req_`` + 10 chars of millisecond time + 10 random chars (Crockford base32), sortable."""
    ms = time.time_ns() // 1_000_000
    rnd = int.from_bytes(os.urandom(7), "big")
    out = []
    for _ in range(10):
        out.append(_B32[ms & 31])
        ms >>= 5
    head = "".join(reversed(out))
    tail = []
    for _ in range(10):
        tail.append(_B32[rnd & 31])
        rnd >>= 5
    return "req_" + head + "".join(tail)


def short_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"
