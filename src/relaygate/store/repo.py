"""Reads of the whole routing state and writes of usage batches and channel health."""

from __future__ import annotations

import asyncio
import functools
import operator
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import orjson
from sqlalchemy import JSON, BigInteger, Integer, insert, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from relaygate.core.compat import KeyRules
from relaygate.core.domain import (
    ChannelRecord,
    GroupRecord,
    KeyRecord,
    ModelRecord,
    OwnerRecord,
    parse_networks,
)
from relaygate.core.money import Price
from relaygate.store import tables as t
from relaygate.store.wide import INT64_MAX, INT64_MIN, WideInt


@dataclass(frozen=True, slots=True)
class PriceRow:
    price: Price
    max_output_tokens: int | None


@dataclass(frozen=True)
class StateRows:
    keys: list[KeyRecord]
    owners: list[OwnerRecord]
    groups: list[GroupRecord]
    channels: list[ChannelRecord]
    models: list[ModelRecord]
    prices: dict[str, PriceRow] = field(default_factory=dict)
    key_rules: dict[str, KeyRules] = field(default_factory=dict)  # imported keys' old-system rules


def key_from_row(row: Any) -> KeyRecord:
    try:
        networks = parse_networks(row.allowed_networks)
    except ValueError:
        networks = ()  # an unparsable stored network admits nobody rather than everybody
    return KeyRecord(
        id=row.id, key_hash=row.key_hash, masked=row.masked, name=row.name, owner_id=row.owner_id,
        group=row.group_name, environment=row.environment, enabled=bool(row.enabled),
        disabled_reason=row.disabled_reason, expires_at=row.expires_at,
        allowed_models=frozenset(row.allowed_models) if row.allowed_models else None,
        allowed_networks=networks, source=row.source or "native", cap_total=row.cap_total,
        cap_daily=row.cap_daily, cap_monthly=row.cap_monthly, rpm=row.rpm, tpm=row.tpm,
        concurrency=row.concurrency,
    )


def channel_from_row(row: Any) -> ChannelRecord:
    return ChannelRecord(
        id=row.id, name=row.name, protocol=row.protocol, base_url=row.base_url,
        secrets=tuple(row.secrets or ()), models=dict(row.models or {}),
        groups=frozenset(row.groups) if row.groups else None, priority=row.priority,
        weight=row.weight, enabled=bool(row.enabled), disabled_reason=row.disabled_reason,
        connect_timeout=row.connect_timeout, first_byte_timeout=row.first_byte_timeout,
        total_timeout=row.total_timeout, options=dict(row.options or {}),
    )


def model_from_row(row: Any) -> ModelRecord:
    return ModelRecord(name=row.name, aliases=tuple(row.aliases or ()), status=row.status,
                       replacement=row.replacement, description=row.description,
                       capabilities=getattr(row, "capabilities", None) or None)


async def load_state(conn: AsyncConnection) -> StateRows:
    keys = [key_from_row(r) for r in await conn.execute(select(t.api_keys))]
    owners = [OwnerRecord(r.id, r.name, r.kind, r.email) for r in await conn.execute(select(t.owners))]
    groups = [GroupRecord(r.name, frozenset(r.models) if r.models is not None else None, r.description,
                          r.multiplier_ppm, r.rpm, r.tpm, r.concurrency)
              for r in await conn.execute(select(t.groups))]
    channels = [channel_from_row(r) for r in await conn.execute(select(t.channels))]
    models = [model_from_row(r) for r in await conn.execute(select(t.models))]
    prices = {r.model: PriceRow(Price(r.input_per_m, r.output_per_m, r.cached_input_per_m, r.per_request,
                                      bool(r.free)), r.max_output_tokens)
              for r in await conn.execute(select(t.prices))}
    rules = {r.key_id: KeyRules.from_json(r.rules) for r in await conn.execute(select(t.key_rules))
             if isinstance(r.rules, dict)}
    return StateRows(keys, owners, groups, channels, models, prices, rules)


@functools.lru_cache(maxsize=32)
def _bulk_sql(table_name: str, paramstyle: str) -> tuple[str, tuple[str, ...], frozenset[str]]:
    """INSERT text in the driver's own parameter style, its columns, and which of them hold JSON."""
    table = t.metadata.tables[table_name]
    cols = tuple(c.name for c in table.columns if not (c.primary_key and c.autoincrement is True)
                 and not (c.primary_key and isinstance(c.type, BigInteger | Integer) and c.name == "id"))
    marks = {"qmark": ["?"] * len(cols), "format": ["%s"] * len(cols),
             "numeric_dollar": [f"${i + 1}" for i in range(len(cols))],
             "named": [f":{c}" for c in cols], "pyformat": [f"%({c})s" for c in cols]}[paramstyle]
    json_cols = frozenset(c.name for c in table.columns if isinstance(c.type, JSON))
    return f"INSERT INTO {table_name} ({', '.join(cols)}) VALUES ({', '.join(marks)})", cols, json_cols


# SQLite statements take at most 32,766 parameters (999 before 3.32). A batch goes as multi-row
# VALUES statements whose sizes are powers of two (512 rows at most), so a table has at most ten
# statement texts, each prepared once and kept in the driver's statement cache.
_SQLITE_MAX_PARAMS = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999
_SQLITE_SIZES = (512, 256, 128, 64, 32, 16, 8, 4, 2, 1)


@functools.lru_cache(maxsize=128)
def _sqlite_values_sql(table_name: str, rows: int) -> str:
    sql, _, _ = _bulk_sql(table_name, "qmark")
    head, _, one = sql.partition(" VALUES ")
    return f"{head} VALUES {', '.join([one] * rows)}"


@functools.lru_cache(maxsize=32)
def _sqlite_plan(table_name: str) -> tuple[tuple[int, ...], Callable[[Any], tuple[Any, ...]], tuple[int, ...],
                                           tuple[int, ...]]:
    """The statement sizes that fit the parameter limit, a getter of a row dict's values in column
    order, the positions of JSON columns (those travel as JSON text) and of wide money columns
    (values beyond int64 travel as decimal text, see store/wide.py)."""
    _, cols, json_cols = _bulk_sql(table_name, "qmark")
    sizes = tuple(n for n in _SQLITE_SIZES if n * len(cols) <= _SQLITE_MAX_PARAMS)
    getter = operator.itemgetter(*cols)
    table = t.metadata.tables[table_name]
    wide = tuple(i for i, c in enumerate(cols) if isinstance(table.c[c].type, WideInt))
    return sizes, (getter if len(cols) > 1 else lambda row: (getter(row),)), tuple(
        i for i, c in enumerate(cols) if c in json_cols), wide


async def _sqlite_bulk_insert(conn: AsyncConnection, table_name: str, rows: list[dict[str, Any]],
                              cols: tuple[str, ...]) -> None:
    """Multi-row VALUES statements (500 rows: 256 + 128 + 64 + 32 + 16 + 4), all handed to the
    driver's thread at once.

    Under load the event loop is the scarce resource, and every statement through SQLAlchemy is
    three hand-offs to the driver's thread (cursor, execute, close), each waiting for a turn of the
    busy loop: as 64-row statements one after another a batch took so long that the writer fell
    behind (750 rows/s written while the loop served 3,500 requests/s, the buffer growing). Here
    the statements are queued to the driver connection together, in order, in the transaction the
    caller opened, and the loop waits once. Other forms measured, per usage row in SQLite's thread
    (callgrind): executemany needs the GIL once per row, thousands of hand-offs per flush; one
    json_each statement re-parses a row's JSON for every column on SQLite 3.40 (about 219k
    instructions against 48k here); padding one statement to a fixed size costs about as much per
    filler row as per real row.
    """
    sizes, values_of, json_at, wide_at = _sqlite_plan(table_name)
    try:
        arrays = list(map(values_of, rows))
    except KeyError:  # rows that leave columns out: those are NULL
        arrays = [tuple(row.get(c) for c in cols) for row in rows]
    for i in json_at:  # usually None (a usage record's detail): only rows with a value are rebuilt
        for n, values in enumerate(arrays):
            if values[i] is not None:
                arrays[n] = (*values[:i], orjson.dumps(values[i]).decode(), *values[i + 1:])
    for i in wide_at:  # almost always within int64: only a row with a wider value is rebuilt
        for n, values in enumerate(arrays):
            v = values[i]
            if v is not None and not INT64_MIN <= v <= INT64_MAX:
                arrays[n] = (*values[:i], str(v), *values[i + 1:])
    statements = []
    start, total = 0, len(arrays)
    while start < total:
        size = next(n for n in sizes if n <= total - start)
        statements.append((_sqlite_values_sql(table_name, size),
                           tuple(chain.from_iterable(arrays[start:start + size]))))
        start += size
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None, "the SQLite connection has no driver connection"
    results = await asyncio.gather(*(driver.execute(sql, params) for sql, params in statements),
                                   return_exceptions=True)
    for (sql, params), result in zip(statements, results, strict=True):
        if isinstance(result, sqlite3.Error):  # raised as SQLAlchemy would (IntegrityError for a duplicate)
            raise DBAPIError.instance(sql, params, result, sqlite3.Error) from result
        if isinstance(result, BaseException):
            raise result


async def bulk_insert(conn: AsyncConnection, table_name: str, rows: list[dict[str, Any]]) -> None:
    """Insert straight through the driver: the writer's hot loop skips statement compilation."""
    if not rows:
        return
    style = conn.dialect.paramstyle
    sql, cols, json_cols = _bulk_sql(table_name, style)
    if conn.dialect.name == "sqlite":
        await _sqlite_bulk_insert(conn, table_name, rows, cols)
        return
    params: list[Any] = []
    for row in rows:
        values = tuple((orjson.dumps(row.get(c)).decode() if row.get(c) is not None else None)
                       if c in json_cols else row.get(c) for c in cols)
        params.append(dict(zip(cols, values, strict=True)) if style in ("named", "pyformat") else values)
    await conn.exec_driver_sql(sql, params)


async def insert_usage(conn: AsyncConnection, rows: list[dict[str, Any]], dedupe: bool = True) -> None:
    """Insert a batch; with ``dedupe``, rows whose request id is already stored are skipped."""
    if not rows:
        return
    if not dedupe:
        await bulk_insert(conn, "usage_records", rows)
        return
    ids = [r["request_id"] for r in rows]
    existing = {r[0] for r in await conn.execute(
        select(t.usage_records.c.request_id).where(t.usage_records.c.request_id.in_(ids)))}
    fresh = [r for r in rows if r["request_id"] not in existing]
    if fresh:
        await conn.execute(insert(t.usage_records), fresh)


async def save_health(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        updated = await conn.execute(
            t.channel_health.update().where(t.channel_health.c.channel_id == row["channel_id"]).values(**row))
        if updated.rowcount == 0:
            await conn.execute(insert(t.channel_health).values(**row))
