"""Meter, the request-path counters behind /metrics: bounded labels, every refusal, cached label children.

The end-to-end scrape of a running gateway is tests/web/test_observability.py; here the Meter is fed
finished exchanges directly, so thousands of requests cost milliseconds.
"""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from relaygate.core.clock import monotonic
from relaygate.core.domain import ChannelRecord, GroupRecord
from relaygate.services.gateway import metrics
from relaygate.services.gateway.catalog import Route, Snapshot
from relaygate.services.gateway.exchange import Exchange
from relaygate.services.gateway.metrics import Meter


def snapshot(*models: str) -> Snapshot:
    snap = Snapshot.empty()
    ch = ChannelRecord(1, "main", "openai", "http://127.0.0.1:9/v1", ("sk-x",), {m: m for m in models},
                       None, 10, 1, True, None, 10.0, 60.0, 600.0)
    snap.channels[1] = ch
    for m in models:
        snap.routes[m] = [Route(ch, m)]
    snap.groups["default"] = GroupRecord("default", None)
    return snap


def finished(model: str | None = "m", status: int = 200, code: str | None = None, **more: Any) -> Exchange:
    rec: dict[str, Any] = {
        "entry_path": "/v1/chat/completions", "requested_model": model, "status": status, "error_code": code,
        "group_name": "default", "latency_ms": 120, "ttft_ms": None, "total_tokens": 0, "prompt_tokens": 0,
        "completion_tokens": 0, "cached_tokens": 0, "cost": 0, "attempts": 1 if status < 400 else 0,
        "channel_id": 1, "detail": None, **more}
    return Exchange(rec, monotonic())


def scrape(meter: Meter) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(generate_latest(meter.registry).decode()):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(v for lab, v in samples.get(name, []) if all(lab.get(k) == x for k, x in labels.items()))


def test_every_refusal_by_status_and_reason_and_nothing_else() -> None:
    snap = snapshot("m")
    meter = Meter(lambda: snap)
    for status, code in ((401, "invalid_api_key"), (402, "insufficient_balance"), (403, "model_not_allowed"),
                         (429, "rate_limited"), (429, "rate_limited"), (400, "invalid_request"), (200, None)):
        meter.observe(finished(status=status, code=code))
    m = scrape(meter)
    assert value(m, "relaygate_refusals_total", status="401", reason="invalid_api_key") == 1
    assert value(m, "relaygate_refusals_total", status="402", reason="insufficient_balance") == 1
    assert value(m, "relaygate_refusals_total", status="403", reason="model_not_allowed") == 1
    assert value(m, "relaygate_refusals_total", status="429", reason="rate_limited") == 2
    assert value(m, "relaygate_refusals_total") == 5  # a 400 is bad input, not a refusal
    assert value(m, "relaygate_requests_total", status_class="4xx") == 6
    assert value(m, "relaygate_requests_total", status_class="2xx", error_code="") == 1


def test_caller_invented_models_add_no_series() -> None:
    snap = snapshot("m")
    meter = Meter(lambda: snap)
    for i in range(3000):
        meter.observe(finished(f"made-up-{i}", 404, "model_not_found"))
    models = {lab["model"] for lab, _ in scrape(meter)["relaygate_requests_total"]}
    assert models == {"other"}
    assert len(meter._children) <= metrics.CHILDREN  # the cache of label children is bounded too


def test_a_metric_stops_at_max_series(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "MAX_SERIES", 5)
    counter = metrics._Counter("c", "doc", ("a", "b"))
    for i in range(20):
        counter.inc((f"x{i}", "y"))
    assert len(counter.values) == 6 and counter.values[("other", "other")] == [15.0]
    hist = metrics._Histogram("h", "doc", ("a",), (1.0,))
    for i in range(20):
        hist.observe((f"x{i}",), 0.5)
    assert len(hist.values) == 6 and hist.values[("other",)][0] == 15


def test_a_model_that_becomes_known_gets_its_own_label_after_the_reload() -> None:
    state = {"snap": snapshot("m")}
    meter = Meter(lambda: state["snap"])
    meter.observe(finished("new-model"))
    state["snap"] = snapshot("m", "new-model")  # a reload replaces the snapshot
    meter.observe(finished("new-model"))
    m = scrape(meter)
    assert value(m, "relaygate_requests_total", model="other") == 1
    assert value(m, "relaygate_requests_total", model="new-model") == 1


def test_tokens_spend_ttft_overhead_and_failover_from_one_child() -> None:
    snap = snapshot("m")
    meter = Meter(lambda: snap, "CNY")
    for _ in range(3):
        ex = finished(total_tokens=15, prompt_tokens=10, completion_tokens=5, cached_tokens=4, cost=2_500_000_000,
                      ttft_ms=300, attempts=2, detail={"attempts": [{"channel_id": 1, "error": "timeout"}]})
        ex.overhead = 0.0007
        meter.observe(ex)
    m = scrape(meter)
    assert value(m, "relaygate_tokens_total", model="m", group="default", kind="input") == 30
    assert value(m, "relaygate_tokens_total", model="m", group="default", kind="output") == 15
    assert value(m, "relaygate_tokens_total", model="m", group="default", kind="cached") == 12
    assert value(m, "relaygate_spend_total", model="m", group="default", currency="CNY") == pytest.approx(7.5)
    assert value(m, "relaygate_time_to_first_token_seconds_count", model="m") == 3
    assert value(m, "relaygate_time_to_first_token_seconds_bucket", model="m", le="0.25") == 0
    assert value(m, "relaygate_time_to_first_token_seconds_bucket", model="m", le="0.5") == 3
    assert value(m, "relaygate_gateway_overhead_seconds_bucket", endpoint="chat/completions", le="0.001") == 3
    assert value(m, "relaygate_request_duration_seconds_sum", model="m") == pytest.approx(0.36)
    assert value(m, "relaygate_upstream_attempts_total", channel="main") == 6  # the failed one, then the answer
    assert value(m, "relaygate_upstream_failures_total", channel="main", kind="timeout") == 3
    assert value(m, "relaygate_upstream_failovers_total", channel="main") == 3
