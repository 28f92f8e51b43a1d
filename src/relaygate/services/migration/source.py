"""Reading a One API or New API database: reflect what exists, tell which it is, stream rows in chunks.

Nothing here writes: the engines are read-only (see dsn.open_engine) and every query is a SELECT.
Columns are looked up by name, so columns the importer does not know (New API adds some every few
weeks) are simply not read, and missing ones read as absent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, ColumnElement, MetaData, Table, func, inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.errors import InvalidInput
from relaygate.services.migration.dsn import mask_dsn, open_engine
from relaygate.services.migration.parse import text

TABLES = ("users", "tokens", "channels", "abilities", "options", "redemptions", "setups", "top_ups", "tasks",
          "midjourneys", "models", "vendors", "subscription_plans", "user_subscriptions", "two_fas",
          "passkey_credentials")
KINDS = ("oneapi", "newapi")
NAMES = {"oneapi": "One API", "newapi": "New API"}
# columns only New API has (a New API database upgraded from One API also keeps One API's columns)
_NA_SIGNS = (("tokens", "model_limits"), ("tokens", "allow_ips"), ("channels", "channel_info"),
             ("users", "deleted_at"), ("tokens", "deleted_at"), ("channels", "auto_ban"))
_OA_SIGNS = (("tokens", "subnet"), ("channels", "config"), ("tokens", "models"), ("channels", "system_prompt"))


@dataclass
class Source:
    """An open source database (and its logs database, which may be another one)."""

    engine: AsyncEngine
    logs_engine: AsyncEngine
    tables: dict[str, Table]
    logs: Table | None
    kind: str
    evidence: list[str]
    dsn: str
    logs_dsn: str | None
    backend: str
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return NAMES[self.kind]

    @classmethod
    async def open(cls, dsn: str, logs_dsn: str | None = None, kind: str | None = None) -> Source:
        engine = open_engine(dsn)
        logs_engine = open_engine(logs_dsn) if logs_dsn else engine
        try:
            tables = await _reflect(engine, TABLES)
            logs_tables = await _reflect(logs_engine, ("logs",))
        except Exception:
            await engine.dispose()
            if logs_engine is not engine:
                await logs_engine.dispose()
            raise
        if "tokens" not in tables or "users" not in tables or "channels" not in tables:
            await engine.dispose()
            raise InvalidInput(
                f"{mask_dsn(dsn)} has no users/tokens/channels tables: it is not a One API or New API database.",
                f"{mask_dsn(dsn)} 中没有 users/tokens/channels 表：不是 One API 或 New API 的数据库。")
        found, evidence = detect(tables, "setups" in tables, logs_tables.get("logs"))
        if kind is not None:
            if kind not in KINDS:
                raise InvalidInput(f"--from takes oneapi or newapi, not '{kind}'.",
                                   f"--from 只能是 oneapi 或 newapi，而不是 '{kind}'。")
            evidence = [f"forced with --from {kind} (the schema looks like {NAMES[found]})", *evidence]
            found = kind
        src = cls(engine, logs_engine, tables, logs_tables.get("logs"), found, evidence, dsn, logs_dsn,
                  engine.url.get_backend_name())
        if src.logs is None:
            src.notes.append("no logs table (give --logs-source when LOG_SQL_DSN pointed elsewhere): "
                             "callers and error figures are unavailable")
        return src

    async def close(self) -> None:
        if self.logs_engine is not self.engine:
            await self.logs_engine.dispose()
        await self.engine.dispose()

    # --- schema ------------------------------------------------------------------------------

    def table(self, name: str) -> Table | None:
        return self.logs if name == "logs" else self.tables.get(name)

    def has(self, table: str, column: str) -> bool:
        tbl = self.table(table)
        return tbl is not None and column in tbl.c

    def col(self, table: str, column: str) -> Any:
        tbl = self.table(table)
        assert tbl is not None
        return tbl.c[column]

    def unknown_columns(self, table: str, known: set[str]) -> list[str]:
        tbl = self.table(table)
        return [] if tbl is None else sorted(c.name for c in tbl.c if c.name not in known)

    # --- reading -----------------------------------------------------------------------------

    def _engine(self, table: str) -> AsyncEngine:
        return self.logs_engine if table == "logs" else self.engine

    async def count(self, table: str, where: ColumnElement[bool] | None = None) -> int:
        tbl = self.table(table)
        if tbl is None:
            return 0
        query = select(func.count()).select_from(tbl)
        if where is not None:
            query = query.where(where)
        async with self._engine(table).connect() as conn:
            return int((await conn.execute(query)).scalar() or 0)

    async def chunks(self, table: str, where: ColumnElement[bool] | None = None, size: int = 2000,
                     columns: list[str] | None = None) -> AsyncIterator[list[dict[str, Any]]]:
        """Rows as dicts, ``size`` at a time, in id order (keyset paging: memory stays bounded)."""
        tbl = self.table(table)
        if tbl is None:
            return
        cols = [tbl.c[c] for c in columns if c in tbl.c] if columns else list(tbl.c)
        if "id" not in tbl.c:
            async with self._engine(table).connect() as conn:
                query = select(*cols)
                if where is not None:
                    query = query.where(where)
                rows = [dict(r._mapping) for r in await conn.execute(query)]
            if rows:
                yield rows
            return
        if columns and "id" not in columns:
            cols.append(tbl.c.id)
        last: Any = None
        while True:
            query = select(*cols).order_by(tbl.c.id).limit(size)
            if last is not None:
                query = query.where(tbl.c.id > last)
            if where is not None:
                query = query.where(where)
            async with self._engine(table).connect() as conn:
                rows = [dict(r._mapping) for r in await conn.execute(query)]
            if not rows:
                return
            yield rows
            if len(rows) < size:
                return
            last = rows[-1]["id"]

    async def all_rows(self, table: str, where: ColumnElement[bool] | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        async for chunk in self.chunks(table, where):
            out.extend(chunk)
        return out

    async def options(self) -> dict[str, str]:
        """The options table as key -> value text (absent keys mean the in-code default)."""
        out: dict[str, str] = {}
        for row in await self.all_rows("options"):
            out[text(row.get("key"))] = text(row.get("value"))
        return out

    async def execute(self, table: str, query: Any) -> list[Any]:
        async with self._engine(table).connect() as conn:
            return list((await conn.execute(query)).all())


async def _reflect(engine: AsyncEngine, names: tuple[str, ...]) -> dict[str, Table]:
    """Columns of the tables that exist (one batched query per backend; indexes are not needed)."""
    def load(sync_conn: Any) -> dict[str, Table]:
        inspector = inspect(sync_conn)
        wanted = [n for n in names if n in set(inspector.get_table_names())]
        if not wanted:
            return {}
        meta = MetaData()
        out = {}
        for (_, name), cols in inspector.get_multi_columns(filter_names=wanted).items():
            out[name] = Table(name, meta, *[Column(c["name"], c["type"], primary_key=c["name"] == "id")
                                            for c in cols])
        return out

    async with engine.connect() as conn:
        return await conn.run_sync(load)


def detect(tables: dict[str, Table], has_setups: bool, logs: Table | None) -> tuple[str, list[str]]:
    """One API or New API from the columns present, with the evidence (New API keeps One API's columns)."""
    na = [f"{t}.{c}" for t, c in _NA_SIGNS if t in tables and c in tables[t].c]
    if has_setups:
        na.append("table setups")
    if logs is not None and "use_time" in logs.c:
        na.append("logs.use_time")
    oa = [f"{t}.{c}" for t, c in _OA_SIGNS if t in tables and c in tables[t].c]
    if logs is not None and "elapsed_time" in logs.c:
        oa.append("logs.elapsed_time")
    if na:
        return "newapi", [f"New API columns: {', '.join(na)}"] + (
            [f"also One API columns ({', '.join(oa)}): upgraded from One API; New API ignores them"] if oa else [])
    return "oneapi", [f"One API columns: {', '.join(oa)}" if oa else "no New API columns"]
