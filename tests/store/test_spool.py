"""The usage spool on its own: lines, segments deleted only when stored, orphans of dead processes."""

from __future__ import annotations

import subprocess
import sys
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
