"""Per-request cost of what Relay.finish hands each finished request to: metrics, access log, traces.

    .venv/bin/python bench/observers.py [N]          # N calls per round (default 20000), best of 7 rounds

Each observer gets the same realistic finished exchange (a routed chat request with tokens, cost and
one failed attempt before the answer). Times are the best round, in microseconds per request, so a
busy shared machine inflates them less; ``python -X importtime`` and callgrind are not needed for a
cost this small. Traces are exported to bench/otlp_sink.py when it answers on 127.0.0.1:4318.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import sys
import time
from typing import Any

from relaygate.core.clock import monotonic, now_ms
from relaygate.core.domain import ChannelRecord, GroupRecord
from relaygate.core.logs import JsonFormatter, TextFormatter
from relaygate.services.gateway.accesslog import AccessLog
from relaygate.services.gateway.catalog import Route, Snapshot
from relaygate.services.gateway.exchange import Exchange
from relaygate.services.gateway.metrics import Meter


def snapshot() -> Snapshot:
    snap = Snapshot.empty()
    models = {"gpt-4o-mini": "gpt-4o-mini"}
    ch = ChannelRecord(1, "openai-main", "openai", "http://127.0.0.1:9100/v1", ("sk-x",), models,
                       None, 10, 1, True, None, 10.0, 60.0, 600.0)
    ch2 = ChannelRecord(2, "backup", "openai", "http://127.0.0.1:9101/v1", ("sk-y",), models,
                        None, 0, 1, True, None, 10.0, 60.0, 600.0)
    snap.channels.update({1: ch, 2: ch2})
    snap.routes["gpt-4o-mini"] = [Route(ch, "gpt-4o-mini"), Route(ch2, "gpt-4o-mini")]
    snap.groups["default"] = GroupRecord("default", None)
    return snap


def exchange() -> Exchange:
    rec: dict[str, Any] = {
        "request_id": "req_0123456789abcdef01234", "ts": now_ms(), "key_id": "key_abc", "masked_key": "sk-ab…yz",
        "owner_id": "own_1", "group_name": "default", "environment": "production", "client": "openai-python",
        "client_version": "1.40.0", "entry_path": "/v1/chat/completions", "host": "127.0.0.1:8790",
        "requested_model": "gpt-4o-mini", "upstream_model": "gpt-4o-mini", "channel_id": 2, "attempts": 2,
        "status": 200, "error_code": None, "prompt_tokens": 12, "completion_tokens": 40, "total_tokens": 52,
        "cached_tokens": 0, "stream": False, "latency_ms": 812, "ttft_ms": None, "caller_ip": "127.0.0.1",
        "estimated": False, "cost": 30_000, "detail": {"attempts": [{"channel_id": 1, "status": 503,
                                                                   "error": "http_503", "ms": 3}]},
        "body": None, "route": "native",
    }
    ex = Exchange(rec, monotonic() - 0.8)
    ex.overhead = 0.0004
    return ex


ROUNDS = 7


def best(fn: Any, ex: Exchange, n: int, rounds: int | None = None) -> float:
    rounds = ROUNDS if rounds is None else rounds
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            fn(ex)
        times.append((time.perf_counter() - t0) / n * 1e6)
    return min(times)


def in_loop(fn: Any, ex: Exchange, n: int) -> float:
    """``best`` inside a running event loop, where `serve` calls the observers."""
    async def run() -> float:
        return best(fn, ex, n)

    return asyncio.run(run())


def main() -> None:
    global ROUNDS
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    only = sys.argv[2] if len(sys.argv) > 2 else ""  # for bench/observers_instr.sh: one observer, one round
    if only:
        ROUNDS = 1
        one(only, n)
        return
    snap = snapshot()
    ex = exchange()
    results: dict[str, float] = {}
    results["no observer (the loop in Relay.finish)"] = best(lambda e: [o(e) for o in ()], ex, n)
    meter = Meter(lambda: snap)
    results["metrics (Meter.observe)"] = best(meter.observe, ex, n)
    logging.getLogger().setLevel(logging.WARNING)
    access = AccessLog(lambda: snap)
    results["access log, level warning (line not built)"] = best(access, ex, n)
    for name, formatter in (("text", TextFormatter()), ("json", JsonFormatter())):
        handler = logging.StreamHandler(io.StringIO())
        handler.setFormatter(formatter)
        logger = logging.getLogger("relaygate.access")
        logger.handlers[:] = [handler]
        logger.propagate = False
        logger.setLevel(logging.INFO)
        results[f"access log, {name} line through logging"] = best(access, ex, n)
        handler.stream = io.StringIO()
    from relaygate.core.logs import ACCESS, LineWriter

    for name in ("text", "json"):
        ACCESS["writer"] = LineWriter(name, open(os.devnull, "w"))  # noqa: SIM115
        results[f"access log, {name} line by LineWriter (serve)"] = in_loop(access, ex, n)
    ACCESS.clear()
    try:
        from relaygate.services.gateway.tracing import Tracing
    except ImportError:
        print("opentelemetry not installed: traces not measured (pip install 'relaygate[otel]')")
    else:
        tracing = Tracing("http://127.0.0.1:4318", "bench", lambda: snap)
        results["traces (2 attempt spans + request span)"] = best(tracing, ex, max(n // 4, 1000))
        tracing.shutdown()
    width = max(len(k) for k in results)
    for name, us in results.items():
        print(f"{name:<{width}}  {us:7.2f} µs/request")


def one(name: str, n: int) -> None:
    snap, ex = snapshot(), exchange()
    fn: Any
    logging.getLogger().setLevel(logging.WARNING)
    if name == "meter":
        fn = Meter(lambda: snap).observe
    elif name == "access-off":
        fn = AccessLog(lambda: snap)
    elif name in ("access-text", "access-json"):
        handler = logging.StreamHandler(io.StringIO())
        handler.setFormatter(TextFormatter() if name == "access-text" else JsonFormatter())
        logger = logging.getLogger("relaygate.access")
        logger.handlers[:] = [handler]
        logger.propagate = False
        logger.setLevel(logging.INFO)
        fn = AccessLog(lambda: snap)
    elif name in ("direct-text", "direct-json"):  # what `serve` uses: LineWriter, no logging module
        from relaygate.core.logs import ACCESS, LineWriter

        logging.getLogger("relaygate.access").setLevel(logging.INFO)
        ACCESS["writer"] = LineWriter(name.split("-")[1], open(os.devnull, "w"))  # noqa: SIM115
        fn = AccessLog(lambda: snap)
        fn(ex)
        in_loop(fn, ex, n)  # as under serve: lines batched by the event loop's timer, written at 64 KiB
        return
    elif name == "traces-off":  # what Relay does per request when OTEL_EXPORTER_OTLP_ENDPOINT is unset
        from relaygate.services.gateway.relay import Relay

        relay = Relay.__new__(Relay)
        relay.traced = False

        def fn(e: Exchange) -> None:
            if relay.traced:
                e.traceparent = "set"

        assert not any(m.startswith("opentelemetry") for m in sys.modules), "tracing off imports OpenTelemetry"
    elif name == "traces":
        from relaygate.services.gateway.tracing import Tracing

        fn = Tracing("http://127.0.0.1:4318", "bench", lambda: snap)
    else:
        fn = lambda e: None  # noqa: E731  (the baseline: the loop and the call)
    fn(ex)  # warm: first-use allocations are not per-request costs
    best(fn, ex, n)


if __name__ == "__main__":
    main()
