"""/metrics scraped and parsed as Prometheus text, /health/live and /health/ready, the access log, channel warnings."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from relaygate.core.logs import JsonFormatter
from relaygate.core.money import parse_amount
from tests.harness import Running, plan, running_gateway, start_fake

PROMPT = "the secret plan is hidden in the lighthouse"


def chat(model: str = "m", stream: bool = False) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": PROMPT}], "stream": stream}


async def scrape(gw: Running, token: str | None = None) -> dict[str, list[tuple[dict[str, str], float]]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as s, s.get(f"{gw.root}/metrics", headers=headers) as r:
        assert r.status == 200, await r.text()
        assert r.headers["Content-Type"].startswith("text/plain; version=")
        text = await r.text()
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):  # fails on malformed exposition text
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(v for lab, v in samples.get(name, []) if all(lab.get(k) == x for k, x in labels.items()))


async def test_metrics_count_requests_tokens_refusals_and_failover(gw: Running) -> None:
    a, b = await start_fake(), await start_fake()
    gw.fakes += [a, b]
    await gw.add_channel(a, "primary", {"m": "m"}, priority=10)
    await gw.add_channel(b, "backup", {"m": "m"}, priority=0)
    secret, key_id = await gw.add_key()
    await plan(a, "m", {"kind": "status", "status": 503})
    auth = {"Authorization": f"Bearer {secret}"}
    async with aiohttp.ClientSession() as s:
        for body in (chat(), chat(), chat(stream=True)):
            async with s.post(f"{gw.base_url}/chat/completions", json=body, headers=auth) as r:
                assert r.status == 200
                await r.read()
        async with s.post(f"{gw.base_url}/chat/completions", json=chat(),
                          headers={"Authorization": "Bearer sk-wrong-key-000000000000000000"}) as r:
            assert r.status == 401
        async with s.post(f"{gw.root}/v1/messages", json={"model": "no-such-model", "max_tokens": 5,
                                                          "messages": [{"role": "user", "content": "x"}]},
                          headers={"x-api-key": secret}) as r:
            assert r.status == 404
    m = await scrape(gw)
    ok = value(m, "relaygate_requests_total", endpoint="chat/completions", dialect="openai", model="m",
               status_class="2xx", error_code="")
    assert ok == 3
    assert value(m, "relaygate_requests_total", status_class="4xx", error_code="invalid_api_key") == 1
    assert value(m, "relaygate_requests_total", endpoint="messages", dialect="anthropic", model="other",
                 error_code="model_not_found") == 1
    assert value(m, "relaygate_refusals_total", status="401", reason="invalid_api_key") == 1
    assert value(m, "relaygate_upstream_attempts_total", channel="primary") == 3  # one failed, two answered
    assert value(m, "relaygate_upstream_attempts_total", channel="backup") == 1
    assert value(m, "relaygate_upstream_failures_total", channel="primary", kind="http_503") == 1
    assert value(m, "relaygate_upstream_failovers_total", channel="primary") == 1
    assert value(m, "relaygate_tokens_total", model="m", group="default", kind="input") > 0
    assert value(m, "relaygate_tokens_total", model="m", group="default", kind="output") > 0
    assert value(m, "relaygate_request_duration_seconds_count", endpoint="chat/completions", model="m") == 3
    assert value(m, "relaygate_time_to_first_token_seconds_count", model="m") == 1
    assert value(m, "relaygate_gateway_overhead_seconds_count", endpoint="chat/completions") == 3
    assert value(m, "relaygate_holds_in_flight") == 0
    assert value(m, "relaygate_channel_cooling", channel="primary") == 0
    assert "relaygate_usage_pending" in m and "relaygate_usage_lag_seconds" in m
    # bounded labels only: no key id, request id, secret or owner anywhere in a label
    labels = {v for samples in m.values() for lab, _ in samples for v in lab.values()}
    assert not any(key_id in v or secret in v or v.startswith("req") or "alice" in v for v in labels)


async def test_spend_is_counted_in_currency_units(gw: Running) -> None:
    fake = await start_fake()
    gw.fakes.append(fake)
    await gw.add_channel(fake, "paid", {"p": "p"})
    await gw.gateway.pricing.set_price("p", input_per_m="1000000", output_per_m="1000000")  # 1 unit a token
    secret, _ = await gw.add_key("payer")
    await gw.gateway.ledger.record("payer", "topup", parse_amount("100000"), "test credit", "tests")
    await gw.gateway.balance_sync.apply_credits()
    async with aiohttp.ClientSession() as s, s.post(f"{gw.base_url}/chat/completions", json=chat("p"),
                                                    headers={"Authorization": f"Bearer {secret}"}) as r:
        assert r.status == 200, await r.text()
        usage = (await r.json())["usage"]
    m = await scrape(gw)
    assert value(m, "relaygate_spend_total", model="p", group="default") == usage["total_tokens"]


async def test_metrics_bearer_protection(sqlite_url: str, tmp_path: Path) -> None:
    async with running_gateway(sqlite_url, data_dir=str(tmp_path), metrics_token="scrape-me-please") as gw:
        async with aiohttp.ClientSession() as s:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic scrape-me-please"}):
                async with s.get(f"{gw.root}/metrics", headers=headers) as r:
                    assert r.status == 401 and r.headers["WWW-Authenticate"] == "Bearer"
        m = await scrape(gw, "scrape-me-please")
        assert "relaygate_usage_pending" in m


async def test_health_live_and_ready(gw: Running) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{gw.root}/health/live") as r:
            assert r.status == 200 and (await r.json())["status"] == "ok"
        async with s.get(f"{gw.root}/health/ready") as r:
            doc = await r.json()
            assert r.status == 200, doc
            assert doc["status"] == "ready"
            assert {"database", "config", "usage_writer"} <= set(doc["checks"])
            assert all(c["ok"] for c in doc["checks"].values())
        # a database that no longer answers makes the process not ready (503), naming the failed check
        real = gw.gateway.engine
        from sqlalchemy.ext.asyncio import create_async_engine

        gw.gateway.engine = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:9/none")
        try:
            async with s.get(f"{gw.root}/health/ready") as r:
                doc = await r.json()
                assert r.status == 503 and doc["status"] == "not_ready"
                assert doc["checks"]["database"]["ok"] is False and doc["checks"]["config"]["ok"] is True
                reason = doc["checks"]["database"]["error"]  # the driver's reason, not just a class name
                assert ("refused" in reason or "Connect call failed" in reason) and "nobody" not in reason, reason
        finally:
            await gw.gateway.engine.dispose()
            gw.gateway.engine = real


async def test_ready_reports_a_stuck_usage_writer(sqlite_url: str, tmp_path: Path) -> None:
    async with running_gateway(sqlite_url, data_dir=str(tmp_path), ready_writer_lag_seconds=0.0) as gw:
        gw.gateway.usage._buffer.append({"ts": 1})  # a record from 1970 that was never written
        try:
            async with aiohttp.ClientSession() as s, s.get(f"{gw.root}/health/ready") as r:
                doc = await r.json()
                assert r.status == 503 and doc["checks"]["usage_writer"]["ok"] is False
            m = await scrape(gw)  # the same queue and lag as gauges
            assert value(m, "relaygate_usage_pending") == 1 and value(m, "relaygate_usage_lag_seconds") > 1e9
        finally:
            gw.gateway.usage._buffer.clear()


async def test_access_log_one_json_line_per_request_without_secrets(gw: Running,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    fake = await start_fake()
    gw.fakes.append(fake)
    await gw.add_channel(fake, "only", {"m": "m"}, secrets=["sk-upstream-super-secret-0042"])
    secret, key_id = await gw.add_key()
    with caplog.at_level(logging.INFO, logger="relaygate.access"):
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{gw.base_url}/chat/completions", json=chat(),
                              headers={"Authorization": f"Bearer {secret}"}) as r:
                rid = r.headers["x-request-id"]
                await r.read()
            async with s.post(f"{gw.base_url}/chat/completions", json=chat("absent"),
                              headers={"Authorization": f"Bearer {secret}"}) as r:
                rid404 = r.headers["x-request-id"]
    lines = [json.loads(JsonFormatter().format(rec)) for rec in caplog.records if rec.name == "relaygate.access"]
    by_id = {line["request_id"]: line for line in lines}
    assert set(by_id) == {rid, rid404} and len(lines) == 2
    ok = by_id[rid]
    assert ok["status"] == 200 and ok["key_id"] == key_id and ok["channel"] == "only"
    assert ok["requested_model"] == "m" and ok["prompt_tokens"] > 0 and ok["latency_ms"] >= 0
    assert by_id[rid404]["status"] == 404 and by_id[rid404]["error_code"] == "model_not_found"
    text = json.dumps(lines)
    assert secret not in text and "sk-upstream-super-secret" not in text and "lighthouse" not in text


async def test_channel_cooldown_and_recovery_are_logged_with_the_reason(
        gw: Running, caplog: pytest.LogCaptureFixture) -> None:
    fake = await start_fake()
    gw.fakes.append(fake)
    cid = await gw.add_channel(fake, "flaky", {"m": "m"})
    board = gw.gateway.health
    with caplog.at_level(logging.WARNING, logger="relaygate.health"):
        for _ in range(board.threshold):
            board.failure(cid, "http_503: upstream says overloaded")
        m = await scrape(gw)  # channel health as gauges while it cools down
        assert value(m, "relaygate_channel_cooling", channel="flaky") == 1
        assert value(m, "relaygate_channel_consecutive_failures", channel="flaky") == board.threshold
        assert value(m, "relaygate_channel_enabled", channel="flaky") == 1
        board.success(cid, "a probe succeeded")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "channel 'flaky'" in text and "cools down" in text and "upstream says overloaded" in text
    assert "recovered: a probe succeeded" in text
    m = await scrape(gw)
    assert value(m, "relaygate_channel_cooling", channel="flaky") == 0
    assert value(m, "relaygate_channel_consecutive_failures", channel="flaky") == 0


async def test_probe_failure_keeps_the_reason(gw: Running) -> None:
    fake = await start_fake()
    gw.fakes.append(fake)
    cid = await gw.add_channel(fake, "gone", {"m": "m"})
    await fake.stop()  # nothing listens there any more
    from relaygate.services.gateway.prober import Prober

    prober = Prober(gw.gateway.state, gw.gateway.health, gw.gateway.providers, gw.gateway.session,  # type: ignore[arg-type]
                    gw.gateway.engine, 1.0)
    assert await prober.probe(cid) is False
    reason = gw.gateway.health.get(cid).reason or ""
    assert "Connect call failed" in reason or "Connection refused" in reason, reason
    assert reason != "probe failed: ClientConnectorError"


async def test_ready_fails_until_keys_and_routing_are_loaded(gw: Running) -> None:
    state = gw.gateway.state
    loaded, state.loaded_at = state.loaded_at, 0.0  # as before the first load finished
    try:
        async with aiohttp.ClientSession() as s, s.get(f"{gw.root}/health/ready") as r:
            doc = await r.json()
            assert r.status == 503 and doc["status"] == "not_ready", doc
            assert doc["checks"]["config"] == {"ok": False, "error": "keys and routing not loaded yet"}
            assert doc["checks"]["database"]["ok"] is True
    finally:
        state.loaded_at = loaded


@pytest.mark.skipif(not os.environ.get("RELAYGATE_TEST_REDIS_URL"), reason="needs Redis (RELAYGATE_TEST_REDIS_URL)")
async def test_ready_checks_redis_when_configured(sqlite_url: str, tmp_path: Path) -> None:
    async with running_gateway(sqlite_url, data_dir=str(tmp_path),
                               redis_url=os.environ["RELAYGATE_TEST_REDIS_URL"]) as gw:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{gw.root}/health/ready") as r:
                doc = await r.json()
                assert r.status == 200 and doc["checks"]["redis"]["ok"] is True, doc
            # Redis stops answering: not ready, with the reason
            from redis.asyncio import Redis

            counters = gw.gateway.counters
            real, counters.client = counters.client, Redis.from_url("redis://127.0.0.1:9/0")  # type: ignore[attr-defined]
            try:
                async with s.get(f"{gw.root}/health/ready") as r:
                    doc = await r.json()
                    assert r.status == 503 and doc["checks"]["redis"]["ok"] is False, doc
                    assert "refused" in doc["checks"]["redis"]["error"].lower(), doc
            finally:
                await counters.client.aclose()  # type: ignore[attr-defined]
                counters.client = real  # type: ignore[attr-defined]


@pytest.mark.parametrize("fmt", ["json", "text"])
async def test_access_lines_written_directly_when_relaygate_configured_logging(
        gw: Running, fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`serve` configures logging: access lines then skip the logging module, same fields and format."""
    import io

    from relaygate.core.logs import ACCESS, LineWriter

    stream = io.StringIO()
    monkeypatch.setitem(ACCESS, "writer", LineWriter(fmt, stream, interval=0.05))
    access = logging.getLogger("relaygate.access")
    monkeypatch.setattr(access, "level", logging.INFO)
    access.manager._clear_cache()  # isEnabledFor caches levels
    fake = await start_fake()
    gw.fakes.append(fake)
    await gw.add_channel(fake, "only", {"m": "m"})
    secret, key_id = await gw.add_key()
    async with aiohttp.ClientSession() as s:
        for _ in range(3):
            async with s.post(f"{gw.base_url}/chat/completions", json=chat(),
                              headers={"Authorization": f"Bearer {secret}"}) as r:
                rid = r.headers["x-request-id"]
                await r.read()
    await asyncio.sleep(0.15)  # the writer's interval
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    if fmt == "json":
        doc = json.loads(lines[-1])
        assert doc["logger"] == "relaygate.access" and doc["request_id"] == rid and doc["key_id"] == key_id
        assert doc["ts"].endswith("Z") and doc["status"] == 200 and doc["channel"] == "only"
    else:
        assert " INFO relaygate.access access " in lines[-1] and f"request_id={rid}" in lines[-1]
    assert secret not in stream.getvalue() and "lighthouse" not in stream.getvalue()
