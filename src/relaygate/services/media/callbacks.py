"""Signed callbacks: on every terminal state of a task, relaygate POSTs the task to its callback URL.

The body is the task as the caller's surface shows it, plus ``"event": "task.<state>"``. Headers:

- ``X-Relaygate-Event``: ``task.succeeded`` (or failed, cancelled, expired)
- ``X-Relaygate-Task-Id``: the task id
- ``X-Relaygate-Timestamp``: Unix seconds when this delivery was signed
- ``X-Relaygate-Signature``: ``v1=`` + hex HMAC-SHA256 over ``"<timestamp>." + body`` with the key's
  callback secret (``relaygate keys callback-secret KEY``)

A receiver recomputes the HMAC over the raw body, compares in constant time, and refuses timestamps
more than five minutes old (replays). Deliveries are retried with back-off (1 s, 2 s, 4 s, …) up to
``RELAYGATE_MEDIA_CALLBACK_ATTEMPTS`` times; each attempt is recorded (``media_deliveries``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

TOLERANCE_SECONDS = 300


def load_secret(configured: str, data_dir: Path) -> bytes:
    """The server's callback secret: the setting, else a random one kept in the data folder."""
    if configured:
        return configured.encode()
    path = data_dir / "callback-secret"
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_hex(32).encode()
        path.touch(mode=0o600)
        path.write_bytes(value)
        return value


def key_secret(server_secret: bytes, key_id: str) -> str:
    """A key's callback secret: derived, so it never needs storing and rotates with the server secret."""
    return "whsec_" + hmac.new(server_secret, f"callback:{key_id}".encode(), hashlib.sha256).hexdigest()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={mac}"


def verify(secret: str, timestamp: int, body: bytes, header: str, now: int) -> bool:
    """What a receiver does (documented in docs/media.md; tests use it as a receiver would)."""
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), header)


def backoff_ms(attempt: int) -> int:
    return int(min(1000 * 2 ** max(attempt - 1, 0), 300_000))
