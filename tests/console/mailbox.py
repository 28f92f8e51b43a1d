"""A real SMTP server on a socket (aiosmtpd, in the test's event loop) that keeps what it receives, and a
webhook receiver (aiohttp) that keeps the raw POSTs: the portal's e-mail and notices meet real servers."""

from __future__ import annotations

import asyncio
import email
import re
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from aiohttp import web


@dataclass
class Mailbox:
    messages: list[Message] = field(default_factory=list)
    server: asyncio.AbstractServer | None = None
    port: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    async def start(self) -> Mailbox:
        from aiosmtpd.smtp import SMTP

        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: SMTP(self, hostname="mail.test"), "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def settings(self) -> dict[str, Any]:
        return {"smtp_host": "127.0.0.1", "smtp_port": self.port, "smtp_security": "none",
                "smtp_from": "AI gateway <ai@example.com>"}

    async def wait(self, count: int, seconds: float = 10.0) -> list[Message]:
        for _ in range(int(seconds * 20)):
            if len(self.messages) >= count:
                return self.messages
            await asyncio.sleep(0.05)
        raise AssertionError(f"expected {count} messages, got {len(self.messages)}")

    @staticmethod
    def text(msg: Message) -> str:
        payload = msg.get_payload(decode=True)
        assert isinstance(payload, bytes)
        return payload.decode(msg.get_content_charset() or "utf-8")

    def link(self, msg: Message, kind: str) -> str:
        found = re.search(rf"https?://\S+/portal/{kind}/\S+", self.text(msg))
        assert found, self.text(msg)
        return found.group(0)


@dataclass
class Hooks:
    """Receives webhook POSTs; ``status`` is what it answers."""

    calls: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    status: int = 200
    runner: web.AppRunner | None = None
    port: int = 0

    async def start(self) -> Hooks:
        async def hook(request: web.Request) -> web.Response:
            self.calls.append((dict(request.headers), await request.read()))
            return web.Response(status=self.status, text="ok")

        app = web.Application()
        app.router.add_post("/hook", hook)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
