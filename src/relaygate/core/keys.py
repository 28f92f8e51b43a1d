"""API key and admin token material: generation from a CSPRNG, hashing, masking, stable ids."""

from __future__ import annotations

import hashlib
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
KEY_BODY_LENGTH = 48


def generate_key() -> str:
    """A new caller key: ``sk-`` plus 48 characters from the OS CSPRNG (about 285 bits)."""
    return "sk-" + "".join(secrets.choice(_ALPHABET) for _ in range(KEY_BODY_LENGTH))


def generate_admin_token() -> str:
    return "rga-" + secrets.token_urlsafe(32)


def key_body(presented: str) -> str:
    """The part of a key that is hashed: without a leading ``sk-`` (One API stores keys that way)."""
    presented = presented.strip()
    return presented[3:] if presented.startswith("sk-") else presented


def hash_secret(secret: str) -> str:
    """SHA-256 hex of a key body or token; the only form in which secrets are stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


def key_hash(presented: str) -> str:
    return hash_secret(key_body(presented))


def key_id_for(hashed: str) -> str:
    """A stable public id for support, derived from the hash so it never reveals the key."""
    return "key_" + hashlib.sha256(("id:" + hashed).encode()).hexdigest()[:12]


def mask_key(presented: str) -> str:
    """``sk-abcd…wxyz``: enough for a person to recognise their key, never enough to use it."""
    body = key_body(presented)
    if len(body) < 12:
        return "sk-…" if body else ""
    return f"sk-{body[:4]}…{body[-4:]}"


def mask_secret(secret: str) -> str:
    """Mask an upstream secret for listings: first 3 and last 4 characters at most."""
    if len(secret) <= 10:
        return "…" if secret else ""
    return f"{secret[:3]}…{secret[-4:]}"


def split_presented_key(raw: str) -> tuple[str, int | None]:
    """Split One API's ``sk-<key>-<channel id>`` form into the key and the pinned channel id."""
    raw = raw.strip()
    body = key_body(raw)
    if "-" in body:
        head, _, tail = body.rpartition("-")
        if tail.isdigit() and head:
            return head, int(tail)
    return raw, None
