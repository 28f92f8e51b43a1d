"""An inventory of the old system taken by the gateway itself (the console's button), with progress.

The old database is the one relaygate already knows (``rollout.batches.Planner.old_database``). The
run is the same ``inspect_source`` as ``migrate inspect``; it reads only, goes on in the background
while the page polls its progress, and its result is appended as the newest ``inventory`` document.
One run at a time per process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.errors import InvalidInput
from relaygate.core.settings import Settings
from relaygate.services.migration import documents

log = logging.getLogger("relaygate.migration.inventory")


@dataclass
class Step:
    name: str
    total: int | None = None
    done: int = 0


@dataclass
class InventoryRun:
    """What the page shows while a run goes on and after it ended."""

    actor: str = ""
    started: float = 0.0
    ended: float = 0.0
    running: bool = False
    steps: list[Step] = field(default_factory=list)
    error: tuple[str, str] | None = None  # (en, zh)
    document_id: int | None = None

    # the Progress protocol of services/migration/progress.py
    def start(self, step: str, total: int | None = None) -> None:
        self.steps.append(Step(step, total))

    def advance(self, n: int = 1) -> None:
        if self.steps:
            self.steps[-1].done += n

    def finish(self) -> None:
        if self.steps:
            step = self.steps[-1]
            step.total = step.done

    def view(self) -> dict[str, Any]:
        until = self.ended if not self.running else time.monotonic()
        return {"running": self.running, "actor": self.actor, "seconds": round(until - self.started, 1)
                if self.started else 0, "steps": [{"name": s.name, "done": s.done, "total": s.total,
                                                   "percent": round(100 * s.done / s.total) if s.total else None}
                                                  for s in self.steps],
                "error": self.error, "document_id": self.document_id}


class InventoryJobs:
    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.current: InventoryRun | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self, actor: str, dsn: str, logs_dsn: str | None, days: int = 30) -> InventoryRun:
        """Start reading ``dsn`` (``Planner.old_database`` says which) in the background."""
        if self.current is not None and self.current.running:
            raise InvalidInput("An inventory is being taken already; wait for it to finish.",
                               "盘点正在进行中，请等待其完成。", status=409)
        run = InventoryRun(actor=actor, started=time.monotonic(), running=True)
        self.current = run
        self.task = asyncio.create_task(self._run(run, dsn, logs_dsn, days), name="migration-inventory")
        return run

    async def _run(self, run: InventoryRun, dsn: str, logs_dsn: str | None, days: int) -> None:
        from relaygate.services.migration.inventory import inspect_source
        from relaygate.services.migration.source import Source
        from relaygate.services.migration.units import Units

        units = Units(Fraction(500000), Fraction(self.settings.usd_rate), self.settings.currency)
        try:
            src = await Source.open(dsn, logs_dsn)
            try:
                inv = await inspect_source(src, units, days=days, limit=200, progress=run)
            finally:
                await src.close()
            run.document_id = await documents.record(self.engine, "inventory", inv, run.actor)
        except InvalidInput as exc:
            run.error = (exc.message("en"), exc.message("zh-CN"))
        except Exception as exc:  # a broken old database must end the run with a message, not kill the page
            log.warning("inventory run failed: %s: %s", type(exc).__name__, exc)
            why = f"{type(exc).__name__}: {str(exc)[:300]}"
            run.error = (f"The inventory failed: {why}", f"盘点失败：{why}")
        finally:
            run.ended = time.monotonic()
            run.running = False
