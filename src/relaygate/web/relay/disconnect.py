"""Noticing that a caller went away: the work in progress is cancelled, so the upstream call is cancelled too.

The watch is one pending ``receive()`` of the ASGI server, stepped by the callbacks of the future it
waits on, not a task of its own: no task per request, no context copy, no extra loop step to start it.
When the response has gone, the server answers that pending ``receive()`` with ``http.disconnect``
(uvicorn wakes it as the response completes), so the watch ends by itself without an exception; only
a watch still waiting when the guard stops is closed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Coroutine
from typing import Any

from relaygate.web.asgi_types import Receive

log = logging.getLogger("relaygate.web")


class DisconnectGuard:
    """Cancels the work in progress when the caller goes away, so the upstream call is cancelled too."""

    __slots__ = ("_pending", "_stopped", "_target", "_waiting", "disconnected", "finishing", "receive")

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.disconnected = False
        self.finishing = False
        self._pending: Coroutine[Any, Any, Any] | None = None  # the receive() being watched
        self._waiting: asyncio.Future[Any] | None = None  # what it waits on
        self._target: asyncio.Task[Any] | None = None
        self._stopped = False

    async def run(self, coro: Awaitable[Any]) -> Any:
        self._target = asyncio.current_task()
        if self._pending is None and self._waiting is None:
            self._pending = self.receive()  # type: ignore[assignment]
            self._step(None)
        try:
            return await coro
        finally:
            self._target = None

    def _step(self, _done: object) -> None:
        """Runs the watched receive() on to its next wait (as a task would), or takes its message."""
        self._waiting = None
        coro = self._pending
        if coro is None:
            return
        try:
            yielded = coro.send(None)
        except StopIteration as stop:
            self._pending = None
            self._message(stop.value)
            return
        except BaseException:  # the server's receive failed: nothing more to watch
            self._pending = None
            log.debug("disconnect watch ended", exc_info=True)
            return
        if getattr(yielded, "_asyncio_future_blocking", None):
            yielded._asyncio_future_blocking = False
            self._waiting = yielded
            yielded.add_done_callback(self._step)
        else:  # a bare yield (asyncio.sleep(0)): go on at the loop's next turn
            asyncio.get_running_loop().call_soon(self._step, None)

    def _message(self, message: Any) -> None:
        if isinstance(message, dict) and message.get("type") == "http.disconnect":
            target = self._target
            if target is not None and not self.finishing:
                self.disconnected = True
                target.cancel()
            return
        if self._stopped:
            return
        # any other message (more body the caller should not have sent): keep watching
        self._pending = self.receive()  # type: ignore[assignment]
        self._step(None)

    def stop(self) -> None:
        """Ends the watch: left to finish when the server has already answered it, else closed now."""
        self._stopped = True
        waiting = self._waiting
        if waiting is not None and waiting.done():
            return  # its callback runs at the loop's next turn and takes the server's http.disconnect
        coro = self._pending
        self._pending = None
        self._waiting = None
        if waiting is not None:
            waiting.remove_done_callback(self._step)
        if coro is not None:
            coro.close()
