"""Request-path counters for /metrics: one ``observe`` call per finished request, a few dict lookups.

Labels are bounded by construction: endpoints and dialects come from a fixed table, models and groups
only when the catalog knows them (anything else is ``other``), channels by their configured name,
error codes from the catalogue. No key id, request id, owner or caller-chosen text is ever a label.
Every label set is also capped (``MAX_SERIES``): a misbehaving name cannot grow the exposition
without bound. Children are cached per label tuple, so a request costs a handful of lock-protected
increments and no label validation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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


class _Family:
    """A metric with cached children and a cap on distinct label sets."""

    __slots__ = ("children", "metric", "other")

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self.children: dict[tuple[str, ...], Any] = {}
        self.other: tuple[str, ...] | None = None

    def get(self, labels: tuple[str, ...]) -> Any:
        child = self.children.get(labels)
        if child is None:
            if len(self.children) >= MAX_SERIES:
                return self.get(tuple("other" for _ in labels))
            child = self.children[labels] = self.metric.labels(*labels)
        return child


class Meter:
    """The gateway's request metrics, in a registry of its own (one per Gateway, so tests can run many)."""

    def __init__(self, snapshot: Callable[[], Snapshot], currency: str = "USD") -> None:
        self.snapshot = snapshot
        self.currency = currency
        self.registry = r = CollectorRegistry(auto_describe=False)
        self.requests = _Family(Counter(
            "relaygate_requests", "Relayed requests by endpoint, caller dialect, public model, status class "
            "(2xx, 4xx, 5xx) and error code (empty when none).",
            ["endpoint", "dialect", "model", "status_class", "error_code"], registry=r))
        self.latency = _Family(Histogram(
            "relaygate_request_duration_seconds", "Time from request arrival to the end of the answer "
            "(the last stream event for streams).", ["endpoint", "model"], buckets=LATENCY_BUCKETS,
            registry=r))
        self.ttft = _Family(Histogram(
            "relaygate_time_to_first_token_seconds", "Streams: time from request arrival to the first "
            "answer token sent to the caller.", ["model"], buckets=TTFT_BUCKETS, registry=r))
        self.overhead = _Family(Histogram(
            "relaygate_gateway_overhead_seconds", "Time relaygate spent before sending the upstream request "
            "that answered (authentication, parsing, limits, money holds, routing), without the time "
            "spent waiting on failed attempts.", ["endpoint"], buckets=OVERHEAD_BUCKETS, registry=r))
        self.tokens = _Family(Counter(
            "relaygate_tokens", "Tokens by public model, group and kind (input, output, cached).",
            ["model", "group", "kind"], registry=r))
        self.spend = _Family(Counter(
            "relaygate_spend", "Money charged, in currency units, by public model and group.",
            ["model", "group", "currency"], registry=r))
        self.refusals = _Family(Counter(
            "relaygate_refusals", "Requests refused with 401, 402, 403 or 429, by status and reason "
            "(the error code).", ["status", "reason"], registry=r))
        self.attempts = _Family(Counter(
            "relaygate_upstream_attempts", "Upstream attempts by channel.", ["channel"], registry=r))
        self.failures = _Family(Counter(
            "relaygate_upstream_failures", "Failed upstream attempts by channel and kind (http_503, timeout, "
            "connect_error, …).", ["channel", "kind"], registry=r))
        self.failovers = _Family(Counter(
            "relaygate_upstream_failovers", "Requests moved on to another channel after this channel failed.",
            ["channel"], registry=r))
        self.holds = Gauge("relaygate_holds_in_flight", "Requests of this process holding money or limits "
                           "right now (admitted, not finished).", registry=r)
        self._holds = 0
        self.holds.set_function(lambda: self._holds)

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
        self.requests.get((endpoint, dialect, model, f"{status // 100}xx", code)).inc()
        self.latency.get((endpoint, model)).observe(rec["latency_ms"] / 1000)
        if rec["ttft_ms"] is not None:
            self.ttft.get((model,)).observe(rec["ttft_ms"] / 1000)
        if status in REFUSALS:
            self.refusals.get((str(status), code)).inc()
        if ex.overhead is not None:
            self.overhead.get((endpoint,)).observe(ex.overhead)
        if rec["total_tokens"]:
            group = rec["group_name"] or ""
            if group and group not in snap.groups:
                group = "other"
            self.tokens.get((model, group, "input")).inc(rec["prompt_tokens"])
            self.tokens.get((model, group, "output")).inc(rec["completion_tokens"])
            if rec["cached_tokens"]:
                self.tokens.get((model, group, "cached")).inc(rec["cached_tokens"])
            if rec["cost"]:
                self.spend.get((model, group, self.currency)).inc(rec["cost"] / NANOS)
        if rec["attempts"]:
            self._attempts(rec, snap)

    def _attempts(self, rec: dict[str, Any], snap: Snapshot) -> None:
        channels = snap.channels
        detail = rec["detail"]
        tried = detail.get("attempts") if isinstance(detail, dict) else None
        if not tried:  # one attempt, the record's channel
            channel = channels.get(rec["channel_id"])
            self.attempts.get((channel.name if channel else "other",)).inc()
            if (rec["status"] or 0) >= 500 and rec["error_code"] != "client_disconnected":
                self.failures.get((channel.name if channel else "other", rec["error_code"] or "error")).inc()
            return
        # a non-streamed answer is recorded inside its attempt, before that attempt joins the list
        answering = rec["attempts"] > len(tried)
        last = len(tried) if answering else len(tried) - 1
        for i, attempt in enumerate(tried):
            channel = channels.get(attempt["channel_id"])
            name = channel.name if channel else "other"
            self.attempts.get((name,)).inc()
            if attempt["error"] is not None:
                self.failures.get((name, attempt["error"])).inc()
                if i < last:
                    self.failovers.get((name,)).inc()
        if answering:
            channel = channels.get(rec["channel_id"])
            self.attempts.get((channel.name if channel else "other",)).inc()
