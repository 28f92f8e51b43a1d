"""A fake old gateway that authenticates and bills like One API, on a real One API database.

It answers like the fake upstream (same texts, streams) but first looks the key up in ``tokens``
(without ``sk-``), refuses an unknown key (401 无效的令牌) or an empty user quota (403
insufficient_user_quota), and after a successful answer charges ``prompt + completion`` quota
units (model ratio 1) to ``users.quota`` and ``tokens.used_quota`` with a consume log row, as
One API does. Media routes (images, audio, video tasks, as the fake upstream serves them) are authenticated
the same way; each accepted submit (a POST) is billed ``MEDIA_QUOTA`` units, polls and downloads are free.
Per-key counters (quota billed, calls, media calls, the client's call markers) can be read back.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from relaygate.fakeupstream import FakeUpstream
from relaygate.fakeupstream.server import _prompt_tokens, _text_of, answer_for, count_tokens

OLD_TOKEN: web.RequestKey[tuple[Any, ...]] = web.RequestKey("old_token", tuple)
MEDIA_PATHS = ("/v1/images/", "/v1/audio/", "/v1/videos", "/kling/", "/mj/")
MEDIA_QUOTA = 10_000  # quota units an accepted media submit costs here ($0.02 at 500,000 a dollar)


@dataclass
class Counter:
    quota: int = 0
    calls: int = 0
    media: list[str] = field(default_factory=list)  # "METHOD path" of each media request served
    markers: list[str] = field(default_factory=list)


class OldGateway(FakeUpstream):
    def __init__(self, db_url: str, logs_url: str) -> None:
        super().__init__()
        self.db = create_async_engine(db_url, connect_args={"timeout": 30})
        self.logs = create_async_engine(logs_url, connect_args={"timeout": 30})
        self.counters: dict[str, Counter] = defaultdict(Counter)  # by key (without sk-)
        self.refused: list[tuple[int, str]] = []
        self.app.middlewares.append(self._media_gate)

    @web.middleware
    async def _media_gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith(MEDIA_PATHS):
            return await handler(request)
        key = request.headers.get("Authorization", "")[7:].strip().removeprefix("sk-")
        async with self.db.connect() as conn:
            row = (await conn.execute(text(
                "SELECT t.id, t.user_id, u.quota FROM tokens t JOIN users u ON u.id = t.user_id "
                "WHERE t.key = :k AND t.status = 1"), {"k": key})).first()
        if row is None:
            self.refused.append((401, request.path))
            return web.json_response({"error": {"message": "无效的令牌", "type": "one_api_error"}}, status=401)
        if request.method == "POST" and row.quota <= 0:
            return web.json_response({"error": {"message": "user quota is not enough", "type": "one_api_error",
                                                "code": "insufficient_user_quota"}}, status=403)
        resp = await handler(request)
        self.counters[key].media.append(f"{request.method} {request.path}")
        if request.method == "POST" and resp.status < 400:
            async with self.db.begin() as conn:
                await conn.execute(text("UPDATE users SET quota = quota - :q, used_quota = used_quota + :q "
                                        "WHERE id = :u"), {"q": MEDIA_QUOTA, "u": row.user_id})
                await conn.execute(text("UPDATE tokens SET used_quota = used_quota + :q WHERE id = :t"),
                                   {"q": MEDIA_QUOTA, "t": row.id})
        return resp

    async def stop(self) -> None:
        await super().stop()
        await self.db.dispose()
        await self.logs.dispose()

    async def begin(self, request: web.Request, auth: tuple[str, ...] = (),
                    model: str | None = None) -> tuple[dict[str, Any], dict[str, Any]] | web.Response:
        begun = await super().begin(request, auth, model)
        if isinstance(begun, web.Response):
            return begun
        body, behavior = begun
        key = request.headers.get("Authorization", "")[7:].strip().removeprefix("sk-")
        async with self.db.connect() as conn:
            row = (await conn.execute(text(
                "SELECT t.id, t.user_id, t.name, u.quota, u.username FROM tokens t JOIN users u ON u.id = t.user_id "
                "WHERE t.key = :k AND t.status = 1"), {"k": key})).first()
        marker = _text_of(body)
        if row is None:
            self.refused.append((401, marker))
            return web.json_response({"error": {"message": "无效的令牌", "type": "one_api_error"}}, status=401)
        if row.quota <= 0:
            self.refused.append((403, marker))
            return web.json_response({"error": {"message": "user quota is not enough", "type": "one_api_error",
                                                "code": "insufficient_user_quota"}}, status=403)
        request[OLD_TOKEN] = (row.id, row.user_id, row.name, row.username, key, body)
        return body, behavior

    async def chat(self, request: web.Request) -> web.StreamResponse:
        resp = await super().chat(request)
        if resp.status < 400 and OLD_TOKEN in request:
            await self._bill(*request[OLD_TOKEN])
        return resp

    async def _bill(self, token_id: int, user_id: int, token_name: str, username: str, key: str,
                    body: dict[str, Any]) -> None:
        prompt, completion = _prompt_tokens(body), count_tokens(answer_for(body))
        quota = prompt + completion  # model ratio 1, completion ratio 1, group ratio 1
        async with self.db.begin() as conn:
            await conn.execute(text("UPDATE users SET quota = quota - :q, used_quota = used_quota + :q, "
                                    "request_count = request_count + 1 WHERE id = :u"), {"q": quota, "u": user_id})
            await conn.execute(text("UPDATE tokens SET used_quota = used_quota + :q WHERE id = :t"),
                               {"q": quota, "t": token_id})
        async with self.logs.begin() as conn:
            await conn.execute(text(
                "INSERT INTO logs (user_id, created_at, type, content, username, token_name, model_name, quota, "
                "prompt_tokens, completion_tokens, channel_id, request_id, elapsed_time, is_stream) VALUES "
                "(:u, strftime('%s','now'), 2, '倍率：1.00 × 1.00 × 1.00', :n, :tn, :m, :q, :p, :c, 1, '', 5, :s)"),
                {"u": user_id, "n": username, "tn": token_name, "m": str(body.get("model")), "q": quota, "p": prompt,
                 "c": completion, "s": bool(body.get("stream"))})
        counter = self.counters[key]
        counter.quota += quota
        counter.calls += 1
        counter.markers.append(_text_of(body))
