"""Shared steps of the migration tests: build a source, make its plan, import it into relaygate."""

from __future__ import annotations

import time
from fractions import Fraction
from typing import Any

from relaygate.core.settings import Settings
from relaygate.services.migration.plan import build_plan
from relaygate.services.migration.source import Source
from relaygate.services.migration.units import Units
from relaygate.store.db import make_engine, upgrade
from tests.migration.conftest import Backend
from tests.migration.fixtures import Facts, build_source

USD = Units(Fraction(500_000), Fraction(1))


async def source_and_plan(backend: Backend, kind: str, openai_base: str = "",
                          now: int | None = None, protocols: list[str] | None = None) -> tuple[Facts, dict[str, Any]]:
    facts = await build_source(backend.src_url, backend.logs_url, kind, now or int(time.time()), openai_base)
    src = await Source.open(backend.src_dsn, backend.logs_dsn)
    try:
        plan = await build_plan(src, USD, protocols or ["openai"])
    finally:
        await src.close()
    return facts, plan


async def import_plan(backend: Backend, plan: dict[str, Any], apply: bool = True) -> dict[str, Any]:
    from relaygate.services.migration.importer import run_import

    engine = make_engine(backend.dst_url)
    try:
        await upgrade(engine)
        return await run_import(plan, engine, Settings(database_url=backend.dst_url), ["openai"], apply=apply)
    finally:
        await engine.dispose()


def counts(report: dict[str, Any], kind: str) -> tuple[int, int, int, int]:
    c = report["changes"].get(kind, {"create": 0, "update": 0, "unchanged": 0, "skip": 0})
    return c["create"], c["update"], c["unchanged"], c["skip"]


ASK = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 20}


def client(base_url: str, key: str) -> Any:
    import openai

    return openai.AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0)


async def refused(base_url: str, key: str, model: str = "gpt-4o-mini") -> tuple[int, str, str]:
    """(status, code, message) of a refusal, through the official openai SDK; plain HTTP must get the same
    status and code (the two clients the old systems' callers use)."""
    import aiohttp
    import openai

    try:
        await client(base_url, key).chat.completions.create(model=model, **ASK)
    except openai.APIStatusError as exc:
        body = exc.body if isinstance(exc.body, dict) else {}
        got = exc.status_code, str(body.get("code")), str(body.get("message"))
    else:
        raise AssertionError(f"{key[:8]}… on {model} was not refused")
    async with aiohttp.ClientSession() as s, s.post(f"{base_url}/chat/completions", json={"model": model, **ASK},
                                                    headers={"Authorization": f"Bearer {key}"}) as resp:
        plain = resp.status, str((await resp.json())["error"].get("code"))
    assert plain == got[:2], (model, plain, got)
    return got
