"""Test a channel: one minimal chat request per served model, with status, latency and the answer or error.

The console's Test button and `relaygate channels test` both call ``ChannelTester``. A test is an
operator's action, not traffic: it is neither billed nor recorded as usage, and it does not change
the channel's health (the prober owns that).
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.domain import ChannelRecord
from relaygate.core.errors import InvalidInput
from relaygate.core.redact import redact
from relaygate.providers.base import Provider, provider_for
from relaygate.services.gateway.translate import Dialects
from relaygate.store import tables as t
from relaygate.store.repo import channel_from_row

PROMPT = "Say OK."


class ChannelTester:
    def __init__(self, engine: AsyncEngine, providers: dict[str, Provider]) -> None:
        self.engine = engine
        self.providers = providers
        self.dialects = Dialects()

    async def _channels(self, ident: str | None) -> list[ChannelRecord]:
        C = t.channels
        query = select(C).order_by(C.c.id)
        if ident is not None:
            cond = C.c.name == ident
            if ident.isdigit():
                cond = cond | (C.c.id == int(ident))
            query = query.where(cond)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        if ident is not None and not rows:
            raise InvalidInput(f"No channel '{ident}'.", f"找不到渠道 '{ident}'。", status=404)
        return [channel_from_row(r) for r in rows]

    async def test(self, ident: str | None = None, model: str | None = None,
                   session: aiohttp.ClientSession | None = None) -> list[dict[str, Any]]:
        """Results for one channel (id or name) or, with None, every channel; one row per served model."""
        own = session is None
        session = session or aiohttp.ClientSession(auto_decompress=True, cookie_jar=aiohttp.DummyCookieJar())
        try:
            results = []
            for channel in await self._channels(ident):
                models = [model] if model else sorted(channel.models)
                for public in models:
                    if public not in channel.models:
                        raise InvalidInput(f"Channel '{channel.name}' does not serve '{public}'.",
                                           f"渠道 '{channel.name}' 不提供模型 '{public}'。")
                    results.append(await self._one(session, channel, public))
            return results
        finally:
            if own:
                await session.close()

    async def _one(self, session: aiohttp.ClientSession, channel: ChannelRecord, public: str) -> dict[str, Any]:
        upstream_model = channel.models[public] or public
        out: dict[str, Any] = {"channel_id": channel.id, "channel": channel.name, "model": public,
                               "upstream_model": upstream_model, "ok": False, "status": None, "latency_ms": None,
                               "answer": None, "error": None}
        provider = provider_for(self.providers.get(channel.protocol), upstream_model)
        if provider is None or not channel.secrets:
            out["error"] = "no provider for this protocol" if provider is None else "the channel has no secret"
            return out
        dialect = self.dialects.get(provider.dialect)
        chat = {"model": upstream_model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 16,
                "stream": False}
        body = orjson.dumps(dialect.request_from_chat(chat))
        timeout = aiohttp.ClientTimeout(total=min(channel.total_timeout, 30.0), sock_connect=channel.connect_timeout)
        start = time.perf_counter()
        try:
            secret = channel.secrets[0]
            prepare = getattr(provider, "prepare", None)  # Vertex AI: the key's access token
            if prepare is not None:
                secret = await prepare(session, channel, secret)
            req = provider.build(channel, secret, "chat", body, upstream_model, False, {})
            async with session.request(req.method, req.url, headers=req.headers, data=req.body,
                                       timeout=timeout) as resp:
                raw = await resp.read()
                out["status"] = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            out["error"] = f"{type(exc).__name__}: could not reach the upstream"
            out["latency_ms"] = round((time.perf_counter() - start) * 1000)
            return out
        except ValueError as exc:  # a key the token exchange refused
            out["error"] = _clean(f"no access token: {exc}", channel.secrets)
            out["latency_ms"] = round((time.perf_counter() - start) * 1000)
            return out
        out["latency_ms"] = round((time.perf_counter() - start) * 1000)
        secrets = channel.secrets
        if out["status"] >= 400:
            out["error"] = _clean(provider.error_detail(raw) or raw[:300].decode("utf-8", "replace"), secrets)
            return out
        try:
            answer = dialect.response_to_chat(orjson.loads(raw))
            text = answer["choices"][0]["message"].get("content") or ""
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
            out["error"] = "the upstream answered 2xx with a body that is not a chat answer"
            return out
        out["ok"] = True
        out["answer"] = _clean(str(text)[:300], secrets)
        return out


def _clean(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[secret]")
    return redact(text)
