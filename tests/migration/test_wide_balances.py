"""Balances of any size are imported exactly, on every database relaygate runs on (issue 12 item 7).

One API keeps quota in a BIGINT (int64); SQLite keeps a value beyond that as REAL. 2^53 + 1 units is
the first value a double cannot hold; 2^63 - 1 is the largest BIGINT; 2^63 only fits in SQLite's REAL.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from relaygate.core.settings import Settings
from relaygate.services.migration.importer import run_import
from relaygate.services.migration.plan import build_plan
from relaygate.services.migration.source import Source
from relaygate.store import tables as t
from relaygate.store.db import make_engine, upgrade
from relaygate.store.ledger_repo import check_balances
from tests.migration.conftest import Backend
from tests.migration.fixtures import ensure_database, load_tables
from tests.migration.helpers import USD
from tests.migration.schemas import newapi_logs_metadata, newapi_metadata, oneapi_logs_metadata, oneapi_metadata

QUOTAS = {1: 500_000_000_000_000, 2: 2**53 + 1, 3: 2**63 - 1, 4: -(2**63 - 1), 5: 0, 6: 2**63}


def _users(quotas: dict[int, int]) -> list[dict[str, object]]:
    return [{"id": uid, "username": f"u{uid}", "password": "x", "display_name": f"u{uid}", "role": 1, "status": 1,
              # SQLite stores an integer beyond int64 as REAL: write it the way it would be read back
              "quota": float(q) if q >= 2**63 else q, "used_quota": 0, "request_count": 0, "group": "default",
              "aff_code": f"A{uid}"} for uid, q in quotas.items()]


async def _source(tmp_path: Path, quotas: dict[int, int]) -> Path:
    src = tmp_path / "one-api.db"
    await load_tables(f"sqlite+aiosqlite:///{src}", oneapi_metadata(), {"users": _users(quotas), "options": [
        {"key": "QuotaPerUnit", "value": "500000"}]})
    await load_tables(f"sqlite+aiosqlite:///{tmp_path}/logs.db", oneapi_logs_metadata(), {})
    return src


async def _import(src: Path | str, url: str) -> dict[str, int]:
    source = await Source.open(str(src), None)
    try:
        plan = await build_plan(source, USD, [])
    finally:
        await source.close()
    engine = make_engine(url)
    try:
        await upgrade(engine)
        report = await run_import(plan, engine, Settings(database_url=url), [], apply=True)
        assert not [w for w in report.get("warnings", []) if "beyond" in w], report["warnings"]
        async with engine.connect() as conn:
            balances = {r.owner_id: r.balance for r in await conn.execute(select(t.balances))}
            assert all(c["ok"] for c in await check_balances(conn))
        return balances
    finally:
        await engine.dispose()


async def test_huge_and_negative_balances_are_imported_exactly(tmp_path: Path, backend_url: str) -> None:
    src = await _source(tmp_path, QUOTAS)
    tag = "oa"
    balances = await _import(src, backend_url)
    want = {f"own_{tag}_{uid}": USD.nanos(q) for uid, q in QUOTAS.items()}
    assert {o: b for o, b in balances.items() if o in want} == want
    assert balances[f"own_{tag}_6"] == 2**63 * 2000  # 18,446,744,073,709,551,616,000 nanos: beyond int64
    assert await _import(src, backend_url) == balances  # re-run: nothing changes, nothing twice
    src = await _source(tmp_path, {**QUOTAS, 3: 2**63 - 2})  # the old system charged one unit
    again = await _import(src, backend_url)
    assert again[f"own_{tag}_3"] == (2**63 - 2) * 2000 and again[f"own_{tag}_1"] == balances[f"own_{tag}_1"]


@pytest.mark.parametrize("kind", ["oneapi", "newapi"])
async def test_bigint_balances_from_server_sources(backend: Backend, kind: str) -> None:
    """The same from a One API or New API on PostgreSQL or MariaDB (BIGINT quota up to 2^63 - 1, and its
    negative; SQLite up to 2^63 - 1 too), into relaygate on the other engine: exact, never capped."""
    quotas = {uid: q for uid, q in QUOTAS.items() if q < 2**63}
    await ensure_database(backend.src_url)
    await ensure_database(backend.logs_url)
    meta, logs_meta = (oneapi_metadata(), oneapi_logs_metadata()) if kind == "oneapi" else (
        newapi_metadata(), newapi_logs_metadata())
    await load_tables(backend.src_url, meta, {"users": _users(quotas), "options": [
        {"key": "QuotaPerUnit", "value": "500000"}]})
    await load_tables(backend.logs_url, logs_meta, {})
    balances = await _import(backend.src_dsn, backend.dst_url)
    tag = "oa" if kind == "oneapi" else "na"
    assert {o: b for o, b in balances.items() if o.startswith(f"own_{tag}_")} == {
        f"own_{tag}_{uid}": USD.nanos(q) for uid, q in quotas.items()}
    assert balances[f"own_{tag}_3"] == (2**63 - 1) * 2000  # 18,446,744,073,709,551,614,000 nanos
