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
