"""What a dead gateway process left, settled at the next start: every branch, without the timing of a kill.

The kill test (test_crash.py) proves the whole path on a real process, but where its kill falls
decides which branch each cut stream takes. Here the dead process's journal is written by hand:
a stream whose hold had become a ledger row, one whose hold lived only in the dead process's
counters (killed less than a writer flush after it started), a free stream, a stream that finished
(its record journalled after its progress), and a hold row of a request the journal knows nothing of.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select

from relaygate.services.gateway.recovery import INTERRUPTED, Recovery
from relaygate.store import tables as t
from relaygate.store.db import make_engine, upgrade
from relaygate.store.holds import open_holds
from relaygate.store.ledger_repo import append_entries, check_balances
from relaygate.store.spool import Spool, unreplayed

OWNER = "own_payer"
DEAD = "deadbeef0001"


def progress(rid: str, ct: int, cost: int) -> dict[str, Any]:
    return {"p": rid, "o": OWNER, "k": "key_1", "m": "paid", "ts": 1_000, "pt": 12, "ct": ct, "cc": 0,
            "cost": cost}


def entry(rid: str | None, kind: str, amount: int, held: int, ref: str | None = None) -> dict[str, Any]:
    return {"owner_id": OWNER, "key_id": "key_1", "kind": kind, "amount": amount, "held": held,
            "request_id": rid, "model": "paid", "reason": None, "actor": "gateway", "ref": ref, "created_at": 1_000}


async def test_recovery_charges_every_cut_stream_from_its_journal_and_releases_what_was_held(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    done_record = {"request_id": "req_done", "ts": 1_000, "owner_id": OWNER, "key_id": "key_1", "status": 200,
                   "cost": 50, "prompt_tokens": 12, "completion_tokens": 20, "total_tokens": 32, "stream": True}
    lines = [
        progress("req_held", 0, 24), progress("req_unheld", 0, 24), progress("req_done", 0, 24),
        {**progress("req_free", 0, 0), "m": "free"},
        progress("req_held", 9, 96), progress("req_unheld", 4, 56), {**progress("req_free", 6, 0), "m": "free"},
        progress("req_done", 20, 50),
        {"r": done_record, "l": [entry("req_done", "release", 0, -500), entry("req_done", "settle", -50, 0)]},
    ]
    (spool_dir / f"{DEAD}.1.jsonl").write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    (spool_dir / f"{DEAD}.lock").touch()  # nobody holds its flock: the process is gone
    url = f"sqlite+aiosqlite:///{tmp_path}/relaygate.db"
    engine = make_engine(url)
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            await append_entries(conn, [
                entry(None, "topup", 10_000, 0),
                entry("req_held", "hold", 0, 500, f"instance:{DEAD}"),  # older than a writer flush: a row
                entry("req_done", "hold", 0, 500, f"instance:{DEAD}"),
                entry("req_lost", "hold", 0, 300, f"instance:{DEAD}"),  # not in the journal (segment lost)
            ])
        assert [(j.instance, j.records, j.streams) for j in unreplayed(spool_dir)] == [(DEAD, 1, 3)]

        me = Spool(spool_dir, "recoverer001")
        me.open()
        done = await Recovery(engine, me, heartbeat_seconds=60, stale_seconds=15).start()
        me.close(everything_stored=True)
        assert (done.records, done.checkpointed, done.released) == (1, 3, 1)

        async with engine.connect() as conn:
            records = {r.request_id: r for r in await conn.execute(select(t.usage_records))}
            entries: dict[str, dict[str, Any]] = {}
            for e in await conn.execute(select(t.ledger_entries).where(t.ledger_entries.c.request_id.is_not(None))):
                entries.setdefault(e.request_id, {})[e.kind] = e
            assert await open_holds(conn) == []
            assert all(c["ok"] for c in await check_balances(conn))
            balance = (await conn.execute(select(t.balances.c.balance))).scalar()

        held, unheld, free = records["req_held"], records["req_unheld"], records["req_free"]
        for rec, ct, cost in ((held, 9, 96), (unheld, 4, 56), (free, 6, 0)):  # the last line of each
            assert rec.error_code == INTERRUPTED and rec.estimated and rec.status == 502
            assert (rec.prompt_tokens, rec.completion_tokens, rec.cost) == (12, ct, cost)
        # its hold was a row: released, with the reason; then charged what its last line says
        release = entries["req_held"]["release"]
        assert release.held == -500 and "last checkpoint" in release.reason
        assert entries["req_held"]["settle"].amount == -96
        # its hold never reached the ledger (it lived in the dead process's counters): charged, nothing released
        assert set(entries["req_unheld"]) == {"settle"} and entries["req_unheld"]["settle"].amount == -56
        assert "req_free" not in entries  # a free stream: a record, no money
        # the stream that finished: its own record and entries, not a checkpoint's
        assert records["req_done"].error_code is None and records["req_done"].cost == 50
        assert entries["req_done"]["settle"].amount == -50
        # a hold the journal does not know: released, nothing charged, a record saying so
        assert set(entries["req_lost"]) == {"hold", "release"} and records["req_lost"].cost == 0
        assert balance == 10_000 - 96 - 56 - 50
        assert unreplayed(spool_dir) == [] and not list(spool_dir.glob(f"{DEAD}.*"))
    finally:
        await engine.dispose()


def test_a_journal_is_not_reported_while_its_process_runs(tmp_path: Path) -> None:
    (tmp_path / "live.1.jsonl").write_bytes(orjson.dumps(progress("req_x", 1, 1)) + b"\n")
    fd = os.open(tmp_path / "live.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # the process is alive
        assert unreplayed(tmp_path) == []
    finally:
        os.close(fd)
    assert [(j.instance, j.streams) for j in unreplayed(tmp_path)] == [("live", 1)]
