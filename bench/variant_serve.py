"""Start `relaygate serve` with a process-level tweak applied first, for A/B runs (bench/ab.sh).

Nothing here changes relaygate's source: the tweak is applied in this process before the CLI runs.
VARIANT (comma-separated):
  base                     nothing changed
  gc=T0/T1/T2              gc.set_threshold(T0, T1, T2) before serving (CPython default 700/10/10)
  gcfreeze                 gc.freeze() once the app has started (moves start-up objects out of GC scans)
  switch=SECONDS           sys.setswitchinterval(SECONDS) (CPython default 0.005): how long a thread that
                           wants the GIL (the SQLite writer) waits for the busy event loop to let go
  nobill                   RELAYGATE_BILLING=false RELAYGATE_LIMITS=false
  nolimits                 RELAYGATE_LIMITS=false (billing stays on)
  nometrics                RELAYGATE_METRICS=false RELAYGATE_ACCESS_LOG=false (no per-request observers)
  accesslog / accessjson   log level info, so each request's access line is written (text / JSON)
  otel                     OpenTelemetry traces to bench/otlp_sink.py on 127.0.0.1:4318
  nospool                  RELAYGATE_USAGE_SPOOL=false: no crash journal (measures the durability cost)
  gcstats                  every 5 s, print to stderr the cyclic collector's runs and time per generation
  cprofile=PATH             cProfile the event loop between SIGUSR1 and SIGUSR2, stats written to PATH
  trim                     SIGUSR2: gc.collect() then glibc's malloc_trim(0), RSS before and after printed to stderr
  tracemalloc=DIR          the first SIGUSR1 starts tracing allocations (12 frames; tracing from the start makes
                           the imports crawl), each SIGUSR1 dumps a snapshot to DIR/snap-N.pickle
                           (bench/slow_streams.sh TRACEMALLOC=1 compares them)
  noledger                 billing on, but its ledger rows are dropped instead of written (measures the DB share)
  writestats               at exit, print to stderr how many usage batches were written and their sizes
  noconsole                no web console and no usage-rollups task: the relay as it was before the console
                           (compare with base: the console's cost on the request path)
Arguments after the script name are passed to `relaygate serve`.
"""

from __future__ import annotations

import gc
import os
import sys


def apply(variant: str) -> None:
    for part in filter(None, (p.strip() for p in variant.split(","))):
        if part == "base":
            continue
        if part == "nobill":  # billing and rate limits off, the comparison issue 3 asks for
            os.environ["RELAYGATE_BILLING"] = "false"
            os.environ["RELAYGATE_LIMITS"] = "false"
            continue
        if part == "nometrics":  # no /metrics counting and no access line (the observers issue 18 added)
            os.environ["RELAYGATE_METRICS"] = "false"
            os.environ["RELAYGATE_ACCESS_LOG"] = "false"
            continue
        if part == "accesslog":  # log level info: the access line is formatted and written (to the log file)
            os.environ["RELAYGATE_LOG_LEVEL"] = "info"
            continue
        if part == "accessjson":
            os.environ["RELAYGATE_LOG_LEVEL"] = "info"
            os.environ["RELAYGATE_LOG_FORMAT"] = "json"
            continue
        if part == "otel":  # traces exported to bench/otlp_sink.py on 127.0.0.1:4318 (start it first)
            os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:4318"
            continue
        if part == "nolimits":
            os.environ["RELAYGATE_LIMITS"] = "false"
            continue
        if part == "nospool":
            os.environ["RELAYGATE_USAGE_SPOOL"] = "false"
            continue
        if part == "noledger":
            from relaygate.services.gateway.billing import Billing

            original_take = Billing.take_entries

            def take_entries(self, hold_older_than_ms, original_take=original_take):  # type: ignore[no-untyped-def]
                original_take(self, hold_older_than_ms)
                return []

            Billing.take_entries = take_entries  # type: ignore[method-assign]
            continue
        if part == "noconsole":  # before the console: no /console app, no rollup task in the process
            import asyncio

            import relaygate.services.operate.rollups as rollups
            import relaygate.web.server as server

            async def idle(self):  # type: ignore[no-untyped-def]
                await asyncio.Event().wait()

            server.build_console_app = None  # type: ignore[assignment]
            rollups.Rollups.run = idle  # type: ignore[method-assign]
            continue
        if part == "writestats":
            count_batches()
            continue
        if part == "trim":
            trim_on_signal()
            continue
        if part.startswith("tracemalloc="):
            snapshots_on_signal(part.split("=", 1)[1])
            continue
        if part.startswith("cprofile="):
            profile_on_signals(part.split("=", 1)[1])
            continue
        if part == "gcstats":
            watch_gc()
            continue
        if part.startswith("switch="):
            sys.setswitchinterval(float(part.split("=", 1)[1]))
            continue
        if part.startswith("gc="):
            gc.set_threshold(*(int(x) for x in part[3:].split("/")))
        elif part == "gcfreeze":
            import relaygate.web.relay.asgi as asgi

            original = asgi.RelayApp.lifespan

            async def lifespan(self, receive, send, original=original):  # type: ignore[no-untyped-def]
                async def send_then_freeze(message):  # type: ignore[no-untyped-def]
                    await send(message)
                    if message.get("type") == "lifespan.startup.complete":
                        gc.collect()
                        gc.freeze()

                await original(self, receive, send_then_freeze)

            asgi.RelayApp.lifespan = lifespan  # type: ignore[method-assign]
        else:
            sys.exit(f"unknown variant part: {part}")


def profile_on_signals(path: str) -> None:
    """SIGUSR1 starts cProfile in the main thread (the event loop), SIGUSR2 stops it and writes ``path``."""
    import cProfile
    import signal

    import time

    profiler = cProfile.Profile(time.thread_time) if os.environ.get("CPROFILE_CPU") else cProfile.Profile()
    signal.signal(signal.SIGUSR1, lambda *_: profiler.enable())

    def stop(*_: object) -> None:
        profiler.disable()
        profiler.dump_stats(path)

    signal.signal(signal.SIGUSR2, stop)


def trim_on_signal() -> None:
    import ctypes
    import signal

    def rss() -> int:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))

    def trim(*_: object) -> None:
        before = rss()
        gc.collect()
        collected = rss()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        print(f"trim: RSS {before} KB, after gc.collect {collected} KB, after malloc_trim {rss()} KB",
              file=sys.stderr, flush=True)

    signal.signal(signal.SIGUSR2, trim)


def snapshots_on_signal(folder: str) -> None:
    """SIGUSR1 writes a snapshot (after a full collection) to folder/snap-N.pickle; the first one starts tracing."""
    import signal
    import tracemalloc
    from pathlib import Path

    taken = [0]

    def dump(*_: object) -> None:
        if not tracemalloc.is_tracing():
            tracemalloc.start(12)
        gc.collect()
        Path(folder).mkdir(parents=True, exist_ok=True)
        tracemalloc.take_snapshot().dump(f"{folder}/snap-{taken[0]}.pickle")
        taken[0] += 1

    signal.signal(signal.SIGUSR1, dump)


def count_batches() -> None:
    """Count the usage writer's batches (usage rows and ledger rows per transaction); print them every 2 s."""
    import threading
    import time
    from collections import Counter

    import relaygate.services.gateway.usage as usage

    sizes: Counter[tuple[int, int]] = Counter()
    insert_usage, append_entries = usage.insert_usage, usage.append_entries
    last = [0]

    async def counting_insert(conn, rows, dedupe=True):  # type: ignore[no-untyped-def]
        last[0] = len(rows)
        return await insert_usage(conn, rows, dedupe)

    async def counting_append(conn, rows, dedupe=True):  # type: ignore[no-untyped-def]
        sizes[(last[0], len(rows))] += 1
        return await append_entries(conn, rows, dedupe)

    usage.insert_usage, usage.append_entries = counting_insert, counting_append  # type: ignore[assignment]

    def report() -> None:
        while True:
            time.sleep(2)
            batches = sum(sizes.values())
            rows = sum(u * n for (u, _), n in sizes.items())
            print(f"writestats batches={batches} usage_rows={rows} "
                  + " ".join(f"{u}+{e}x{n}" for (u, e), n in sizes.most_common(12)), file=sys.stderr, flush=True)

    threading.Thread(target=report, daemon=True).start()


def sqlite_memory() -> int:
    """Bytes the SQLite library has allocated (sqlite3_memory_used), or -1 when it cannot be read."""
    import ctypes
    import ctypes.util

    try:
        lib = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")
        lib.sqlite3_memory_used.restype = ctypes.c_int64
        return int(lib.sqlite3_memory_used())
    except (OSError, AttributeError):
        return -1


def watch_gc() -> None:
    """Count the collector's runs and the time they take, per generation; a daemon thread prints them."""
    import threading
    import time

    runs, spent, collected, started = [0, 0, 0], [0.0, 0.0, 0.0], [0, 0, 0], [0.0]

    def callback(phase, info):  # type: ignore[no-untyped-def]
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            gen = info["generation"]
            runs[gen] += 1
            spent[gen] += time.perf_counter() - started[0]
            collected[gen] += info["collected"]

    gc.callbacks.append(callback)

    def report() -> None:
        while True:
            time.sleep(5)
            print(f"sqlite_memory={sqlite_memory() // 1024}KiB ", end="", file=sys.stderr)
            print("gcstats " + " ".join(f"gen{g}: runs={runs[g]} ms={spent[g] * 1000:.0f} collected={collected[g]}"
                                        for g in range(3)) + f" objects={len(gc.get_objects())}",
                  file=sys.stderr, flush=True)

    threading.Thread(target=report, daemon=True).start()


def main() -> None:
    apply(os.environ.get("VARIANT", "base"))
    import relaygate.cli.main as cli
    from relaygate.cli.main import main as relaygate_main

    cli.FRESH_INTERPRETER = False  # serve here: the variant's tweaks live in this process
    sys.argv = ["relaygate", "serve", *sys.argv[1:]]
    relaygate_main()


if __name__ == "__main__":
    main()
