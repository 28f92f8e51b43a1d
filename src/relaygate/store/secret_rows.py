"""Channel rows and their sealed secrets: the start-up check, sealing clear rows, and key rotation."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import JSON, select, type_coerce
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from relaygate.core.secrets import (
    Keyring,
    SecretsKeyError,
    load_keyring,
    missing_key_error,
    new_key,
    parse_key,
    sealed_key_id,
    write_key_file,
)
from relaygate.store.db import get_meta, set_meta
from relaygate.store.sealed import KeyHolder, attach_keyring, default_key_path, keyring_of
from relaygate.store.tables import channels, meta

log = logging.getLogger("relaygate.secrets")
BOUND_KEY = "secrets_key_id"  # meta row: the key that seals this database, so no process starts with another


@dataclass(frozen=True)
class SealState:
    ring: Keyring
    sealed: dict[str, int]  # key id -> rows sealed with it
    clear: int  # rows still in clear text
    created_key_file: bool = False


async def _raw_rows(conn: AsyncConnection) -> list[tuple[int, Any]]:
    rows = await conn.execute(select(channels.c.id, type_coerce(channels.c.secrets, JSON)))
    return [(int(r[0]), r[1]) for r in rows]


def _census(rows: list[tuple[int, Any]]) -> tuple[dict[str, int], list[int]]:
    sealed: dict[str, int] = {}
    clear: list[int] = []
    for row_id, value in rows:
        kid = sealed_key_id(value) if isinstance(value, str) else None
        if kid is None:
            if value is not None:
                clear.append(row_id)
        else:
            sealed[kid] = sealed.get(kid, 0) + 1
    return sealed, clear


async def prepare_secrets(engine: AsyncEngine, env_keys: str, key_file: str, data_dir: str,
                          *, seal_clear: bool = True, write: bool = True) -> SealState:
    """Load the keys, check they open every sealed row, create the key file on a first run, seal clear rows.

    ``write=False`` (a dry run) changes nothing anywhere: a first run gets a throw-away key held in memory
    only, and no key is bound into the database nor any clear row sealed.
    Raises SecretsKeyError with what to set when the database needs a key this process lacks.
    """
    ring = load_keyring(env_keys, key_file or str(default_key_path(engine.url, data_dir)), data_dir)
    async with engine.connect() as conn:
        sealed, clear = _census(await _raw_rows(conn))
        bound = await get_meta(conn, BOUND_KEY)
    needed = sorted(set(sealed) | ({bound} if bound else set()))
    created = False
    if not ring.keys:
        if needed:  # never a new key for a database another process or machine has sealed
            raise missing_key_error(ring, needed)
        if not write:
            ring = Keyring((parse_key(new_key()),), "dry run (not saved)")
            attach_keyring(engine, ring)
            return SealState(ring, sealed, len(clear), False)
        assert ring.path is not None
        created = write_key_file(ring.path, [parse_key(new_key())], exclusive=True)
        ring = load_keyring("", str(ring.path), data_dir)  # ours, or the one a racing process wrote first
    missing = sorted(set(needed) - set(ring.ids))
    if missing:
        raise missing_key_error(ring, missing)
    if bound is None and write:
        bound = await _bind(engine, str(ring.current_id))
        if bound not in ring.ids:  # another process bound its own key first (several first starts at once)
            if created and ring.path is not None:
                ring.path.unlink(missing_ok=True)
            raise missing_key_error(ring, [bound])
    if created:
        log.warning("created the secrets key file %s: back it up, channel secrets cannot be read without it",
                    ring.path)
    attach_keyring(engine, ring)
    if clear and seal_clear and write:
        await _reseal(engine, ring, clear)
        log.info("encrypted the upstream secrets of %d channel(s) stored in clear text", len(clear))
        sealed = {**sealed, str(ring.current_id): sealed.get(str(ring.current_id), 0) + len(clear)}
        clear = []
    return SealState(ring, sealed, len(clear), created)


async def _bind(engine: AsyncEngine, kid: str) -> str:
    """Record which key seals this database, unless a racing process did first; returns the bound id."""
    try:
        async with engine.begin() as conn:
            await conn.execute(meta.insert().values(key=BOUND_KEY, value=kid))
        return kid
    except IntegrityError:
        async with engine.connect() as conn:
            return str(await get_meta(conn, BOUND_KEY))


async def ensure_secrets(engine: AsyncEngine, settings: Any, *, write: bool = True) -> None:
    """prepare_secrets for an engine made outside the usual start paths (import, tools), once; ``write=False``
    for a dry run, which creates no key file and binds nothing."""
    if keyring_of(engine) is None:
        await prepare_secrets(engine, settings.secrets_key, settings.secrets_key_file, str(settings.data_path),
                              write=write)


async def _reseal(engine: AsyncEngine, ring: Keyring, ids: list[int] | None) -> int:
    """Re-write the given rows (all when None) sealed with the ring's first key, in one transaction."""
    holder = KeyHolder(ring)
    count = 0
    async with engine.begin() as conn:
        for row_id, value in await _raw_rows(conn):
            if ids is not None and row_id not in ids:
                continue
            if isinstance(value, str) and sealed_key_id(value) is not None:
                if ids is None and sealed_key_id(value) == ring.current_id:
                    continue
                value = orjson.loads(holder.open(value))
            if value is None:
                continue
            await conn.execute(channels.update().where(channels.c.id == row_id)
                               .values(secrets=type_coerce(ring.seal(orjson.dumps(value)), JSON)))
            count += 1
        if ids is None:  # a rotation: the database is now sealed with the ring's first key
            await set_meta(conn, BOUND_KEY, str(ring.current_id))
    return count


async def rotate_secrets(engine: AsyncEngine, env_keys: str, key_file: str, data_dir: str,
                         new: str | None = None) -> tuple[str | None, str | None, int]:
    """Seal every channel secret with a new key; returns (old key id, new key id, rows re-sealed).

    Keys from a file: a new key (``new`` or a fresh one) is written first in the file with the old
    ones after it, every row is re-sealed, then the file keeps only the new key. Keys from the
    environment: the operator lists the new key first (RELAYGATE_SECRETS_KEY=new,old) and every row
    is re-sealed with it; the old key can then be dropped from the environment.
    """
    state = await prepare_secrets(engine, env_keys, key_file, data_dir)
    ring = state.ring
    old_id = ring.current_id
    if ring.path is None:  # from the environment
        if new:
            raise SecretsKeyError(
                "The keys come from RELAYGATE_SECRETS_KEY: put the new key first there "
                "(RELAYGATE_SECRETS_KEY=<new>,<old>) and run `relaygate secrets rotate` without --new-key.",
                "密钥来自 RELAYGATE_SECRETS_KEY：请把新密钥放在最前（RELAYGATE_SECRETS_KEY=<新>,<旧>），"
                "然后不带 --new-key 运行 `relaygate secrets rotate`。")
        count = await _reseal(engine, ring, None)
        attach_keyring(engine, ring)
        others = sorted(set(state.sealed) - {str(ring.current_id)})
        return (others[0] if others else old_id), ring.current_id, count
    fresh = parse_key(new or new_key())
    keys = [fresh, *[k for k in ring.keys if k != fresh]]
    write_key_file(ring.path, keys)  # the old keys stay until every row is re-sealed
    both = Keyring(tuple(keys), ring.source, ring.path)
    count = await _reseal(engine, both, None)
    write_key_file(ring.path, [fresh])
    done = Keyring((fresh,), ring.source, ring.path)
    attach_keyring(engine, done)
    return old_id, done.current_id, count
