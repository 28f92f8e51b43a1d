"""The sealed column: channel secrets encrypted on their way into the database, opened on the way out.

``SealedJSON`` stores the JSON value as one sealed string (see core/secrets.py) in the same JSON
column, so no database type changes. The keys travel with the engine (``attach_keyring``): every
reader and writer of ``channels.secrets`` (services, CLI, import, config apply) stays unchanged.
A row still in clear text (written before encryption existed) reads as it is;
store/secret_rows.py:prepare_secrets seals such rows at start. When a value names a key this process
does not have and the keys came from a file, the file is read again (another process rotated it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import JSON
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import TypeDecorator

from relaygate.core.secrets import Keyring, SecretsKeyError, default_key_file, load_keyring, sealed_key_id

_ATTR = "_relaygate_keys"


class KeyHolder:
    """The keys of one engine; re-reads its key file when a value needs a key it does not have.

    Every engine gets one at creation that loads the keys from the environment on first use (key
    file beside the SQLite file or in RELAYGATE_DATA_DIR); ``prepare_secrets`` replaces it with
    one checked against the database (``prepared``), creating the key file on a first run.
    """

    def __init__(self, ring: Keyring | None, *, url: Any = None, prepared: bool = True) -> None:
        self._ring = ring
        self.url = url
        self.prepared = prepared

    @property
    def ring(self) -> Keyring:
        if self._ring is None:
            self._ring = _from_environment(self.url)
        return self._ring

    def open(self, sealed: str) -> bytes:
        ring = self.ring
        kid = sealed_key_id(sealed)
        if kid not in ring.ids and ring.path is not None and ring.path.is_file():
            ring = self._ring = Keyring(load_keyring("", str(ring.path), "").keys, ring.source, ring.path)
        return ring.open(sealed)


def default_key_path(url: Any, data_dir: str) -> Path:
    """Beside the SQLite file (the key follows its database, whoever opens it), else in the data folder."""
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).parent / "secrets.key"
    return default_key_file(data_dir)


def _from_environment(url: Any) -> Keyring:
    from relaygate.core.settings import Settings

    s = Settings.from_env()
    data = str(s.data_path)
    return load_keyring(s.secrets_key, s.secrets_key_file or str(default_key_path(url, data)), data)


def attach_keyring(engine: AsyncEngine, ring: Keyring) -> None:
    setattr(engine.sync_engine.dialect, _ATTR, KeyHolder(ring))


def attach_default_keys(engine: AsyncEngine) -> None:
    setattr(engine.sync_engine.dialect, _ATTR, KeyHolder(None, url=engine.url, prepared=False))


def keyring_of(engine: AsyncEngine) -> Keyring | None:
    """The keys of an engine prepared by prepare_secrets, else None."""
    holder = getattr(engine.sync_engine.dialect, _ATTR, None)
    return holder.ring if holder is not None and holder.prepared else None


def _holder(dialect: Dialect) -> KeyHolder:
    holder = getattr(dialect, _ATTR, None)
    if holder is None:
        raise SecretsKeyError("No secrets key is loaded for this database connection (a relaygate defect: "
                              "the engine was not made by store/db.py:make_engine).",
                              "此数据库连接未加载密钥（relaygate 缺陷：引擎不是由 make_engine 创建的）。")
    return holder  # type: ignore[no-any-return]


class SealedJSON(TypeDecorator[Any]):
    """A JSON value kept encrypted; clear-text rows of older versions still read."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        return _holder(dialect).ring.seal(orjson.dumps(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, str) and sealed_key_id(value) is not None:
            return orjson.loads(_holder(dialect).open(value))
        return value
