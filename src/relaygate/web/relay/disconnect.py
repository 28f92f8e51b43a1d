"""Noticing that a caller went away: the work in progress is cancelled, so the upstream call is cancelled too."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from relaygate.web.asgi_types import Receive


class DisconnectGuard:
    """Cancels the work in progress when the caller goes away, so the upstream call is cancelled too."""

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.disconnected = False
        self.finishing = False
        self._watcher: asyncio.Task[None] | None = None
        self._target: asyncio.Task[Any] | None = None

    async def run(self, coro: Awaitable[Any]) -> Any:
        self._target = asyncio.current_task()
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._watch())
        try:
            return await coro
        finally:
            self._target = None

    async def _watch(self) -> None:
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                target = self._target
                if target is not None and not self.finishing:
                    self.disconnected = True
                    target.cancel()
                return

    def stop(self) -> None:
        if self._watcher is not None and not self._watcher.done():
            self._watcher.cancel()
        self._watcher = None
