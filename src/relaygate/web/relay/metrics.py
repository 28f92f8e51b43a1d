"""/metrics (Prometheus text, prometheus-client) and /health/live + /health/ready for load balancers.

Request counters are kept on the request path by ``services.gateway.metrics.Meter``; the figures that
are state, not events (channel health, the usage writer's queue and lag, config age) are read here
when scraped, so they cost nothing per request.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import time
import weakref
from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import text

from relaygate.app import Gateway
from relaygate.core.redact import redact

READY_TIMEOUT = 2.0  # seconds each readiness check may take
_WITH_STATE: weakref.WeakSet[Any] = weakref.WeakSet()  # registries that carry the state collector
_CREDENTIALS = re.compile(r"(\w+://)[^\s/@]*@")  # user:password@ in a URL a driver may quote


class StateCollector(Collector):
    """Gauges computed from the gateway's state at scrape time."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gw = self.gateway
        cooling = GaugeMetricFamily("relaygate_channel_cooling", "1 when a channel is cooling down after "
                                    "failures, else 0.", labels=["channel"])
        failures = GaugeMetricFamily("relaygate_channel_consecutive_failures", "Consecutive failed attempts "
                                     "of a channel.", labels=["channel"])
        enabled = GaugeMetricFamily("relaygate_channel_enabled", "1 when a channel is enabled.", labels=["channel"])
        for cid, channel in sorted(gw.state.snapshot.channels.items()):
            state = gw.health.get(cid) if not gw.health.is_available(cid) else None
            cooling.add_metric([channel.name], 0 if state is None else 1)
            failures.add_metric([channel.name], gw.health.get(cid).consecutive_failures)
            enabled.add_metric([channel.name], 1 if channel.enabled else 0)
        yield cooling
        yield failures
        yield enabled
        yield GaugeMetricFamily("relaygate_usage_pending", "Usage records waiting to be written.",
                                value=gw.usage.pending)
        oldest = gw.usage.oldest_pending_ms()
        lag = max(time.time() * 1000 - oldest, 0) / 1000 if oldest is not None else 0.0
        yield GaugeMetricFamily("relaygate_usage_lag_seconds", "Age of the oldest usage record not yet "
                                "written (0 when none waits).", value=lag)
        yield GaugeMetricFamily("relaygate_usage_written", "Usage records written by this process "
                                "(a counter since start).", value=gw.usage.written)
        loaded = gw.state.loaded_at
        age = asyncio.get_running_loop().time() - loaded if loaded else -1.0
        yield GaugeMetricFamily("relaygate_config_age_seconds", "Seconds since this process last loaded keys "
                                "and routing (-1: never).", value=age)


def metrics_allowed(gateway: Gateway, headers: list[tuple[bytes, bytes]]) -> bool:
    """True when /metrics needs no token or the request carries the right bearer token."""
    token = gateway.settings.metrics_token
    if not token:
        return True
    for name, value in headers:
        if name == b"authorization":
            scheme, _, presented = value.decode("latin-1").partition(" ")
            return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())
    return False


def render_metrics(gateway: Gateway) -> tuple[bytes, str]:
    """The exposition text and its content type."""
    assert gateway.meter is not None
    registry = gateway.meter.registry
    if registry not in _WITH_STATE:
        registry.register(StateCollector(gateway))
        _WITH_STATE.add(registry)
    return generate_latest(registry), CONTENT_TYPE_LATEST


async def _timed(check: Any) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        await asyncio.wait_for(check, READY_TIMEOUT)
        return {"ok": True, "ms": round((time.perf_counter() - t0) * 1000, 1)}
    except TimeoutError:
        return {"ok": False, "error": f"no answer within {READY_TIMEOUT:.0f}s"}
    except Exception as exc:  # what failed and why (the driver's own words), never a URL's credentials
        return {"ok": False, "error": _reason(exc)}


def _reason(exc: BaseException) -> str:
    """``Class: first line of the message`` of the driver's error (not SQLAlchemy's wrapper), bounded, redacted."""
    inner = getattr(exc, "orig", None) or exc.__cause__ or exc
    first = (str(inner).strip().splitlines() or [""])[0]
    first = redact(_CREDENTIALS.sub(r"\1…@", first))[:200]
    return f"{type(inner).__name__}: {first}" if first else type(inner).__name__


async def _db_ping(gateway: Gateway) -> None:
    async with gateway.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def readiness(gateway: Gateway) -> tuple[int, dict[str, Any]]:
    """(status, document) for /health/ready: 200 when every check passes, else 503 naming the failures."""
    s = gateway.settings
    checks: dict[str, dict[str, Any]] = {"database": await _timed(_db_ping(gateway))}
    loaded = gateway.state.loaded_at
    checks["config"] = ({"ok": True, "version": gateway.state.version} if loaded and gateway.relay is not None
                        else {"ok": False, "error": "keys and routing not loaded yet"})
    oldest = gateway.usage.oldest_pending_ms()
    lag = max(time.time() * 1000 - oldest, 0) / 1000 if oldest is not None else 0.0
    limit = s.ready_writer_lag_seconds
    checks["usage_writer"] = ({"ok": True, "pending": gateway.usage.pending, "lag_seconds": round(lag, 3)}
                              if lag <= limit else
                              {"ok": False, "pending": gateway.usage.pending, "lag_seconds": round(lag, 3),
                               "error": f"oldest unwritten usage record is older than {limit:g}s"})
    client = getattr(gateway.counters, "client", None)
    if s.redis_url and client is not None:
        checks["redis"] = await _timed(client.ping())
    ok = all(c["ok"] for c in checks.values())
    return (200 if ok else 503), {"status": "ready" if ok else "not_ready", "checks": checks}
