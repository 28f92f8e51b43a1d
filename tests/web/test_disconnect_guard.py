"""The disconnect watch (web/relay/disconnect.py) without a task of its own: it cancels the work when
the caller leaves, ends by itself once the server answers after the response, and leaves no pending
receive() behind when it is stopped first."""

from __future__ import annotations

import asyncio
from typing import Any

from relaygate.web.relay.disconnect import DisconnectGuard


class Server:
    """An ASGI receive() as uvicorn's: waits on an event, then says what happened."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.messages: list[dict[str, Any]] = []
        self.calls = 0
        self.closed = 0

    async def receive(self) -> dict[str, Any]:
        self.calls += 1
        try:
            while not self.messages:
                await self.event.wait()
                self.event.clear()
        except GeneratorExit:
            self.closed += 1
            raise
        return self.messages.pop(0)

    def say(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        self.event.set()


async def test_a_caller_leaving_cancels_the_work() -> None:
    server = Server()
    guard = DisconnectGuard(server.receive)
    started = asyncio.Event()

    async def work() -> None:
        started.set()
        await asyncio.sleep(30)

    async def request() -> None:
        await guard.run(work())

    task = asyncio.create_task(request())
    await started.wait()
    server.say({"type": "http.disconnect"})
    try:
        await asyncio.wait_for(task, 2)
        raise AssertionError("the work was not cancelled")
    except asyncio.CancelledError:
        pass
    assert guard.disconnected
    guard.stop()


async def test_the_answer_sent_ends_the_watch_without_cancelling() -> None:
    server = Server()
    guard = DisconnectGuard(server.receive)
    assert await guard.run(asyncio.sleep(0, "answer")) == "answer"
    server.say({"type": "http.disconnect"})  # what uvicorn does as the response completes
    guard.stop()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not guard.disconnected and server.closed == 0 and not server.event._waiters  # type: ignore[attr-defined]


async def test_stopped_while_waiting_leaves_nothing_pending() -> None:
    server = Server()
    guard = DisconnectGuard(server.receive)
    await guard.run(asyncio.sleep(0))
    assert server.event._waiters  # type: ignore[attr-defined]
    guard.stop()
    assert server.closed == 1 and not server.event._waiters  # type: ignore[attr-defined]


async def test_more_body_keeps_the_watch_and_finishing_is_not_a_disconnect() -> None:
    server = Server()
    guard = DisconnectGuard(server.receive)
    started = asyncio.Event()
    release = asyncio.Event()

    async def work() -> str:
        started.set()
        await release.wait()
        return "done"

    task = asyncio.create_task(guard.run(work()))
    await started.wait()
    server.say({"type": "http.request", "body": b"x", "more_body": False})
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert server.calls == 2  # watching again
    guard.finishing = True  # the last body is being sent: the server reports a disconnect now
    server.say({"type": "http.disconnect"})
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.wait_for(task, 2) == "done"
    assert not guard.disconnected
    guard.stop()
