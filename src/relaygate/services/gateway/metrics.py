"""Request-path counters for /metrics: one ``observe`` call per finished request, a few dict lookups.

Labels are bounded by construction: endpoints and dialects come from a fixed table, models and groups
only when the catalog knows them (anything else is ``other``), channels by their configured name,
error codes from the catalogue. No key id, request id, owner or caller-chosen text is ever a label.
Every label set is also capped (``MAX_SERIES``): a misbehaving name cannot grow the exposition
without bound. A request costs a few dict additions (bench/observers.py); prometheus-client builds
the exposition from them when scraped.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from relaygate.core.money import NANOS
from relaygate.services.gateway.catalog import Snapshot
from relaygate.services.gateway.exchange import Exchange

# inbound path (without /v1) -> (endpoint, dialect); Gemini paths are recognised by their action
ENDPOINTS: dict[str, tuple[str, str]] = {
    "/chat/completions": ("chat/completions", "openai"),
    "/completions": ("completions", "openai"),
    "/embeddings": ("embeddings", "openai"),
    "/messages": ("messages", "anthropic"),
    "/messages/count_tokens": ("messages/count_tokens", "anthropic"),
    "/responses": ("responses", "responses"),
}
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)
OVERHEAD_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
REFUSALS = frozenset({401, 402, 403, 429})
MAX_SERIES = 2000  # per metric; beyond it new label sets are folded into "other"


def endpoint_of(path: str) -> tuple[str, str]:
    """(endpoint, dialect) for an inbound relay path; unknown paths are ('other', 'other')."""
    bare = path[3:] if path.startswith("/v1/") else path
    found = ENDPOINTS.get(bare)
    if found is not None:
        return found
    if path.endswith(":streamGenerateContent") or path.endswith(":generateContent"):
        return ("generateContent", "gemini")
    return ("other", "other")


class _Counter:
    """Plain dict counts per label tuple; turned into a metric family only when scraped."""

    __slots__ = ("doc", "labels", "name", "values")

    def __init__(self, name: str, doc: str, labels: tuple[str, ...]) -> None:
        self.name, self.doc, self.labels = name, doc, labels
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, key: tuple[str, ...], amount: float = 1) -> None:
        values = self.values
        if key in values:
            values[key] += amount
        elif len(values) < MAX_SERIES:
            values[key] = amount
        else:
            other = tuple("other" for _ in key)
            values[other] = values.get(other, 0) + amount

    def family(self) -> CounterMetricFamily:
        fam = CounterMetricFamily(self.name, self.doc, labels=self.labels)
        for key, value in self.values.items():
            fam.add_metric(key, value)
        return fam


class _Histogram:
    """Bucket counts per label tuple (one bisect and two additions per observation)."""

    __slots__ = ("bounds", "doc", "labels", "name", "values")

    def __init__(self, name: str, doc: str, labels: tuple[str, ...], bounds: tuple[float, ...]) -> None:
        self.name, self.doc, self.labels, self.bounds = name, doc, labels, bounds
        self.values: dict[tuple[str, ...], list[float]] = {}  # counts per bucket (+Inf last), then the sum

    def observe(self, key: tuple[str, ...], value: float) -> None:
        row = self.values.get(key)
        if row is None:
            if len(self.values) >= MAX_SERIES:
                key = tuple("other" for _ in key)
                row = self.values.get(key)
            if row is None:
                row = self.values[key] = [0.0] * (len(self.bounds) + 2)
        row[bisect_left(self.bounds, value)] += 1
        row[-1] += value

    def family(self) -> HistogramMetricFamily:
        fam = HistogramMetricFamily(self.name, self.doc, labels=self.labels)
        for key, row in self.values.items():
            buckets, total = [], 0.0
            for bound, count in zip((*self.bounds, float("inf")), row, strict=False):
                total += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), total))
            fam.add_metric(key, buckets, sum_value=row[-1])
        return fam


class Meter(Collector):
    """The gateway's request metrics, in a registry of its own (one per Gateway, so tests can run many).

    ``observe`` only adds to dicts (no locks, no metric objects: it runs on the event loop, as does the
    scrape); the exposition is built from them by ``collect`` when /metrics is read.
    """

    def __init__(self, snapshot: Callable[[], Snapshot], currency: str = "USD") -> None:
        self.snapshot = snapshot
        self.currency = currency
        self.requests = _Counter(
            "relaygate_requests", "Relayed requests by endpoint, caller dialect, public model, status class "
            "(2xx, 4xx, 5xx) and error code (empty when none).",
            ("endpoint", "dialect", "model", "status_class", "error_code"))
        self.latency = _Histogram(
            "relaygate_request_duration_seconds", "Time from request arrival to the end of the answer "
            "(the last stream event for streams).", ("endpoint", "model"), LATENCY_BUCKETS)
        self.ttft = _Histogram(
            "relaygate_time_to_first_token_seconds", "Streams: time from request arrival to the first "
            "answer token sent to the caller.", ("model",), TTFT_BUCKETS)
        self.overhead = _Histogram(
            "relaygate_gateway_overhead_seconds", "Time relaygate spent before sending the upstream request "
            "that answered (authentication, parsing, limits, money holds, routing), without the time "
            "spent waiting on failed attempts.", ("endpoint",), OVERHEAD_BUCKETS)
        self.tokens = _Counter("relaygate_tokens", "Tokens by public model, group and kind (input, output, "
                               "cached).", ("model", "group", "kind"))
        self.spend = _Counter("relaygate_spend", "Money charged, in currency units, by public model and group.",
                              ("model", "group", "currency"))
        self.refusals = _Counter("relaygate_refusals", "Requests refused with 401, 402, 403 or 429, by status "
                                 "and reason (the error code).", ("status", "reason"))
        self.attempts = _Counter("relaygate_upstream_attempts", "Upstream attempts by channel.", ("channel",))
        self.failures = _Counter("relaygate_upstream_failures", "Failed upstream attempts by channel and kind "
                                 "(http_503, timeout, connect_error, …).", ("channel", "kind"))
        self.failovers = _Counter("relaygate_upstream_failovers", "Requests moved on to another channel after "
                                  "this channel failed.", ("channel",))
        self._holds = 0
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def collect(self) -> Iterator[Any]:
        for metric in (self.requests, self.latency, self.ttft, self.overhead, self.tokens, self.spend,
                       self.refusals, self.attempts, self.failures, self.failovers):
            yield metric.family()
        yield GaugeMetricFamily("relaygate_holds_in_flight", "Requests of this process holding money or limits "
                                "right now (admitted, not finished).", value=self._holds)

    def admitted(self) -> None:
        """A request took its hold (called after the gate let it in)."""
        self._holds += 1

    def observe(self, ex: Exchange) -> None:
        """Count one finished request (called once, from Relay.finish)."""
        rec = ex.rec
        if ex.admitted is not None:
            self._holds -= 1
        endpoint, dialect = endpoint_of(rec["entry_path"])
        snap = self.snapshot()
        requested = rec["requested_model"]
        model = ""
        if requested is not None:
            name = snap.aliases.get(requested, requested)
            model = name if (name in snap.routes or name in snap.models) else "other"
        status: int = rec["status"] or 0
        code = rec["error_code"] or ""
        self.requests.inc((endpoint, dialect, model, f"{status // 100}xx", code))
        self.latency.observe((endpoint, model), rec["latency_ms"] / 1000)
        if rec["ttft_ms"] is not None:
            self.ttft.observe((model,), rec["ttft_ms"] / 1000)
        if status in REFUSALS:
            self.refusals.inc((str(status), code))
        if ex.overhead is not None:
            self.overhead.observe((endpoint,), ex.overhead)
        if rec["total_tokens"]:
            group = rec["group_name"] or ""
            if group and group not in snap.groups:
                group = "other"
            self.tokens.inc((model, group, "input"), rec["prompt_tokens"])
            self.tokens.inc((model, group, "output"), rec["completion_tokens"])
            if rec["cached_tokens"]:
                self.tokens.inc((model, group, "cached"), rec["cached_tokens"])
            if rec["cost"]:
                self.spend.inc((model, group, self.currency), rec["cost"] / NANOS)
        if rec["attempts"]:
            self._attempts(rec, snap)

    def _attempts(self, rec: dict[str, Any], snap: Snapshot) -> None:
        channels = snap.channels
        detail = rec["detail"]
        tried = detail.get("attempts") if isinstance(detail, dict) else None
        if not tried:  # one attempt, the record's channel
            channel = channels.get(rec["channel_id"])
            self.attempts.inc((channel.name if channel else "other",))
            if (rec["status"] or 0) >= 500 and rec["error_code"] != "client_disconnected":
                self.failures.inc((channel.name if channel else "other", rec["error_code"] or "error"))
            return
        # a non-streamed answer is recorded inside its attempt, before that attempt joins the list
        answering = rec["attempts"] > len(tried)
        last = len(tried) if answering else len(tried) - 1
        for i, attempt in enumerate(tried):
            channel = channels.get(attempt["channel_id"])
            name = channel.name if channel else "other"
            self.attempts.inc((name,))
            if attempt["error"] is not None:
                self.failures.inc((name, attempt["error"]))
                if i < last:
                    self.failovers.inc((name,))
        if answering:
            channel = channels.get(rec["channel_id"])
            self.attempts.inc((channel.name if channel else "other",))
