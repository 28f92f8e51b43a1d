"""The usage spool: a local append-only journal of finished requests, so a killed process loses none.

Each finished request's usage record and ledger entries are appended as one JSON line with one
``write`` system call before the answer leaves the gateway. Once the call returns the bytes are the
kernel's: ``kill -9`` of the process cannot lose them, only a crash of the machine can, and the
file is ``fdatasync``-ed every ``sync_seconds`` (group commit), which bounds that loss too.

A running stream is *watched*: its first progress line (what it would be charged, the prompt) is
written when it starts, before its caller gets a byte; then, at most every ``sync_seconds``, one
``write`` carries the new progress of every watched stream that sent text since (group commit: a
stream costs no system call per chunk). What a killed stream had sent in its last ``sync_seconds``
may be missing from its last line: that is its crash bound.

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
from collections.abc import Callable
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
        self.release()

    def release(self) -> None:
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
        # running streams: request id -> its facts when they changed since the last call, else None
        self._watched: dict[str, Callable[[], dict[str, Any] | None]] = {}
        self._moved: set[str] = set()  # watched streams that sent a chunk since their last line
        self._progress_at = 0.0  # when the watched streams' progress was last written (monotonic)
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
        if self._watched:
            self._watched.pop(record["request_id"], None)
            self._moved.discard(record["request_id"])
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
        """Journal how far a running stream got (what to charge if the process dies before it ends), now."""
        self._write_progress([(request_id, facts)])

    def watch(self, request_id: str, source: Callable[[], dict[str, Any] | None]) -> None:
        """A stream starts: journal its progress now, then whenever ``source`` reports a change, at most
        every ``sync_seconds`` (``tick``, ``write_progress``). Its record (``append``) ends the watch."""
        facts = source()
        self._watched[request_id] = source
        if facts is not None:
            self._write_progress([(request_id, facts)])

    def tick(self, request_id: str) -> None:
        """A watched stream sent a chunk: noted, and every moved stream's progress written if it is due."""
        self._moved.add(request_id)
        if time.monotonic() - self._progress_at >= self.sync_seconds:
            self.write_progress()

    def write_progress(self) -> None:
        """One write for the progress of every watched stream that moved and changed since its last line."""
        self._progress_at = time.monotonic()
        if not self._moved:
            return
        moved, self._moved = self._moved, set()
        changed = []
        for request_id in moved:
            source = self._watched.get(request_id)
            facts = source() if source is not None else None
            if facts is not None:
                changed.append((request_id, facts))
        if changed:
            self._write_progress(changed)

    def _write_progress(self, changed: list[tuple[str, dict[str, Any]]]) -> None:
        fd = self._fd
        if fd is None:
            return
        lines = [orjson.dumps({"p": request_id, **facts}) + b"\n" for request_id, facts in changed]
        try:
            os.write(fd, b"".join(lines) if len(lines) > 1 else lines[0])
        except OSError as exc:
            self._failed(exc)
            return
        for (request_id, _), line in zip(changed, lines, strict=True):
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
        """Group commit: every ``sync_seconds`` the watched streams' progress (if a chunk went out since
        and no chunk wrote it), then one fdatasync when anything was written (for machine crashes)."""
        while True:
            await asyncio.sleep(self.sync_seconds)
            if self._moved:
                self.write_progress()
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
        return claim_dead(self.directory, self.instance)


def claim_dead(directory: Path, me: str | None = None) -> list[Orphan]:
    """The journals of the instances in ``directory`` that are not running (their lock is free), each
    with our lock on it: replay and ``done()`` them, or ``release()`` them untouched."""
    if not directory.exists():
        return []
    by_instance: dict[str, list[Path]] = {}
    for path in directory.glob("*.jsonl"):
        inst = path.name.split(".", 1)[0]
        if inst != me:
            by_instance.setdefault(inst, []).append(path)
    for lock in directory.glob("*.lock"):
        inst = lock.name[: -len(".lock")]
        if inst != me:
            by_instance.setdefault(inst, [])
    out = []
    for inst, paths in sorted(by_instance.items()):
        lock_path = directory / f"{inst}.lock"
        fd = _try_lock(lock_path)
        if fd is None:
            continue  # alive
        paths.sort(key=lambda p: int(p.name.split(".")[1]) if p.name.split(".")[1].isdigit() else 0)
        lines = [line for p in paths for line in read_lines(p)]
        out.append(Orphan(inst, lines, [*paths, lock_path], fd))
    return out


@dataclass(frozen=True, slots=True)
class Unreplayed:
    """A dead instance's journal not stored yet: what ``relaygate balance check`` reports."""

    instance: str
    records: int  # finished requests journalled (some may be in the database already)
    streams: int  # streams it was running when it died, to be charged from their last progress line


def unreplayed(directory: Path) -> list[Unreplayed]:
    """The journals dead instances left in ``directory`` that a gateway has not replayed yet (read only)."""
    out = []
    for orphan in claim_dead(directory):
        try:
            finished = {line["r"].get("request_id") for line in orphan.lines if isinstance(line.get("r"), dict)}
            running = {line["p"] for line in orphan.lines if "p" in line} - finished
            if finished or running:
                out.append(Unreplayed(orphan.instance, len(finished), len(running)))
        finally:
            orphan.release()
    return out
