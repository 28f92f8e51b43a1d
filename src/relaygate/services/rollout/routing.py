"""Per-request routing during a rollout: a dictionary lookup on an in-memory table, rebuilt on change."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.domain import KeyRecord
from relaygate.services.gateway.exchange import Exchange, Inbound, LegacyTarget, Outcome, Pipeline
from relaygate.services.rollout import repo
from relaygate.services.rollout.legacy import forward_legacy, forward_stream
from relaygate.services.rollout.model import IMPORTED_SOURCES

log = logging.getLogger("relaygate.rollout")
UNASSIGNED = "unassigned"  # imported keys of owners no batch has taken yet
UNKNOWN = "unknown keys"  # keys relaygate does not know (created in the old system after the import)


@dataclass(frozen=True, slots=True)
class Table:
    """Who goes where. Owners in a switched, observing or completed batch are native; every other owner
    with keys the old system knows goes to the old entry (labelled with the batch that will take it)."""

    native: frozenset[str] = frozenset()
    targets: dict[str, LegacyTarget] = field(default_factory=dict)  # owner -> target labelled with its batch
    default: LegacyTarget | None = None  # imported keys of owners in no batch yet
    unknown: LegacyTarget | None = None  # keys relaygate does not know; None: answer 401 here


class RolloutRouting:
    """The ``OldEntry`` the relay asks on every request; ``reload`` swaps the table in one assignment."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.table = Table()
        self.version: str | None = None

    def legacy_target(self, key: KeyRecord | None) -> LegacyTarget | None:
        table = self.table
        if key is None:
            return table.unknown
        if table.default is None or key.source not in IMPORTED_SOURCES or key.owner_id in table.native:
            return None
        return table.targets.get(key.owner_id, table.default)

    async def forward(self, relay: Pipeline, inbound: Inbound, ex: Exchange, target: LegacyTarget) -> Outcome:
        return await forward_legacy(relay, inbound, ex, target)

    def old_entry(self, key: KeyRecord) -> LegacyTarget | None:
        table = self.table
        if table.default is None or key.source not in IMPORTED_SOURCES:
            return None
        return table.targets.get(key.owner_id, table.default)

    async def forward_stream(self, relay: Pipeline, inbound: Inbound, ex: Exchange, target: LegacyTarget,
                             method: str, body: bytes | AsyncIterable[bytes] | None) -> Outcome:
        return await forward_stream(relay, inbound, ex, target, method, body)

    async def reload(self) -> None:
        async with self.engine.connect() as conn:
            ver = await repo.version(conn)
            settings = await repo.read_settings(conn)
            batches = await repo.load_batches(conn)
            owners = await repo.eligible_owners(conn) if settings.active else {}
        self.version = ver
        if not settings.active or settings.base_url is None:
            self.table = Table()
            return
        base = settings.base_url
        members = repo.assign(batches, owners)
        targets: dict[str, LegacyTarget] = {}
        for b in batches:
            label = LegacyTarget(base, b.name)
            for owner_id in members.get(b.id, ()):
                targets[owner_id] = label
        self.table = Table(repo.native_owners(batches), targets, LegacyTarget(base, UNASSIGNED),
                           LegacyTarget(base, UNKNOWN) if settings.unknown_keys == "legacy" else None)

    async def refresh_if_changed(self) -> bool:
        async with self.engine.connect() as conn:
            ver = await repo.version(conn)
        if ver == self.version:
            return False
        await self.reload()
        log.info("rollout routing reloaded (version %s): %d owner(s) native", ver, len(self.table.native))
        return True
