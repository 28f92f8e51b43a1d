"""OpenTelemetry traces: a server span per relayed request and a client span per upstream attempt.

Off by default. When ``OTEL_EXPORTER_OTLP_ENDPOINT`` is empty this module is not even imported and
nothing is added to the request path. When it is set, the spans are built once the request has
finished, from its usage record and timings (start times given explicitly), so tracing never sits
between the caller and the upstream; a batch processor exports them over OTLP/HTTP from its own
thread. Attributes follow the OpenTelemetry GenAI semantic conventions (``gen_ai.*``); no prompt or
answer content, no key, no secret is ever an attribute.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace import set_span_in_context as _in_context

from relaygate.core.clock import monotonic
from relaygate.services.gateway.catalog import Snapshot
from relaygate.services.gateway.exchange import Exchange

OPERATIONS = {"chat/completions": "chat", "messages": "chat", "responses": "chat", "generateContent": "chat",
              "completions": "text_completion", "embeddings": "embeddings",
              "messages/count_tokens": "count_tokens"}
# channel protocol -> gen_ai.provider.name (well-known values where the convention has one)
PROVIDERS = {"openai": "openai", "openai_responses": "openai", "azure": "azure.ai.openai",
             "anthropic": "anthropic", "gemini": "gcp.gemini"}


def traces_url(endpoint: str) -> str:
    """OTLP/HTTP: the traces path is added to a base endpoint (as the OTel exporters do)."""
    base = endpoint.rstrip("/")
    return base if base.endswith("/v1/traces") else base + "/v1/traces"


def _parent(traceparent: str | None) -> Any:
    """A W3C traceparent from the caller becomes the parent of the request span."""
    if not traceparent:
        return None
    parts = traceparent.strip().split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    try:
        trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3], 16)
    except ValueError:
        return None
    if not trace_id or not span_id:
        return None
    ctx = SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags & 1))
    return _in_context(NonRecordingSpan(ctx))


class Tracing:
    """An observer of finished requests (Relay.observers) that turns each into spans."""

    def __init__(self, endpoint: str, service_name: str, snapshot: Callable[[], Snapshot],
                 headers: dict[str, str] | None = None) -> None:
        self.snapshot = snapshot
        self.provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        self.exporter = OTLPSpanExporter(endpoint=traces_url(endpoint), headers=headers or {}, timeout=5)
        self.provider.add_span_processor(BatchSpanProcessor(self.exporter, schedule_delay_millis=1000))
        self.tracer = self.provider.get_tracer("relaygate")

    def __call__(self, ex: Exchange) -> None:
        rec = ex.rec
        now_ns = time.time_ns()
        elapsed = monotonic() - ex.started
        start_ns = now_ns - int(elapsed * 1e9)
        endpoint = rec["entry_path"]
        bare = endpoint[3:] if endpoint.startswith("/v1/") else endpoint
        op_key = "generateContent" if ":" in bare else bare.lstrip("/")
        operation = OPERATIONS.get(op_key, "chat")
        status = rec["status"] or 0
        snap = self.snapshot()
        channel = snap.channels.get(rec["channel_id"]) if rec["channel_id"] is not None else None
        attrs: dict[str, Any] = {
            "http.request.method": "POST", "url.path": endpoint, "http.response.status_code": status,
            "gen_ai.operation.name": operation, "relaygate.request_id": rec["request_id"],
            "relaygate.attempts": rec["attempts"], "relaygate.stream": bool(rec["stream"]),
        }
        if rec["requested_model"]:
            attrs["gen_ai.request.model"] = str(rec["requested_model"])[:128]
        if rec["upstream_model"]:
            attrs["gen_ai.response.model"] = rec["upstream_model"]
        if channel is not None:
            attrs["gen_ai.provider.name"] = PROVIDERS.get(channel.protocol, channel.protocol)
            attrs["relaygate.channel"] = channel.name
        if rec["group_name"]:
            attrs["relaygate.group"] = rec["group_name"]
        if rec["key_id"]:
            attrs["relaygate.key_id"] = rec["key_id"]  # an id, never the key
        if rec["total_tokens"]:
            attrs["gen_ai.usage.input_tokens"] = rec["prompt_tokens"]
            attrs["gen_ai.usage.output_tokens"] = rec["completion_tokens"]
        if rec["ttft_ms"] is not None:
            attrs["relaygate.ttft_ms"] = rec["ttft_ms"]
        if rec["error_code"]:
            attrs["error.type"] = rec["error_code"]
        name = f"{operation} {rec['requested_model']}" if rec["requested_model"] else f"POST {endpoint}"
        span = self.tracer.start_span(name[:160], context=_parent(ex.traceparent), kind=SpanKind.SERVER,
                                      attributes=attrs, start_time=start_ns)
        if status >= 500 or (rec["error_code"] and status >= 400 and status != 499):
            span.set_status(Status(StatusCode.ERROR, rec["error_code"] or f"HTTP {status}"))
        self._attempts(ex, span, snap, start_ns, now_ns, operation)
        span.end(end_time=now_ns)

    def _attempts(self, ex: Exchange, parent: Any, snap: Snapshot, start_ns: int, end_ns: int,
                  operation: str) -> None:
        rec = ex.rec
        if not rec["attempts"]:
            return
        detail = rec["detail"]
        tried = list(detail.get("attempts") or ()) if isinstance(detail, dict) else []
        if rec["attempts"] > len(tried):  # the answering attempt of a non-streamed request is not listed yet
            tried.append({"channel_id": rec["channel_id"], "status": rec["status"], "error": None, "ms": None})
        # attempts follow each other; the first began after the gateway's own work (ex.overhead)
        at = min(start_ns + int((ex.overhead or 0.0) * 1e9), end_ns)
        ctx = _in_context(parent)
        for i, attempt in enumerate(tried):
            channel = snap.channels.get(attempt["channel_id"])
            last = i == len(tried) - 1
            duration = (end_ns - at) if (last and attempt["error"] is None) else int((attempt["ms"] or 0) * 1e6)
            model = rec["upstream_model"] if last else None
            attrs: dict[str, Any] = {"gen_ai.operation.name": operation, "relaygate.attempt": i + 1}
            if channel is not None:
                attrs["gen_ai.provider.name"] = PROVIDERS.get(channel.protocol, channel.protocol)
                attrs["relaygate.channel"] = channel.name
            if model:
                attrs["gen_ai.request.model"] = model
            if attempt["status"]:
                attrs["http.response.status_code"] = attempt["status"]
            if attempt["error"]:
                attrs["error.type"] = attempt["error"]
            if last and attempt["error"] is None and rec["total_tokens"]:
                attrs["gen_ai.usage.input_tokens"] = rec["prompt_tokens"]
                attrs["gen_ai.usage.output_tokens"] = rec["completion_tokens"]
            name = f"{operation} {model}" if model else f"{operation} attempt"
            span = self.tracer.start_span(name[:160], context=ctx, kind=SpanKind.CLIENT, attributes=attrs,
                                          start_time=at)
            if attempt["error"]:
                span.set_status(Status(StatusCode.ERROR, attempt["error"]))
            span.end(end_time=min(at + duration, end_ns))
            at = min(at + duration, end_ns)

    def shutdown(self) -> None:
        """Export what is queued (bounded by the exporter's timeout) and stop the export thread."""
        self.provider.shutdown()
