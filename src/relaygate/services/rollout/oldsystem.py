"""The old One API / New API database during a rollout: quotas read, quota deltas written (opt-in), logs counted."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from relaygate.core.errors import InvalidInput
from relaygate.core.money import NANOS
from relaygate.core.settings import Settings
from relaygate.services.migration.dsn import mask_dsn, to_url
from relaygate.services.migration.logs import classify as classify_log
from relaygate.services.migration.parse import integer, json_object, text
from relaygate.services.migration.source import Source
from relaygate.services.migration.units import Units

CHUNK = 500
# the old system's log failure classes, in the rollout's classes
LOG_CLASSES = {"invalid_key": "401", "insufficient_quota": "402", "model_not_allowed": "403",
               "no_channel": "model_not_found", "rate_limited": "429", "timeout": "timeout",
               "upstream_5xx": "5xx", "upstream_auth": "5xx", "upstream_quota": "5xx"}


def writable_engine(dsn: str) -> AsyncEngine:
    """An engine that may write: only for the explicit --write-old quota updates."""
    url = to_url(dsn)
    if url.get_backend_name() == "sqlite" and url.database:
        url = url.set(database=url.database.replace("mode=ro", "mode=rw"))
    return create_async_engine(url)


@dataclass(frozen=True, slots=True)
class LogCounts:
    requests: int
    errors: dict[str, int]
    note: str = ""


class OldSystem:
    """An open old database: ``users.quota`` read in chunks, written only through ``add_quota``."""

    def __init__(self, source: Source, settings: Settings) -> None:
        self.source = source
        self.settings = settings
        self.units = Units(Fraction(500000), _fraction(settings.usd_rate, Fraction(1)), settings.currency)

    @classmethod
    async def open(cls, dsn: str, logs_dsn: str | None, settings: Settings) -> OldSystem:
        old = cls(await Source.open(dsn, logs_dsn), settings)
        options = await old.source.options()
        qpu = _fraction(options.get("QuotaPerUnit", ""), Fraction(500000))
        old.units = Units(qpu if qpu > 0 else Fraction(500000), old.units.usd_rate, settings.currency)
        return old

    async def close(self) -> None:
        await self.source.close()

    @property
    def name(self) -> str:
        return f"{self.source.name} ({mask_dsn(self.source.dsn)})"

    def nanos(self, quota: int) -> int:
        return self.units.nanos(quota)

    def quota_floor(self, nanos: int) -> int:
        """The most quota units worth no more than ``nanos`` (so the old side never gets more than was here)."""
        return math.floor(Fraction(nanos) * self.units.quota_per_unit / (NANOS * self.units.usd_rate))

    async def quotas(self, user_ids: list[int]) -> dict[int, int]:
        users = self.source.table("users")
        assert users is not None
        out: dict[int, int] = {}
        for i in range(0, len(user_ids), CHUNK):
            part = user_ids[i:i + CHUNK]
            for uid, quota in await self.source.execute("users", select(users.c.id, users.c.quota)
                                                        .where(users.c.id.in_(part))):
                out[int(uid)] = integer(quota)
        return out

    async def add_quota(self, deltas: dict[int, int]) -> None:
        """``quota = quota + delta`` per user, in one transaction: relative, so a charge the old system makes
        at the same moment is kept (and shows at the next read) instead of being overwritten."""
        if not deltas:
            return
        engine = writable_engine(self.source.dsn)
        users: Table = self.source.tables["users"]
        stmt = users.update().where(users.c.id == bindparam("uid")).values(quota=users.c.quota + bindparam("delta"))
        try:
            async with engine.begin() as conn:
                await conn.execute(stmt, [{"uid": uid, "delta": d} for uid, d in sorted(deltas.items())])
        except Exception as exc:
            raise InvalidInput(f"Could not write the old quotas in {self.name}: {type(exc).__name__}: {exc}",
                               f"无法写入旧系统 {self.name} 的额度：{type(exc).__name__}：{exc}") from exc
        finally:
            await engine.dispose()

    async def set_quota(self, uid: int, expected: int, new: int) -> bool:
        """``quota = new`` for one user if it still reads ``expected`` (compare and set): False when the old system
        charged it meanwhile, so nothing it did is ever overwritten. Written as ``quota + (new - expected)``,
        which is the same value under the condition and keeps the column's own type arithmetic."""
        engine = writable_engine(self.source.dsn)
        users: Table = self.source.tables["users"]
        stmt = (users.update().where(users.c.id == uid, users.c.quota == expected)
                .values(quota=users.c.quota + (new - expected)))
        try:
            async with engine.begin() as conn:
                return (await conn.execute(stmt)).rowcount == 1
        except Exception as exc:
            raise InvalidInput(f"Could not write the old quota in {self.name}: {type(exc).__name__}: {exc}",
                               f"无法写入旧系统 {self.name} 的额度：{type(exc).__name__}：{exc}") from exc
        finally:
            await engine.dispose()

    async def spent_since(self, uid: int, since_s: int) -> int | None:
        """Quota the old system's logs show charged to one user since ``since_s`` (consume rows, less New API's
        refund rows), or None when there are no logs to read."""
        logs = self.source.logs
        if logs is None:
            return None
        where = (logs.c.user_id == uid) & (logs.c.created_at >= since_s)
        rows = await self.source.execute("logs", select(logs.c.type, func.sum(logs.c.quota)).where(
            where & logs.c.type.in_([2, 6] if self.source.kind == "newapi" else [2])).group_by(logs.c.type))
        by_type = {int(t): integer(q) for t, q in rows}
        return by_type.get(2, 0) - by_type.get(6, 0)

    async def request_times(self, user_ids: list[int], since_s: int) -> list[int]:
        """Unix seconds of every consume row of these users since ``since_s`` (the residual traffic per day)."""
        logs = self.source.logs
        if logs is None or not user_ids:
            return []
        out: list[int] = []
        for i in range(0, len(user_ids), CHUNK):
            out += [integer(ts) for (ts,) in await self.source.execute("logs", select(logs.c.created_at).where(
                logs.c.user_id.in_(user_ids[i:i + CHUNK]), logs.c.created_at >= since_s, logs.c.type == 2))]
        return out

    async def log_counts(self, user_ids: list[int], since_s: int, until_s: int | None = None) -> LogCounts | None:
        """Requests (consume rows and error rows) and errors by class of these users in the old logs.

        None when there are no logs. One API logs no row for a failed request, so its figures are
        successes only (the note says so); New API's error rows need ERROR_LOG_ENABLED."""
        logs = self.source.logs
        if logs is None or not user_ids:
            return None
        total = 0
        errors: dict[str, int] = {}
        cols = [logs.c.type, logs.c.content] + ([logs.c.other] if "other" in logs.c else [])
        for i in range(0, len(user_ids), CHUNK):
            where = logs.c.user_id.in_(user_ids[i:i + CHUNK]) & (logs.c.created_at >= since_s)
            if until_s is not None:
                where = where & (logs.c.created_at < until_s)
            consume = await self.source.execute("logs", select(func.count()).select_from(logs)
                                                .where(where & (logs.c.type == 2)))
            total += int(consume[0][0] or 0)
            if self.source.kind != "newapi":
                continue
            for row in await self.source.execute("logs", select(*cols).where(where & (logs.c.type == 5))):
                other, _ = json_object(row.other) if "other" in logs.c else ({}, None)
                cls = LOG_CLASSES.get(classify_log(text(row.content), other))
                total += 1
                if cls is not None:
                    errors[cls] = errors.get(cls, 0) + 1
        note = "" if self.source.kind == "newapi" else "One API logs no failed requests: successes only"
        return LogCounts(total, errors, note)


def _fraction(raw: Any, default: Fraction) -> Fraction:
    try:
        return Fraction(Decimal(str(raw).strip()))
    except (InvalidOperation, ValueError):
        return default
