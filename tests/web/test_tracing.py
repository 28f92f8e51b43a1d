"""OpenTelemetry traces over OTLP/HTTP to a receiver on 127.0.0.1; off by default and then not even imported."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.harness import free_socket, plan, running_gateway, start_fake

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
PROMPT = "tell nobody about the lighthouse"


class Receiver:
    """A minimal OTLP/HTTP trace receiver: POST /v1/traces with a protobuf ExportTraceServiceRequest."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        self.resources: list[dict[str, Any]] = []
        self.raw: list[bytes] = []

    async def traces(self, request: web.Request) -> web.Response:
        assert request.headers["Content-Type"] == "application/x-protobuf"
        body = await request.read()
        self.raw.append(body)
        doc = ExportTraceServiceRequest.FromString(body)
        for rs in doc.resource_spans:
            self.resources.append({a.key: a.value.string_value for a in rs.resource.attributes})
            for ss in rs.scope_spans:
                self.spans.extend(ss.spans)
        return web.Response(body=b"", content_type="application/x-protobuf")


def attrs(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in span.attributes:
        v = a.value
        out[a.key] = v.string_value if v.HasField("string_value") else (
            v.int_value if v.HasField("int_value") else v.bool_value)
    return out


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, int]]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/v1/traces", rec.traces)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = free_socket()
    site = web.SockSite(runner, sock)
    await site.start()
    yield rec, sock.getsockname()[1]
    await runner.cleanup()
    sock.close()


async def test_spans_per_request_and_attempt_with_genai_attributes(
        receiver: tuple[Receiver, int], sqlite_url: str, tmp_path: Path) -> None:
    rec, port = receiver
    async with running_gateway(sqlite_url, data_dir=str(tmp_path), otel_endpoint=f"http://127.0.0.1:{port}",
                               otel_service_name="rg-test") as gw:
        a, b = await start_fake(), await start_fake()
        gw.fakes += [a, b]
        await gw.add_channel(a, "primary", {"m": "m-up"}, priority=10)
        await gw.add_channel(b, "backup", {"m": "m-up"}, priority=0)
        secret, key_id = await gw.add_key()
        await plan(a, "m-up", {"kind": "status", "status": 503})
        async with aiohttp.ClientSession() as s, s.post(
                f"{gw.base_url}/chat/completions",
                json={"model": "m", "messages": [{"role": "user", "content": PROMPT}]},
                headers={"Authorization": f"Bearer {secret}", "traceparent": f"00-{TRACE_ID}-{PARENT}-01"}) as r:
            assert r.status == 200
            rid = r.headers["x-request-id"]
            usage = (await r.json())["usage"]
        assert gw.gateway.tracing is not None
        await asyncio.to_thread(gw.gateway.tracing.provider.force_flush)
        for _ in range(100):
            if len(rec.spans) >= 3:
                break
            await asyncio.sleep(0.05)
    assert rec.resources[0]["service.name"] == "rg-test"
    server = [s for s in rec.spans if s.kind == s.SPAN_KIND_SERVER]
    client = sorted((s for s in rec.spans if s.kind == s.SPAN_KIND_CLIENT), key=lambda s: s.start_time_unix_nano)
    assert len(server) == 1 and len(client) == 2
    top = server[0]
    assert top.trace_id.hex() == TRACE_ID and top.parent_span_id.hex() == PARENT  # the caller's trace
    t = attrs(top)
    assert t["gen_ai.operation.name"] == "chat" and t["gen_ai.request.model"] == "m"
    assert t["gen_ai.response.model"] == "m-up" and t["gen_ai.provider.name"] == "openai"
    assert t["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
    assert t["gen_ai.usage.output_tokens"] == usage["completion_tokens"]
    assert t["relaygate.request_id"] == rid and t["relaygate.key_id"] == key_id
    assert t["http.response.status_code"] == 200
    first, second = (attrs(s) for s in client)
    assert all(s.parent_span_id == top.span_id and s.trace_id == top.trace_id for s in client)
    assert first["relaygate.channel"] == "primary" and first["error.type"] == "http_503"
    assert second["relaygate.channel"] == "backup" and "error.type" not in second
    assert client[0].end_time_unix_nano <= client[1].start_time_unix_nano
    assert top.start_time_unix_nano <= client[0].start_time_unix_nano
    assert client[1].end_time_unix_nano <= top.end_time_unix_nano
    blob = b"".join(rec.raw)
    assert PROMPT.encode() not in blob and secret.encode() not in blob and b"sk-upstream" not in blob


def test_tracing_off_imports_neither_the_sdk_nor_the_exporter() -> None:
    # (FastAPI itself imports the opentelemetry *API* when it is installed; the SDK stays out)
    code = ("import sys\nfrom relaygate.core.settings import Settings\nfrom relaygate.app import Gateway\n"
            "import relaygate.web.server\n"
            "Gateway.build(Settings(database_url='sqlite+aiosqlite:///:memory:'))\n"
            "bad = sorted(m for m in sys.modules if m.startswith(('opentelemetry.sdk', 'opentelemetry.exporter',\n"
            "             'relaygate.services.gateway.tracing')))\n"
            "assert not bad, bad\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
