"""Rollout rows: settings, batches with their members, transitions, and who belongs to which batch."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from relaygate.core.clock import now_ms
from relaygate.core.errors import InvalidInput
from relaygate.services.rollout.model import IMPORTED_SOURCES, Batch, Member, OwnerFacts
from relaygate.store import tables as t
from relaygate.store.db import get_meta, set_meta

VERSION_KEY = "rollout_version"


@dataclass(frozen=True, slots=True)
class LegacySettings:
    base_url: str | None
    unknown_keys: str
    source_dsn: str | None
    logs_dsn: str | None
    write_old: bool
    guard_seconds: float
    updated_by: str | None
    updated_at: int | None

    @property
    def active(self) -> bool:
        return bool(self.base_url)

    def view(self) -> dict[str, Any]:
        from relaygate.services.migration.dsn import mask_dsn

        return {"base_url": self.base_url, "active": self.active, "unknown_keys": self.unknown_keys,
                "source": mask_dsn(self.source_dsn) if self.source_dsn else None,
                "logs_source": mask_dsn(self.logs_dsn) if self.logs_dsn else None, "write_old": self.write_old,
                "guard_seconds": self.guard_seconds, "updated_by": self.updated_by, "updated_at": self.updated_at}


NO_SETTINGS = LegacySettings(None, "legacy", None, None, False, 30.0, None, None)


async def read_settings(conn: AsyncConnection) -> LegacySettings:
    row = (await conn.execute(select(t.rollout_settings).where(t.rollout_settings.c.id == 1))).first()
    if row is None:
        return NO_SETTINGS
    return LegacySettings(row.base_url, row.unknown_keys, row.source_dsn, row.logs_dsn, bool(row.write_old),
                          float(row.guard_seconds), row.updated_by, row.updated_at)


async def write_settings(conn: AsyncConnection, values: dict[str, Any]) -> None:
    values = {**values, "updated_at": now_ms()}
    if (await conn.execute(t.rollout_settings.update().where(t.rollout_settings.c.id == 1).values(**values))
            ).rowcount == 0:
        base = {"unknown_keys": "legacy", "write_old": False, "guard_seconds": 30.0}
        await conn.execute(t.rollout_settings.insert().values(id=1, **{**base, **values}))


async def bump(conn: AsyncConnection) -> None:
    """Every rollout write calls this in its transaction; every worker reloads its routing within a poll."""
    await set_meta(conn, VERSION_KEY, f"{now_ms()}-{secrets.token_hex(4)}")


async def version(conn: AsyncConnection) -> str | None:
    return await get_meta(conn, VERSION_KEY)


async def load_batches(conn: AsyncConnection) -> list[Batch]:
    """Every batch in position order, with its frozen members."""
    batches = [Batch.from_row(r) for r in await conn.execute(
        select(t.rollout_batches).order_by(t.rollout_batches.c.position, t.rollout_batches.c.id))]
    members: dict[int, dict[str, Member]] = {}
    M = t.rollout_members
    for r in await conn.execute(select(M.c.owner_id, M.c.batch_id, M.c.route, M.c.step, M.c.failure,
                                       M.c.updated_at)):
        members.setdefault(r.batch_id, {})[r.owner_id] = Member(r.route, r.step, r.failure, r.updated_at)
    for b in batches:
        b.member_rows = members.get(b.id, {})
        b.members = frozenset(b.member_rows)
    return batches


async def get_batch(conn: AsyncConnection, ident: str | int) -> Batch:
    for b in await load_batches(conn):
        if str(b.id) == str(ident) or b.name == ident:
            return b
    raise InvalidInput(f"No rollout batch '{ident}' (see relaygate rollout status).",
                       f"找不到灰度批次 '{ident}'（见 relaygate rollout status）。", status=404)


async def add_transition(conn: AsyncConnection, batch: Batch, to_state: str, actor: str, reason: str,
                         detail: dict[str, Any] | None = None, from_state: str | None = "same") -> None:
    await conn.execute(t.rollout_transitions.insert().values(
        batch_id=batch.id, from_state=batch.state if from_state == "same" else from_state, to_state=to_state,
        actor=actor[:128], reason=reason, detail=detail, created_at=now_ms()))


async def eligible_owners(conn: AsyncConnection) -> dict[str, OwnerFacts]:
    """Owners with at least one key the old system knows (imported with the same secret)."""
    keys: dict[str, tuple[set[str], set[str]]] = {}
    for owner_id, key_id, env in await conn.execute(
            select(t.api_keys.c.owner_id, t.api_keys.c.id, t.api_keys.c.environment)
            .where(t.api_keys.c.source.in_(sorted(IMPORTED_SOURCES)))):
        ids, envs = keys.setdefault(owner_id, (set(), set()))
        ids.add(key_id)
        envs.add(env)
    names = dict((await conn.execute(select(t.owners.c.id, t.owners.c.name))).all()) if keys else {}
    return {oid: OwnerFacts(oid, names.get(oid, oid), frozenset(ids), frozenset(envs))
            for oid, (ids, envs) in keys.items()}


def assign(batches: list[Batch], owners: dict[str, OwnerFacts]) -> dict[int, frozenset[str]]:
    """Members per batch: frozen members stay; otherwise the first batch (by position) whose selector
    matches takes an owner. Planned batches are previews until their first switch freezes them."""
    claimed: set[str] = set()
    for b in batches:
        claimed |= b.members
    out: dict[int, frozenset[str]] = {}
    for b in batches:
        if b.members or b.state != "planned":
            out[b.id] = b.members
            continue
        mine = frozenset(o.id for o in owners.values() if o.id not in claimed and b.selector.matches(o))
        claimed |= mine
        out[b.id] = mine
    return out


def native_owners(batches: list[Batch]) -> frozenset[str]:
    """Owners served natively: each one moved with its own hand-over (``rollout_members.route``), so an owner
    whose move failed stays on the old entry even when its batch is switched."""
    return frozenset(o for b in batches for o, m in b.member_rows.items() if m.route == "native")


async def set_member(conn: AsyncConnection, owner_id: str, route: str | None = None, step: str | None = None,
                     failure: str | None = None) -> None:
    """Record an owner's move (route and step) or clear/set its failure, in the caller's transaction."""
    values: dict[str, Any] = {"failure": failure[:2000] if failure else None, "updated_at": now_ms()}
    if route is not None:
        values["route"] = route
    if step is not None:
        values["step"] = step
    await conn.execute(t.rollout_members.update().where(t.rollout_members.c.owner_id == owner_id).values(**values))
    if route is not None:  # every worker reloads its routing: this owner is served elsewhere now
        await bump(conn)
