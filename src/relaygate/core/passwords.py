"""Operator and user passwords: scrypt for new ones; bcrypt hashes imported from One API / New API verify as-is."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# scrypt with n=2**14, r=8, p=1 costs ~16 MiB and ~50 ms per check on this class of machine
_N, _R, _P = 2**14, 8, 1
MIN_LENGTH = 8


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored`` (scrypt$…, or a $2a$/$2b$/$2y$ bcrypt hash)."""
    if not stored or not password:
        return False
    if stored.startswith("scrypt$"):
        try:
            _, n, r, p, salt, digest = stored.split("$")
            got = hashlib.scrypt(password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p),
                                 dklen=len(_unb64(digest)))
        except (ValueError, TypeError):
            return False
        return hmac.compare_digest(got, _unb64(digest))
    if stored.startswith(("$2a$", "$2b$", "$2y$")):
        import bcrypt  # One API and New API store Go's bcrypt ($2a$10$…)

        raw = password.encode()
        if len(raw) > 72:  # Go's bcrypt refuses longer passwords; so did the old system
            return False
        try:
            return bcrypt.checkpw(raw, ("$2b$" + stored[4:]).encode())
        except ValueError:
            return False
    return False


def is_bcrypt(stored: str) -> bool:
    return stored.startswith(("$2a$", "$2b$", "$2y$"))


def dummy_verify(password: str) -> None:
    """Spend the time of one check for an unknown name, so timing does not reveal which names exist."""
    hashlib.scrypt(password.encode(), salt=b"relaygate-dummy!", n=_N, r=_R, p=_P, dklen=32)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
