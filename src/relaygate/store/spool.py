"""The usage spool: a local append-only journal of finished requests, so a killed process loses none.

Each finished request's usage record and ledger entries are appended as one JSON line with one
``write`` system call before the answer leaves the gateway. Once the call returns the bytes are the
kernel's: ``kill -9`` of the process cannot lose them, only a crash of the machine can, and the
file is ``fdatasync``-ed every ``sync_seconds`` (group commit), which bounds that loss too.

Files live in ``<data dir>/spool/``: ``<instance>.lock`` (held with ``flock`` for as long as the
process lives, so the kernel drops it when the process dies, however it dies) and segments
``<instance>.<n>.jsonl``. A segment is deleted once every line in it is in the database. At start a
process claims the segments of instances whose lock is free (dead) and replays them; replay is
idempotent (usage records by request id, ledger entries by kind and request id).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("relaygate.spool")

ROTATE_LINES = 20_000
ROTATE_SECONDS = 2.0


@dataclass
class Segment:
    path: Path
    records_end: int  # records appended (in total) when the segment was closed
    ledger_end: int  # ledger entries appended (in total) when the segment was closed


@dataclass
class Orphan:
    """What a dead instance left: its lines, the files to delete once they are stored."""

    instance: str
    lines: list[dict[str, Any]]
    files: list[Path] = field(default_factory=list)
    lock: int | None = None  # our flock on its lock file, held until the files are gone

    def done(self) -> None:
        for path in self.files:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        if self.lock is not None:
            os.close(self.lock)
            self.lock = None


def _try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def instance_alive_here(directory: Path, instance: str) -> bool | None:
    """True/False when ``instance`` has a lock file in ``directory`` (held: alive); None: not from here."""
    path = directory / f"{instance}.lock"
    if not path.exists():
        return None
    fd = _try_lock(path)
    if fd is None:
        return True
    os.close(fd)
    return False


def _datasync(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.fdatasync(fd)


def read_lines(path: Path) -> list[dict[str, Any]]:
    """The whole lines of a segment; a torn last line (cut mid-write by a crash) is skipped."""
    out: list[dict[str, Any]] = []
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return out  # replayed and deleted by another process meanwhile
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            out.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            log.warning("spool %s: skipped a torn line of %d bytes", path.name, len(line))
    return out


class Spool:
    """One process's journal. ``append`` is synchronous (one ``write``); everything else is not."""

    def __init__(self, directory: Path, instance: str, *, sync_seconds: float = 0.05) -> None:
        self.directory = directory
        self.instance = instance
        self.sync_seconds = sync_seconds
        self.records = 0  # records appended, in total
        self.ledger = 0  # ledger entries appended, in total
        self._fd: int | None = None
        self._lock: int | None = None
        self._seg_no = 0
        self._seg_path: Path | None = None
        self._seg_lines = 0
        self._seg_opened = 0.0
        self._closed: list[Segment] = []
        self._dirty = False
        self._to_close: list[int] = []  # rotated segments, closed after their last fdatasync
        self._progress: dict[str, bytes] = {}  # the last progress line of each stream still running
        self.synced = 0  # fdatasync calls made
        self.write_errors = 0

    # --- life ---------------------------------------------------------------------------------

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        # locked under a private name, then renamed: no other process ever sees our lock file unlocked
        # (it would take us for dead and replay, then delete, the segments we are writing)
        private = self.directory / f"{self.instance}.{os.getpid()}.locking"
        self._lock = _try_lock(private)
        if self._lock is None:
            raise RuntimeError(f"spool instance {self.instance} is locked by another process")
        os.rename(private, self.directory / f"{self.instance}.lock")
        self._open_segment()

    def _open_segment(self) -> None:
        self._seg_no += 1
        self._seg_path = self.directory / f"{self.instance}.{self._seg_no}.jsonl"
        self._fd = os.open(self._seg_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._seg_lines = 0
        self._seg_opened = time.monotonic()

    def close(self, *, everything_stored: bool) -> None:
        """Clean stop. With ``everything_stored`` (drained to the database or the spill file) the
        segments are deleted; otherwise they stay for the next start to replay."""
        for fd in self._to_close:
            os.close(fd)
        self._to_close = []
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
        if everything_stored:
            for seg in self._closed:
                with contextlib.suppress(FileNotFoundError):
                    seg.path.unlink()
            self._closed.clear()
            if self._seg_path is not None:
                with contextlib.suppress(FileNotFoundError):
                    self._seg_path.unlink()
        if self._lock is not None:
            if everything_stored:
                with contextlib.suppress(FileNotFoundError):
                    (self.directory / f"{self.instance}.lock").unlink()
            os.close(self._lock)
            self._lock = None

    # --- the request path ---------------------------------------------------------------------

    def append(self, record: dict[str, Any], entries: list[dict[str, Any]] | None) -> None:
        """Journal one finished request: one line, one write system call."""
        fd = self._fd
        if fd is None:
            return
        line = orjson.dumps({"r": record, "l": entries} if entries else {"r": record}) + b"\n"
        try:
            os.write(fd, line)
        except OSError as exc:  # a full or failing disk must not fail the request: the record is in memory
            self._failed(exc)
            return
        if self._progress:
            self._progress.pop(record["request_id"], None)
        self.records += 1
        if entries:
            self.ledger += len(entries)
        self._seg_lines += 1
        self._dirty = True

    def progress(self, request_id: str, facts: dict[str, Any]) -> None:
        """Journal how far a running stream got (what to charge if the process dies before it ends)."""
        fd = self._fd
        if fd is None:
            return
        line = orjson.dumps({"p": request_id, **facts}) + b"\n"
        try:
            os.write(fd, line)
        except OSError as exc:
            self._failed(exc)
            return
        self._progress[request_id] = line
        self._dirty = True

    def _failed(self, exc: OSError) -> None:
        self.write_errors += 1
        if self.write_errors == 1 or self.write_errors % 10_000 == 0:
            log.error("usage spool write failed (%s; %d so far): records wait in memory only, a crash now "
                      "would lose them", exc.strerror or type(exc).__name__, self.write_errors)

    # --- the writer's side --------------------------------------------------------------------

    def rotate_if_due(self, ledger_taken: int) -> None:
        """Close the current segment when it is big or old enough; ``ledger_taken``: ledger entries the
        writer holds or wrote so far (every entry of a journalled request is among them)."""
        if self._fd is None or not self._seg_lines:
            return
        if self._seg_lines < ROTATE_LINES and time.monotonic() - self._seg_opened < ROTATE_SECONDS:
            return
        assert self._seg_path is not None
        self._to_close.append(self._fd)
        self._closed.append(Segment(self._seg_path, self.records, ledger_taken))
        self._open_segment()
        if self._progress and self._fd is not None:  # running streams' last progress outlives its segment
            os.write(self._fd, b"".join(self._progress.values()))

    def stored(self, records_written: int, ledger_written: int) -> None:
        """The writer committed this many journalled records and ledger entries: drop covered segments."""
        while self._closed and self._closed[0].records_end <= records_written and \
                self._closed[0].ledger_end <= ledger_written:
            seg = self._closed.pop(0)
            with contextlib.suppress(FileNotFoundError):
                seg.path.unlink()

    async def run_sync(self) -> None:
        """Group commit for machine crashes: one fdatasync per ``sync_seconds`` when anything was written."""
        while True:
            await asyncio.sleep(self.sync_seconds)
            await self.sync()

    async def sync(self) -> None:
        old, self._to_close = self._to_close, []
        fds = [*old, self._fd] if self._dirty and self._fd is not None else old
        self._dirty = False
        if fds:
            await asyncio.to_thread(_datasync, fds)
            self.synced += 1
        for fd in old:
            os.close(fd)

    # --- start ----------------------------------------------------------------------------------

    def claim_orphans(self) -> list[Orphan]:
        """Segments of instances that are not running (their lock is free): ours to replay."""
        if not self.directory.exists():
            return []
        by_instance: dict[str, list[Path]] = {}
        for path in self.directory.glob("*.jsonl"):
            inst = path.name.split(".", 1)[0]
            if inst != self.instance:
                by_instance.setdefault(inst, []).append(path)
        for lock in self.directory.glob("*.lock"):
            inst = lock.name[: -len(".lock")]
            if inst != self.instance:
                by_instance.setdefault(inst, [])
        out = []
        for inst, paths in sorted(by_instance.items()):
            lock_path = self.directory / f"{inst}.lock"
            fd = _try_lock(lock_path)
            if fd is None:
                continue  # alive
            paths.sort(key=lambda p: int(p.name.split(".")[1]) if p.name.split(".")[1].isdigit() else 0)
            lines = [line for p in paths for line in read_lines(p)]
            out.append(Orphan(inst, lines, [*paths, lock_path], fd))
        return out
