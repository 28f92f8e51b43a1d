"""Usage records: built per request in memory, written to the database in batches off the request path."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.store.ledger_repo import append_entries
from relaygate.store.repo import insert_usage
from relaygate.store.spool import Spool

log = logging.getLogger("relaygate.usage")


class UsageWriter:
    """Buffers records and writes them in batches; never drops one (spills to disk if the DB is down)."""

    def __init__(self, engine: AsyncEngine, *, flush_seconds: float, batch_size: int,
                 buffer_limit: int, spill_path: Path,
                 ledger_source: Callable[[int], list[dict[str, Any]]] | None = None,
                 spool: Spool | None = None) -> None:
        self.engine = engine
        self.flush_seconds = flush_seconds
        self.batch_size = batch_size
        self.buffer_limit = buffer_limit
        self.spill_path = spill_path
        self._buffer: list[dict[str, Any]] = []
        self._ledger: list[dict[str, Any]] = []
        self.ledger_source = ledger_source
        self._dedupe = False  # plain inserts; switched on for one batch after a duplicate or a spill
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self.written = 0
        # the spool journals each record (and its ledger entries) before the answer leaves; these
        # count what of it is stored, so a segment is deleted only when all its lines are
        self.spool = spool
        self._records_stored = 0
        self._ledger_taken = 0
        self._ledger_stored = 0

    def add(self, record: dict[str, Any], entries: list[dict[str, Any]] | None = None) -> None:
        """Called on the request path: one journal line (a write system call) and a list append.

        ``entries`` are the request's ledger entries, journalled with it for a replay after a crash;
        the writer takes the live ones from the billing (``ledger_source``)."""
        if self.spool is not None:
            self.spool.append(record, entries)
        self._buffer.append(record)
        if len(self._buffer) >= self.batch_size:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def oldest_pending_ms(self) -> int | None:
        """Epoch ms of the oldest record still waiting to be written (None when none waits): the writer's lag."""
        return self._buffer[0]["ts"] if self._buffer else None

    async def run(self) -> None:
        """The supervised loop: flush every ``flush_seconds`` or when a batch is full."""
        await self._replay_spill()
        while True:
            full = True
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.flush_seconds)
            except TimeoutError:
                full = False
            self._wake.clear()
            await self.flush(full_batches_only=full)

    async def flush(self, *, full_batches_only: bool = False) -> None:
        """Write usage records and ledger entries; a batch's records and entries commit together.

        ``full_batches_only`` (a full batch woke the writer): write while whole batches are waiting
        and leave the rest for the next batch or the timer, at most ``flush_seconds`` away. Under
        load the writer then commits whole batches, not a full one followed by the few records
        that arrived meanwhile: every transaction has a fixed cost (statements, balance updates,
        the commit) that a batch of 500 shares 500 ways.
        """
        async with self._lock:
            while True:
                # ledger rows are taken before every batch: under steady load this loop runs for as
                # long as records keep coming, and rows taken only once would wait in memory meanwhile
                if self.ledger_source is not None:
                    taken = self.ledger_source(int(self.flush_seconds * 1000))
                    self._ledger.extend(taken)
                    self._ledger_taken += len(taken)
                if self.spool is not None:  # no await since the take: every journalled entry is taken
                    try:
                        self.spool.rotate_if_due(self._ledger_taken)
                    except OSError as exc:  # keep writing to the database; the segment just grows
                        log.warning("usage spool not rotated: %s", exc.strerror or type(exc).__name__)
                if not self._buffer and not self._ledger:
                    break
                if (full_batches_only and len(self._buffer) < self.batch_size
                        and len(self._ledger) < self.batch_size * 3):
                    break
                batch = self._buffer[: self.batch_size]
                entries = self._ledger[: self.batch_size * 3]
                try:
                    async with self.engine.begin() as conn:
                        await insert_usage(conn, batch, dedupe=self._dedupe)
                        await append_entries(conn, entries, dedupe=self._dedupe)
                except Exception as exc:
                    if isinstance(exc, IntegrityError) and not self._dedupe:
                        self._dedupe = True  # part of this batch was stored before (a lost commit ack)
                        continue
                    self._dedupe = True  # the commit may have happened without its acknowledgement
                    log.warning("usage batch of %d (+%d ledger entries) not written yet (%s); will retry",
                                len(batch), len(entries), type(exc).__name__)
                    if len(self._buffer) > self.buffer_limit:
                        self._spill()
                    return
                del self._buffer[: len(batch)]
                del self._ledger[: len(entries)]
                self.written += len(batch)
                self._dedupe = False
                self._stored(len(batch), len(entries))

    def _stored(self, records: int, entries: int) -> None:
        self._records_stored += records
        self._ledger_stored += entries
        if self.spool is not None:
            self.spool.stored(self._records_stored, self._ledger_stored)

    def _spill(self) -> None:
        self.spill_path.parent.mkdir(parents=True, exist_ok=True)
        with self.spill_path.open("ab") as fh:
            for rec in self._buffer:
                fh.write(orjson.dumps(rec) + b"\n")
            for entry in self._ledger:
                fh.write(orjson.dumps({"__ledger__": entry}) + b"\n")
        log.warning("spilled %d usage records and %d ledger entries to %s", len(self._buffer),
                    len(self._ledger), self.spill_path)
        self._stored(len(self._buffer), len(self._ledger))  # as safe in the spill file as in the database
        self._buffer.clear()
        self._ledger.clear()

    async def _replay_spill(self) -> None:
        if not self.spill_path.exists():
            return
        lines = self.spill_path.read_bytes().splitlines()
        items = [orjson.loads(line) for line in lines if line.strip()]
        records = [i for i in items if "__ledger__" not in i]
        entries = [i["__ledger__"] for i in items if "__ledger__" in i]
        self._buffer[:0] = records
        self._ledger[:0] = entries
        self._records_stored -= len(records)  # not journalled: their storing must not count as the spool's
        self._ledger_stored -= len(entries)
        self.spill_path.unlink()
        self._dedupe = True
        log.info("re-queued %d spilled usage records", len(lines))

    async def drain(self) -> None:
        """On shutdown: write everything; what cannot be written goes to the spill file."""
        await self.flush()
        if self._buffer or self._ledger:
            self._spill()
        if self.spool is not None:
            self.spool.close(everything_stored=True)
