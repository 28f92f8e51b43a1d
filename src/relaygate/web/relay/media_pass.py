"""A media request bound for the old entry during a rollout (``services/media/legacy.py`` decides), read as
it is passed on: a multipart upload streams through chunk by chunk and is never held whole, a JSON body is
read whole (as small as chat's), a GET or DELETE has none. ``asgi.py`` owns the response cycle.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from relaygate.core.errors import GatewayError
from relaygate.core.settings import Settings
from relaygate.web.asgi_types import Message, Receive, Scope
from relaygate.web.relay.media import content_type_of, read_all


class PassBody:
    """The caller's body as it arrives, for the old entry: iterated once (by the HTTP client sending it on);
    ``error`` is set when it was refused here (too large), ``gone`` when the caller left mid-upload."""

    def __init__(self, receive: Receive, limit: int) -> None:
        self.receive = receive
        self.limit = limit
        self.error: GatewayError | None = None
        self.gone = False
        self._through = asyncio.Event()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = 0
        try:
            while True:
                message = await self.receive()
                if message["type"] == "http.disconnect":
                    self.gone = True
                    raise ConnectionResetError("the caller went away while uploading")
                chunk = message.get("body", b"")
                if chunk:
                    size += len(chunk)
                    if size > self.limit:
                        self.error = GatewayError("body_too_large", size=f"more than {self.limit}", limit=self.limit)
                        raise self.error
                    yield chunk
                if not message.get("more_body"):
                    return
        finally:
            self._through.set()

    async def after(self) -> Message:
        """``receive`` for the disconnect guard: only once the body is through (one reader at a time)."""
        await self._through.wait()
        if self.gone:
            return {"type": "http.disconnect"}
        return await self.receive()


async def read(scope: Scope, receive: Receive, settings: Settings) -> bytes | PassBody | None:
    """What is passed on: None (no body), the JSON body, or the multipart body as it arrives."""
    if scope["method"] in ("GET", "HEAD", "DELETE"):
        return None
    if content_type_of(scope).startswith("multipart/"):
        limit = settings.media_max_upload_bytes
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                raise GatewayError("body_too_large", size=int(value), limit=limit)
        return PassBody(receive, limit)
    return await read_all(receive, settings.max_body_bytes)
