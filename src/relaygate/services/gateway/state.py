"""Keeps each worker's snapshot in step with the database: polls a version stamp, reloads on change."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.services.gateway.catalog import Snapshot
from relaygate.services.gateway.health import HealthBoard
from relaygate.store.db import get_meta
from relaygate.store.repo import load_state

log = logging.getLogger("relaygate.state")


class GatewayState:
    """Holds the current immutable snapshot; swapping it is one assignment, so readers never lock."""

    def __init__(self, engine: AsyncEngine, health: HealthBoard, poll_seconds: float) -> None:
        self.engine = engine
        self.health = health
        self.poll_seconds = poll_seconds
        self.snapshot = Snapshot.empty()
        self.version: str | None = None
        self.loaded_at = 0.0
        self.listeners: list[Callable[[], Awaitable[None]]] = []  # run after every reload, whoever caused it

    async def reload(self) -> None:
        async with self.engine.connect() as conn:
            version = await get_meta(conn, "config_version")
            rows = await load_state(conn)
        self.snapshot = Snapshot.build(rows)
        self.version = version
        self.loaded_at = asyncio.get_running_loop().time()
        self.health.forget_missing(set(self.snapshot.channels))
        for listener in self.listeners:
            try:
                await listener()
            except Exception as exc:
                log.warning("a reload listener failed: %s", type(exc).__name__)

    async def refresh_if_changed(self) -> bool:
        async with self.engine.connect() as conn:
            version = await get_meta(conn, "config_version")
        if version != self.version:
            await self.reload()
            return True
        return False

    async def run(self) -> None:
        """Supervised loop: check for changes every ``poll_seconds`` (listeners run on each reload)."""
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                if await self.refresh_if_changed():
                    log.info("configuration reloaded (version %s)", self.version)
            except Exception as exc:  # the DB may be briefly away; keep serving the last snapshot
                log.warning("could not check configuration version: %s", type(exc).__name__)
