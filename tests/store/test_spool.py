"""The usage spool on its own: lines, segments deleted only when stored, orphans of dead processes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from relaygate.store import spool as spool_mod
from relaygate.store.spool import Spool, instance_alive_here, read_lines


def rec(i: int) -> dict[str, object]:
    return {"request_id": f"req_{i}", "cost": i}


def test_lines_survive_and_a_torn_line_is_skipped(tmp_path: Path) -> None:
    s = Spool(tmp_path, "aaa")
    s.open()
    s.append(rec(1), [{"kind": "settle", "request_id": "req_1", "amount": -1}])
    s.append(rec(2), None)
    seg = next(tmp_path.glob("aaa.*.jsonl"))
    with seg.open("ab") as fh:
        fh.write(b'{"r": {"request_id": "req_3", "co')  # a crash in the middle of a write
    lines = read_lines(seg)
    assert [line["r"]["request_id"] for line in lines] == ["req_1", "req_2"]
    assert lines[0]["l"][0]["kind"] == "settle" and "l" not in lines[1]


def test_a_segment_is_deleted_only_once_its_records_and_entries_are_stored(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spool_mod, "ROTATE_SECONDS", 0.0)
    s = Spool(tmp_path, "bbb")
    s.open()
    s.append(rec(1), [{"kind": "settle"}])
    s.append(rec(2), [{"kind": "settle"}])
    s.rotate_if_due(ledger_taken=2)
    s.append(rec(3), None)
    first = tmp_path / "bbb.1.jsonl"
    assert first.exists() and (tmp_path / "bbb.2.jsonl").exists()
    s.stored(records_written=2, ledger_written=1)  # one settle row still in memory
    assert first.exists()
    s.stored(records_written=2, ledger_written=2)
    assert not first.exists() and (tmp_path / "bbb.2.jsonl").exists()
    s.close(everything_stored=True)
    assert not list(tmp_path.iterdir())


def test_running_streams_progress_moves_to_the_new_segment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spool_mod, "ROTATE_SECONDS", 0.0)
    s = Spool(tmp_path, "ccc")
    s.open()
    s.progress("req_9", {"o": "own", "ct": 5})
    s.append(rec(1), None)
    s.rotate_if_due(ledger_taken=0)
    s.stored(records_written=1, ledger_written=0)
    assert not (tmp_path / "ccc.1.jsonl").exists()
    assert [line.get("p") for line in read_lines(tmp_path / "ccc.2.jsonl")] == ["req_9"]
    s.append(rec(9), None)  # the stream ended: its progress is no longer carried over
    s.rotate_if_due(ledger_taken=0)
    assert all("p" not in line for line in read_lines(tmp_path / "ccc.3.jsonl"))


def test_orphans_are_claimed_only_from_dead_processes(tmp_path: Path) -> None:
    code = ("import sys, time; from pathlib import Path; from relaygate.store.spool import Spool; "
            "s = Spool(Path(sys.argv[1]), sys.argv[2]); s.open(); s.append({'request_id': 'req_x'}, None); "
            "print('ready', flush=True); time.sleep(60)")
    alive = subprocess.Popen([sys.executable, "-c", code, str(tmp_path), "live"], stdout=subprocess.PIPE)
    dead = subprocess.Popen([sys.executable, "-c", code, str(tmp_path), "dead"], stdout=subprocess.PIPE)
    try:
        assert alive.stdout is not None and dead.stdout is not None
        assert alive.stdout.readline().startswith(b"ready") and dead.stdout.readline().startswith(b"ready")
        dead.kill()  # kill -9: the kernel drops its flock
        dead.wait()
        assert instance_alive_here(tmp_path, "live") is True
        assert instance_alive_here(tmp_path, "dead") is False
        assert instance_alive_here(tmp_path, "elsewhere") is None
        me = Spool(tmp_path, "me")
        me.open()
        orphans = me.claim_orphans()
        assert [o.instance for o in orphans] == ["dead"]
        assert orphans[0].lines == [{"r": {"request_id": "req_x"}}]
        orphans[0].done()
        assert not list(tmp_path.glob("dead.*")) and list(tmp_path.glob("live.*"))
        assert me.claim_orphans() == []
    finally:
        alive.kill()
        alive.wait()
        for proc in (alive, dead):
            if proc.stdout is not None:
                proc.stdout.close()


def test_a_watched_stream_is_journalled_before_its_first_byte_then_group_committed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(spool_mod.time, "monotonic", lambda: clock[0])
    s = Spool(tmp_path, "ddd", sync_seconds=0.05)
    s.open()
    sent = {"a": 0, "b": 0}
    said: dict[str, int] = {}

    def source(rid: str) -> Callable[[], dict[str, object] | None]:
        def facts() -> dict[str, object] | None:
            if said.get(rid) == sent[rid]:
                return None  # unchanged since its last line
            said[rid] = sent[rid]
            return {"o": "own", "ct": sent[rid]}
        return facts

    seg = tmp_path / "ddd.1.jsonl"

    def progress() -> list[tuple[str, int]]:
        return [(line["p"], line["ct"]) for line in read_lines(seg) if "p" in line]

    s.watch("a", source("a"))
    s.watch("b", source("b"))
    assert progress() == [("a", 0), ("b", 0)]  # at once: before the caller gets a byte
    sent["a"] = 7
    s.tick("a")  # the stream sent text, and the last write is more than 50 ms old
    assert progress()[-1] == ("a", 7)
    sent["a"], sent["b"] = 9, 3
    clock[0] += 0.01
    s.tick("a")  # 10 ms later: waits for the group commit
    s.tick("b")
    assert progress()[-1] == ("a", 7)
    clock[0] += 0.05
    s.tick("a")  # one write carries both streams' progress
    assert sorted(progress()[-2:]) == [("a", 9), ("b", 3)]
    s.tick("a")
    s.write_progress()  # nothing changed: nothing written
    assert len(progress()) == 5
    s.append(rec(0) | {"request_id": "a"}, None)  # a's record ends its watch
    sent["a"], sent["b"] = 20, 4
    s.tick("a")
    s.tick("b")
    s.write_progress()
    assert progress()[-1] == ("b", 4) and ("a", 20) not in progress()


def test_the_sync_loop_writes_progress_nobody_ticked_for(tmp_path: Path) -> None:
    s = Spool(tmp_path, "eee", sync_seconds=0.01)
    s.open()
    sent = [0]
    s.watch("x", lambda: {"o": "own", "ct": sent[0]} if sent[0] else None)
    sent[0] = 5  # sent while a write was not due, and then the stream went quiet
    s._progress_at = 1e12
    s.tick("x")
    assert not [line for line in read_lines(tmp_path / "eee.1.jsonl") if line.get("ct") == 5]
    s._progress_at = 0.0

    async def run() -> None:
        task = asyncio.create_task(s.run_sync())
        await asyncio.sleep(0.1)
        task.cancel()

    asyncio.run(run())
    assert {"p": "x", "o": "own", "ct": 5} in read_lines(tmp_path / "eee.1.jsonl")
    assert s.synced >= 1
