"""Supervised background tasks: named, restarted with back-off when they crash, drained on stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("relaygate.tasks")


class Supervisor:
    """Owns every long-running task of a process; nothing is fire-and-forget."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False

    def start(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        if name in self._tasks:
            raise ValueError(f"task {name} already running")
        self._tasks[name] = asyncio.create_task(self._run(name, factory), name=name)

    async def _run(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        delay = 0.5
        while not self._stopping:
            try:
                await factory()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background task %s crashed; restarting in %.1fs", name, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    @property
    def names(self) -> list[str]:
        return sorted(self._tasks)

    async def stop(self, drains: list[Callable[[], Awaitable[None]]] | None = None) -> None:
        """Cancel the loops, then run the drain callbacks (flush what is buffered)."""
        self._stopping = True
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for drain in drains or []:
            try:
                await drain()
            except Exception:
                log.exception("drain step failed")
