"""Upstream secrets at rest: AES-256-GCM under a key from the environment or from a key file.

A sealed value reads ``rgenc1:<key id>:<base64url(nonce | ciphertext | tag)>``; the key id is the
first 8 hex digits of the key's SHA-256, so a database says which key it needs without holding it.
Several keys may be configured: the first seals, every one opens (that is how a rotation runs).
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

PREFIX = "rgenc1:"
_AAD = b"relaygate channel secrets"
ENV_NAME = "RELAYGATE_SECRETS_KEY"
FILE_ENV_NAME = "RELAYGATE_SECRETS_KEY_FILE"


class SecretsKeyError(RuntimeError):
    """The secrets key is missing, malformed or not the one the database was sealed with (both languages)."""

    def __init__(self, en: str, zh: str) -> None:
        super().__init__(en)
        self.en = en
        self.zh = zh

    def message(self, lang: str = "en") -> str:
        return self.zh if lang.startswith("zh") else self.en


def new_key() -> str:
    """A fresh key as text: base64url of 32 random bytes."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def parse_key(text: str) -> bytes:
    raw = text.strip()
    try:
        key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (ValueError, TypeError):
        key = b""
    if len(key) != 32:
        raise SecretsKeyError(
            "A secrets key must be base64url of 32 bytes (44 characters); `relaygate secrets new-key` prints one.",
            "密钥必须是 32 字节的 base64url 编码（44 个字符）；`relaygate secrets new-key` 可生成一个。")
    return key


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def sealed_key_id(value: str) -> str | None:
    """The key id of a sealed value, or None for anything else (a clear-text row)."""
    if not value.startswith(PREFIX):
        return None
    return value[len(PREFIX):].split(":", 1)[0]


@dataclass(frozen=True)
class Keyring:
    keys: tuple[bytes, ...]  # the first one seals
    source: str  # where they came from, for messages ("RELAYGATE_SECRETS_KEY", a file path, "none")
    path: Path | None = None  # the key file, when they came from one

    @property
    def ids(self) -> list[str]:
        return [key_id(k) for k in self.keys]

    @property
    def current_id(self) -> str | None:
        return key_id(self.keys[0]) if self.keys else None

    def seal(self, plain: bytes) -> str:
        if not self.keys:
            raise missing_key_error(self, [])
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # loaded when a secret is sealed or
        # opened, not by every CLI command that only lists rows

        nonce = os.urandom(12)
        box = AESGCM(self.keys[0]).encrypt(nonce, plain, _AAD)
        return f"{PREFIX}{key_id(self.keys[0])}:{base64.urlsafe_b64encode(nonce + box).decode()}"

    def open(self, sealed: str) -> bytes:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        kid, _, payload = sealed[len(PREFIX):].partition(":")
        for key in self.keys:
            if key_id(key) == kid:
                raw = base64.urlsafe_b64decode(payload)
                try:
                    return AESGCM(key).decrypt(raw[:12], raw[12:], _AAD)
                except InvalidTag:
                    raise SecretsKeyError(
                        f"A channel secret sealed with key {kid} does not open with it: the row was altered.",
                        f"用密钥 {kid} 加密的渠道密钥无法解密：该行数据已被改动。") from None
        raise missing_key_error(self, [kid])


def missing_key_error(ring: Keyring, needed: list[str]) -> SecretsKeyError:
    want = ", ".join(needed) or "?"
    have = ", ".join(ring.ids) or "none"
    return SecretsKeyError(
        f"The database holds channel secrets encrypted with key {want}, but the configured keys ({have}, from "
        f"{ring.source}) do not include it. Set {ENV_NAME} to that key, or point {FILE_ENV_NAME} at the key "
        "file it came from (default: secrets.key beside the SQLite file, or in the data folder). Secrets cannot be "
        "read without it.",
        f"数据库中的渠道密钥用密钥 {want} 加密，但已配置的密钥（{have}，来自 {ring.source}）中没有它。"
        f"请把 {ENV_NAME} 设为该密钥，或用 {FILE_ENV_NAME} 指向原来的密钥文件（默认：SQLite 文件旁或数据目录中的 "
        "secrets.key）。"
        "没有它就无法读取这些密钥。")


def default_key_file(data_dir: str) -> Path:
    return Path(data_dir) / "secrets.key"


def load_keyring(env_keys: str, key_file: str, data_dir: str) -> Keyring:
    """Keys from the environment (comma-separated, first seals) or else from the key file; may be empty."""
    if env_keys.strip():
        return Keyring(tuple(parse_key(k) for k in env_keys.split(",") if k.strip()), ENV_NAME)
    path = Path(key_file) if key_file else default_key_file(data_dir)
    if not path.is_file():
        return Keyring((), "none", path)
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return Keyring(tuple(parse_key(ln) for ln in lines), str(path), path)


_WRITE_LOCK = threading.Lock()


def write_key_file(path: Path, keys: list[bytes], *, exclusive: bool = False) -> bool:
    """Write the key file (mode 0600, atomically); ``exclusive``: only if none exists (False if one did)."""
    body = ("# relaygate secrets key: it decrypts the upstream secrets in the database. Back it up;\n"
            "# without it those secrets are lost. First line encrypts; later lines still decrypt.\n"
            + "".join(base64.urlsafe_b64encode(k).decode() + "\n" for k in keys))
    path.parent.mkdir(parents=True, exist_ok=True)
    with _WRITE_LOCK:
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            if not exclusive:
                os.replace(tmp, path)
                return True
            try:
                os.link(tmp, path)  # atomic and refuses to replace: a racing process keeps its own key
            except FileExistsError:
                return False
            return True
        finally:
            if tmp.exists():
                tmp.unlink()
