"""kill -9 of a loaded gateway: no answered request goes unrecorded or uncharged, no hold outlives it.

A real `relaygate serve` subprocess takes load (plain requests and 4-second streams) from a fake
upstream that lives in the test process, so it survives the kill. The kill falls when a stream is
under way (text delivered, its hold already a ledger row), whatever the host's speed. After SIGKILL,
the database alone misses the requests still waiting in the usage writer's memory, and `balance
check` fails on the stale hold and the journal not replayed. After a restart every request whose
answer reached the client has its usage record and ledger entry (replayed from the spool); each
stream cut by the kill is charged for the text its client received, less at most what was sent in
the last group-commit interval (measured here in chunks and milliseconds), its hold released with
a ledger entry saying why if it had become a row; and `balance check` passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from sqlalchemy import select

from relaygate.core.money import Price, parse_amount
from relaygate.core.settings import Settings
from relaygate.fakeupstream.server import answer_for, count_tokens
from relaygate.protocols.usage import estimate_from_size
from relaygate.providers import load_providers
from relaygate.services.gateway.recovery import INTERRUPTED
from relaygate.services.operate.balances import LedgerAdmin
from relaygate.services.operate.pricing import PricingAdmin
from relaygate.services.operate.routing import RoutingAdmin
from relaygate.services.operate.setup import first_run
from relaygate.store import tables as t
from relaygate.store.db import make_engine, upgrade
from relaygate.store.holds import open_holds
from relaygate.store.secret_rows import prepare_secrets
from tests.harness import PG_URL, free_socket, plan, start_fake

PRICE = Price(parse_amount("2"), parse_amount("8"))
PROMPT = "a story about the sea, the wind and the long grey waves that roll in from far away"
ANSWER = answer_for({"messages": [{"role": "user", "content": PROMPT}]})  # 30 chunks, 0.12 s apart
FIGURES = Path(os.environ.get("RELAYGATE_CRASH_FIGURES", "")) if os.environ.get("RELAYGATE_CRASH_FIGURES") else None


def _port() -> int:
    sock = free_socket()
    port = int(sock.getsockname()[1])
    sock.close()
    return port


def _env(url: str, data: Path, port: int) -> dict[str, str]:
    return {**os.environ, "RELAYGATE_DATABASE_URL": url, "RELAYGATE_DATA_DIR": str(data),
            "RELAYGATE_PORT": str(port), "RELAYGATE_DEMO_UPSTREAM": "false", "RELAYGATE_WORKERS": "1",
            "REDIS_URL": "", "RELAYGATE_CONFIG_POLL_SECONDS": "0.2", "RELAYGATE_LOG_LEVEL": "warning",
            "COLUMNS": "200"}


@contextlib.contextmanager
def serve(env: dict[str, str], cwd: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "relaygate.cli", "serve"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, cwd=cwd)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def _text(log: Path) -> str:
    return log.read_text()


async def _ready(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    async with aiohttp.ClientSession() as s:
        for _ in range(1800):  # a loaded CI host can take a while to start it
            assert proc.poll() is None, _text(log)
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with s.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.05)
    raise AssertionError("gateway did not start:\n" + _text(log))


def _cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "relaygate.cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=60)


def _ms() -> int:
    return int(time.monotonic() * 1000)  # CLOCK_MONOTONIC: the same clock as the gateway's


@dataclass
class Received:
    """One stream as its client saw it: each piece of text with the time it arrived."""

    pieces: list[tuple[int, str]] = field(default_factory=list)
    done: bool = False

    def text(self) -> str:
        return "".join(p for _, p in self.pieces)

    def uncharged(self, completion_tokens: int) -> list[tuple[int, str]]:
        """The pieces received beyond what ``completion_tokens`` pays for (estimated as the gateway does)."""
        chars = 0
        for i, (_, piece) in enumerate(self.pieces):
            chars += len(piece)
            if estimate_from_size(chars, chars) > completion_tokens:
                return self.pieces[i:]
        return []


def _read_events(buf: bytes, got: Received, at: int) -> bytes:
    *events, rest = buf.split(b"\n\n")
    for event in events:
        data = b"".join(line[5:].strip() for line in event.split(b"\n") if line.startswith(b"data:"))
        if data == b"[DONE]":
            got.done = True
        elif data:
            for choice in orjson.loads(data).get("choices") or ():
                text = (choice.get("delta") or {}).get("content")
                if text:
                    got.pieces.append((at, text))
    return rest


async def _client(base: str, key: str, stream: bool, answered: dict[str, int], started: list[str],
                  streams: dict[str, Received], stop: asyncio.Event, delay: float = 0.0) -> None:
    body: dict[str, Any] = {"model": "slow" if stream else "paid", "max_tokens": 100, "stream": stream,
                            "messages": [{"role": "user", "content": PROMPT}]}
    await asyncio.sleep(delay)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as s:
        while not stop.is_set():
            try:
                async with s.post(base + "/chat/completions", json=body) as resp:
                    rid = resp.headers.get("x-request-id", "")
                    started.append(rid)
                    if not stream:
                        await resp.read()
                        if resp.status == 200:
                            answered[rid] = _ms()
                        continue
                    got = streams[rid] = Received()
                    buf = b""
                    async for data in resp.content.iter_any():
                        buf = _read_events(buf + data, got, _ms())
                    if resp.status == 200 and got.done:
                        answered[rid] = _ms()
            except (aiohttp.ClientError, OSError, TimeoutError):
                await asyncio.sleep(0.01)


async def _kill_when_a_stream_is_under_way(proc: subprocess.Popen[bytes], engine: Any, answered: dict[str, int],
                                           streams: dict[str, Received]) -> int:
    """SIGKILL once 20 requests were answered, every streaming client has begun, and a stream is mid-way
    with its hold a ledger row."""
    deadline = time.monotonic() + 120  # a loaded CI host is slow, never this slow
    while True:
        running = {rid for rid, got in list(streams.items()) if not got.done and 2 <= len(got.pieces) <= 20}
        if len(answered) >= 20 and len(streams) >= 3 and running:  # every streaming client has begun
            async with engine.connect() as conn:
                if running & {h.request_id for h in await open_holds(conn)}:
                    proc.send_signal(signal.SIGKILL)  # kill -9, mid-load
                    return _ms()
        assert time.monotonic() < deadline, f"no stream under way with a hold row: {len(answered)} answered"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.skipif(
    not PG_URL, reason="PostgreSQL: set RELAYGATE_TEST_POSTGRES_URL"))])
async def test_kill_9_under_load_loses_nothing_and_leaves_no_hold(tmp_path: Path, db: str) -> None:
    from tests.dbreset import reset_database

    url = f"sqlite+aiosqlite:///{tmp_path}/relaygate.db" if db == "sqlite" else PG_URL
    if db == "postgres":
        await reset_database(url)
    fake = await start_fake()
    engine = make_engine(url)
    try:
        await upgrade(engine)
        await prepare_secrets(engine, "", "", str(tmp_path))  # the key the served gateway finds (data dir)
        seeded = await first_run(engine, Settings(database_url=url, demo_upstream=False), sorted(load_providers()))
        assert seeded is not None
        await RoutingAdmin(engine, sorted(load_providers())).create_channel(
            name="up", protocol="openai", base_url=fake.base_url, secrets=["sk-upstream-crash-0001"],
            models={"paid": "paid", "slow": "slow"})
        for model in ("paid", "slow"):
            await PricingAdmin(engine, "USD").set_price(model, input_per_m="2", output_per_m="8")
        await LedgerAdmin(engine, "USD").record("admin", "topup", parse_amount("100"), "test credit", "tests")
        await plan(fake, "slow", {"kind": "slow", "seconds": 0.12}, sticky=True)  # 4 s streams: hold rows

        port = _port()
        env = _env(url, tmp_path, port)
        log = tmp_path / "serve.log"
        answered: dict[str, int] = {}
        started: list[str] = []
        streams: dict[str, Received] = {}
        with serve(env, tmp_path, log) as proc:
            await _ready(port, proc, log)
            stop = asyncio.Event()
            base = f"http://127.0.0.1:{port}/v1"
            # three streaming clients out of phase: at the kill one stream may be too young for a hold row
            clients = [asyncio.create_task(_client(base, seeded.api_key, i % 4 == 0, answered, started, streams,
                                                   stop, delay=(i // 4) * 1.0 if i % 4 == 0 else 0.0))
                       for i in range(12)]
            killed_at = await _kill_when_a_stream_is_under_way(proc, engine, answered, streams)
            proc.wait(timeout=10)
            stop.set()
            await asyncio.gather(*clients)

        answered_ids = set(answered)
        cut = {rid: got for rid, got in streams.items() if rid not in answered_ids}
        async with engine.connect() as conn:
            stored = {r[0] for r in await conn.execute(select(t.usage_records.c.request_id))}
            held_at_kill = {h.request_id for h in await open_holds(conn)}
        assert held_at_kill & set(cut), (held_at_kill, set(cut))
        lost_before = answered_ids - stored
        # without the spool these are the requests nobody would ever be charged for
        last_ms = [killed_at - answered[r] for r in lost_before]
        check = _cli(env, tmp_path, "balance", "check", "--json")
        assert check.returncode == 1, check.stdout + check.stderr
        report = json.loads(check.stdout)
        assert report["ok"] is False and report["stale_holds"], report
        assert report["unreplayed_journals"] and report["unreplayed_journals"][0]["running_streams"] >= 1, report

        # restart: the spool is replayed and the stale holds are settled before the gateway serves
        with serve(env, tmp_path, log) as proc:
            await _ready(port, proc, log)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=90)

        async with engine.connect() as conn:
            records = {r.request_id: r for r in await conn.execute(select(t.usage_records))}
            entries: dict[str, dict[str, Any]] = {}
            for e in await conn.execute(select(t.ledger_entries).where(t.ledger_entries.c.request_id.is_not(None))):
                entries.setdefault(e.request_id, {})[e.kind] = e
            held_after = await open_holds(conn)
        missing = answered_ids - set(records)
        assert not missing, f"{len(missing)} answered requests have no usage record"
        assert not [rid for rid in started if rid and rid not in records]  # every request that reached it
        for rid in answered_ids:
            rec = records[rid]
            assert rec.status == 200 and rec.cost == PRICE.token_cost(rec.prompt_tokens, rec.completion_tokens) > 0
            assert entries[rid]["settle"].amount == -rec.cost, rid
        assert not held_after, held_after
        # the streams cut by the kill: charged for what their client received, less at most the last
        # group commit's worth; released with the reason if their hold had become a row
        interrupted = {rid: records[rid] for rid in cut if records[rid].error_code == INTERRUPTED}
        assert interrupted
        uncharged_pieces, uncharged_ms = 0, 0
        for rid, rec in interrupted.items():
            got, mine = cut[rid], entries.get(rid, {})
            assert rec.status == 502 and rec.estimated
            assert rec.cost == PRICE.token_cost(rec.prompt_tokens, rec.completion_tokens) > 0
            assert mine["settle"].amount == -rec.cost, rid
            if rid in held_at_kill:
                assert "last checkpoint" in mine["release"].reason and mine["release"].held == -mine["hold"].held
            else:  # its hold lived in the dead process's memory only: nothing to release in the ledger
                assert set(mine) == {"settle"}, mine
            missed = got.uncharged(rec.completion_tokens)
            assert len(missed) <= 2, (rid, rec.completion_tokens, got.pieces)  # 50 ms: one chunk at 0.12 s pacing
            uncharged_pieces = max(uncharged_pieces, len(missed))
            uncharged_ms = max(uncharged_ms, killed_at - missed[0][0] if missed else 0)
            # never more than it received (or, its last events on their way, the upstream's own count)
            received = estimate_from_size(len(got.text()), len(got.text()))
            assert rec.completion_tokens <= max(received, count_tokens(ANSWER) if got.text() == ANSWER else 0)
        assert [r for rid, r in interrupted.items() if rid in held_at_kill and r.completion_tokens > 0]
        for rid in set(cut) - set(interrupted):  # ended in the gateway; the kill only cut its last bytes
            rec = records[rid]
            assert rec.status == 200 and entries[rid]["settle"].amount == -rec.cost > 0
        check = _cli(env, tmp_path, "balance", "check", "--json")
        assert check.returncode == 0, check.stdout + check.stderr
        figures = {"db": db, "answered": len(answered_ids), "unrecorded_in_db_at_kill": len(lost_before),
                   "oldest_unrecorded_ms_before_kill": max(last_ms, default=0),
                   "unrecorded_after_restart": len(missing), "stale_holds_at_kill": len(held_at_kill),
                   "interrupted_streams": len(interrupted),
                   "interrupted_without_hold_row": len(set(interrupted) - held_at_kill),
                   "max_uncharged_chunks": uncharged_pieces, "max_uncharged_ms_before_kill": uncharged_ms}
        print(figures)
        if FIGURES is not None:
            with FIGURES.open("a") as fh:
                fh.write(json.dumps(figures) + "\n")
    finally:
        await engine.dispose()
        await fake.stop()
