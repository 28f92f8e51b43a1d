"""Request-path counters for /metrics: one ``observe`` call per finished request, a few dict lookups.

Labels are bounded by construction: endpoints and dialects come from a fixed table, models and groups
only when the catalog knows them (anything else is ``other``), channels by their configured name,
error codes from the catalogue. No key id, request id, owner or caller-chosen text is ever a label.
Every label set is also capped (``MAX_SERIES``): a misbehaving name cannot grow the exposition
without bound. A request costs one dict lookup for its cached label child and a few list additions
(bench/observers.py, bench/observers_instr.sh); prometheus-client builds the exposition when scraped.
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


def _slot(values: dict[tuple[str, ...], list[float]], key: tuple[str, ...], size: int) -> list[float]:
    """The list of one label set (created at zeros); past MAX_SERIES new label sets share 'other'."""
    found = values.get(key)
    if found is None:
        if len(values) >= MAX_SERIES:
            key = tuple("other" for _ in key)
            found = values.get(key)
        if found is None:
            found = values[key] = [0.0] * size
    return found


class _Counter:
    """Counts per label tuple, each in a one-element list a cached label child adds to directly."""

    __slots__ = ("doc", "labels", "name", "values")

    def __init__(self, name: str, doc: str, labels: tuple[str, ...]) -> None:
        self.name, self.doc, self.labels = name, doc, labels
        self.values: dict[tuple[str, ...], list[float]] = {}

    def cell(self, key: tuple[str, ...]) -> list[float]:
        """The counter of one label set (created at 0); past MAX_SERIES new label sets share 'other'."""
        return _slot(self.values, key, 1)

    def inc(self, key: tuple[str, ...], amount: float = 1) -> None:
        self.cell(key)[0] += amount

    def family(self) -> CounterMetricFamily:
        fam = CounterMetricFamily(self.name, self.doc, labels=self.labels)
        for key, cell in self.values.items():
            fam.add_metric(key, cell[0])
        return fam


class _Histogram:
    """Bucket counts per label tuple: a row of counts per bucket (+Inf last), then the sum."""

    __slots__ = ("bounds", "doc", "labels", "name", "values")

    def __init__(self, name: str, doc: str, labels: tuple[str, ...], bounds: tuple[float, ...]) -> None:
        self.name, self.doc, self.labels, self.bounds = name, doc, labels, bounds
        self.values: dict[tuple[str, ...], list[float]] = {}

    def row(self, key: tuple[str, ...]) -> list[float]:
        return _slot(self.values, key, len(self.bounds) + 2)

    def observe(self, key: tuple[str, ...], value: float) -> None:
        row = self.row(key)
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


class _Child:
    """The cells one kind of request adds to (its endpoint, model, status, error code and group resolved once)."""

    __slots__ = ("cached", "group", "input", "latency", "meter", "model", "output", "overhead", "refusal",
                 "requests", "spend", "ttft")

    def __init__(self, meter: Meter, key: tuple[Any, ...], snap: Snapshot) -> None:
        path, requested, status, code, group = key
        endpoint, dialect = endpoint_of(path)
        model = ""
        if requested is not None:
            name = snap.aliases.get(requested, requested)
            model = name if (name in snap.routes or name in snap.models) else "other"
        code = code or ""
        self.meter, self.model = meter, model
        self.group = "other" if group and group not in snap.groups else (group or "")
        self.requests = meter.requests.cell((endpoint, dialect, model, f"{status // 100}xx", code))
        self.latency = meter.latency.row((endpoint, model))
        self.overhead = meter.overhead.row((endpoint,))
        self.refusal = meter.refusals.cell((str(status), code)) if status in REFUSALS else None
        self.ttft: list[float] | None = None  # the cells below only once a request of this kind needs them
        self.input: list[float] | None = None
        self.output: list[float] | None = None
        self.cached: list[float] | None = None
        self.spend: list[float] | None = None

    def tokens(self) -> None:
        tokens, key = self.meter.tokens, (self.model, self.group)
        self.input, self.output = tokens.cell((*key, "input")), tokens.cell((*key, "output"))

    def more(self, kind: str) -> list[float]:
        m = self.meter
        if kind == "ttft":
            self.ttft = m.ttft.row((self.model,))
            return self.ttft
        if kind == "cached":
            self.cached = m.tokens.cell((self.model, self.group, "cached"))
            return self.cached
        self.spend = m.spend.cell((self.model, self.group, m.currency))
        return self.spend


class _Channel:
    """A channel's cells: attempts, failovers, failures by kind."""

    __slots__ = ("attempts", "failovers", "failures", "meter", "name")

    def __init__(self, meter: Meter, name: str) -> None:
        self.meter, self.name = meter, name
        self.attempts = meter.attempts.cell((name,))
        self.failovers: list[float] | None = None
        self.failures: dict[str, list[float]] = {}

    def failed(self, kind: str) -> None:
        cell = self.failures.get(kind)
        if cell is None:
            cell = self.meter.failures.cell((self.name, kind))
            if len(self.failures) < 64:  # kinds are a short fixed list; never let a cache grow unbounded
                self.failures[kind] = cell
        cell[0] += 1

    def failed_over(self) -> None:
        if self.failovers is None:
            self.failovers = self.meter.failovers.cell((self.name,))
        self.failovers[0] += 1


CHILDREN = 1024  # cached kinds of request; past it the cache starts again (model names are caller text)


class Meter(Collector):
    """The gateway's request metrics, in a registry of its own (one per Gateway, so tests can run many).

    ``observe`` only adds to lists it found through one dict lookup (a cached label child per kind of
    request: path, model, status, error code, group); no locks, no metric objects. It runs on the event
    loop, as does the scrape; the exposition is built by ``collect`` when /metrics is read. The child
    cache starts again whenever the routing snapshot changes (a model or group may have become known).
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
        self._snap: Snapshot | None = None
        self._children: dict[tuple[Any, ...], _Child] = {}
        self._channels: dict[Any, _Channel] = {}
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
        snap = self.snapshot()
        if snap is not self._snap:
            self._snap = snap
            self._children.clear()
            self._channels.clear()
        status: int = rec["status"] or 0
        key = (rec["entry_path"], rec["requested_model"], status, rec["error_code"], rec["group_name"])
        child = self._children.get(key)
        if child is None:
            if len(self._children) >= CHILDREN:
                self._children.clear()
            child = self._children[key] = _Child(self, key, snap)
        child.requests[0] += 1
        seconds = rec["latency_ms"] / 1000
        row = child.latency
        row[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        row[-1] += seconds
        if rec["ttft_ms"] is not None:
            seconds = rec["ttft_ms"] / 1000
            row = child.ttft or child.more("ttft")
            row[bisect_left(TTFT_BUCKETS, seconds)] += 1
            row[-1] += seconds
        if child.refusal is not None:
            child.refusal[0] += 1
        if ex.overhead is not None:
            row = child.overhead
            row[bisect_left(OVERHEAD_BUCKETS, ex.overhead)] += 1
            row[-1] += ex.overhead
        if rec["total_tokens"]:
            if child.input is None:
                child.tokens()
            child.input[0] += rec["prompt_tokens"]  # type: ignore[index]
            child.output[0] += rec["completion_tokens"]  # type: ignore[index]
            if rec["cached_tokens"]:
                (child.cached or child.more("cached"))[0] += rec["cached_tokens"]
            if rec["cost"]:
                (child.spend or child.more("spend"))[0] += rec["cost"] / NANOS
        if rec["attempts"]:
            self._attempts(rec, snap)

    def _channel(self, channel_id: Any, snap: Snapshot) -> _Channel:
        found = self._channels.get(channel_id)
        if found is None:
            channel = snap.channels.get(channel_id)
            name = channel.name if channel is not None else "other"
            found = _Channel(self, name)
            if channel is not None:  # only configured channels are cached: the dict stays as small as the config
                self._channels[channel_id] = found
        return found

    def _attempts(self, rec: dict[str, Any], snap: Snapshot) -> None:
        detail = rec["detail"]
        tried = detail.get("attempts") if isinstance(detail, dict) else None
        if not tried:  # one attempt, the record's channel
            channel = self._channel(rec["channel_id"], snap)
            channel.attempts[0] += 1
            if (rec["status"] or 0) >= 500 and rec["error_code"] != "client_disconnected":
                channel.failed(rec["error_code"] or "error")
            return
        # a non-streamed answer is recorded inside its attempt, before that attempt joins the list
        answering = rec["attempts"] > len(tried)
        last = len(tried) if answering else len(tried) - 1
        for i, attempt in enumerate(tried):
            channel = self._channel(attempt["channel_id"], snap)
            channel.attempts[0] += 1
            if attempt["error"] is not None:
                channel.failed(attempt["error"])
                if i < last:
                    channel.failed_over()
        if answering:
            self._channel(rec["channel_id"], snap).attempts[0] += 1
