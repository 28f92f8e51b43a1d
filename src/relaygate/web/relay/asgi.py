"""The ASGI entry: relay endpoints as raw ASGI (the hot path), everything under /api to the admin app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from relaygate.app import Gateway
from relaygate.core.errors import GatewayError, prefers_chinese
from relaygate.core.ids import request_id as new_request_id
from relaygate.core.settings import Settings
from relaygate.services.gateway.accounts import authenticate, presented_key
from relaygate.services.gateway.clients import detect_client
from relaygate.services.gateway.exchange import Exchange, Inbound, Outcome
from relaygate.services.media.legacy import ToOld
from relaygate.web.asgi_types import ASGIApp, Receive, Scope, Send
from relaygate.web.relay import media, media_pass, misconfig, oneapi_billing
from relaygate.web.relay.disconnect import DisconnectGuard
from relaygate.web.relay.envelope import answer_for, openai_error_body

log = logging.getLogger("relaygate.web")

@dataclass(frozen=True, slots=True)
class Entry:
    """What an inbound path is: its OpenAI endpoint name, its dialect, the operation it asks for."""

    endpoint: str
    dialect: str = "openai"
    operation: str = "chat"
    path_model: str | None = None
    path_stream: bool = False


def _both(path: str, entry: Entry) -> dict[str, Entry]:
    return {f"/v1{path}": entry, path: entry}


RELAY_ENDPOINTS: dict[str, Entry] = {
    **_both("/chat/completions", Entry("chat/completions")),
    **_both("/completions", Entry("completions", operation="completions")),
    **_both("/embeddings", Entry("embeddings", operation="embeddings")),
    **_both("/messages", Entry("messages", "anthropic")),
    **_both("/messages/count_tokens", Entry("messages/count_tokens", "anthropic", "count_tokens")),
    **_both("/responses", Entry("responses", "responses")),
}
GEMINI_PREFIXES = ("/v1beta/models/", "/v1/models/", "/v1alpha/models/")


def gemini_entry(path: str) -> Entry | None:
    """/v1beta/models/{model}:generateContent or :streamGenerateContent."""
    if ":" not in path or not path.startswith(GEMINI_PREFIXES):
        return None
    model, _, action = path.split("/models/", 1)[1].rpartition(":")
    if action not in ("generateContent", "streamGenerateContent") or not model:
        return None
    return Entry("generateContent", "gemini", "chat", model, action == "streamGenerateContent")
MODEL_PREFIXES = ("/v1/models", "/models")
JSON = b"application/json"


class RelayApp:
    """ASGI application. ``gateway`` is built at lifespan start-up (it needs a running loop)."""

    def __init__(self, settings: Settings, gateway: Gateway | None = None,
                 print_first_run: Callable[[Gateway], None] | None = None,
                 admin_factory: Callable[[Gateway], ASGIApp] | None = None,
                 console_factory: Callable[[Gateway], ASGIApp] | None = None) -> None:
        self.settings = settings
        self.admin_factory = admin_factory  # /api: injected by web/server.py (FastAPI stays out of here)
        self.console_factory = console_factory  # /console and browsers at /: injected the same way
        self._console: ASGIApp | None = None
        self.gateway = gateway
        self.print_first_run = print_first_run
        self._admin: ASGIApp | None = None
        self.max_body = settings.max_body_bytes

    # --- dispatch -----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path: str = scope["path"]
            entry = RELAY_ENDPOINTS.get(path) or gemini_entry(path)
            if entry is not None:
                await self.relay(scope, receive, send, entry)
            elif path.startswith(MODEL_PREFIXES):
                await self.models(scope, receive, send)
            elif path in oneapi_billing.PATHS:
                await self.dashboard(scope, send)
            elif path.startswith(media.PREFIXES) and (route := media.match(scope["method"], path)) is not None:
                await self.media(scope, receive, send, route)
            elif (path == "/api" or path.startswith("/api/")) and self.admin_factory is not None:
                await self.admin_app()(scope, receive, send)
            elif self.console_factory is not None and (path.startswith(("/console", "/portal"))
                                                       or _browser_at_root(scope)):
                await self.console_app()(scope, receive, send)
            else:
                await self.misc(scope, receive, send)
        elif kind == "lifespan":
            await self.lifespan(receive, send)
        elif kind == "websocket":
            await self.websocket(scope, receive, send)

    @staticmethod
    async def websocket(scope: Scope, receive: Receive, send: Send) -> None:
        """Codex CLI first tries the Responses WebSocket on GET /v1/responses. Answered 403 it retries seven
        times (about 6 s); answered 426 Upgrade Required it falls back to POST with SSE at once (measured
        with Codex CLI 0.169.0), so that is the answer, as an HTTP response when the server allows one."""
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        if "websocket.http.response" in scope.get("extensions", {}):
            body = orjson.dumps({"error": {"message": "relaygate serves the Responses API over HTTP POST with SSE, "
                                           "not WebSocket; relaygate 通过 HTTP POST（SSE）提供 Responses API，"
                                           "不支持 WebSocket。", "type": "invalid_request_error",
                                           "code": "websocket_not_supported", "param": None}})
            await send({"type": "websocket.http.response.start", "status": 426,
                        "headers": [(b"content-type", JSON), (b"content-length", str(len(body)).encode()),
                                    (b"upgrade", b"HTTP/1.1"), (b"x-should-retry", b"false")]})
            await send({"type": "websocket.http.response.body", "body": body})
            return
        await send({"type": "websocket.close", "code": 1008, "reason": "use HTTP POST with SSE"})

    def admin_app(self) -> ASGIApp:
        if self._admin is None:
            assert self.gateway is not None and self.admin_factory is not None
            self._admin = self.admin_factory(self.gateway)
        return self._admin

    def console_app(self) -> ASGIApp:
        if self._console is None:
            assert self.gateway is not None and self.console_factory is not None
            self._console = self.console_factory(self.gateway)
        return self._console

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    if self.gateway is None:
                        self.gateway = Gateway.build(self.settings)
                    await self.gateway.start()
                    if self.print_first_run is not None:
                        self.print_first_run(self.gateway)
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.gateway is not None:
                    await self.gateway.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # --- helpers ------------------------------------------------------------------------------

    def inbound(self, scope: Scope, body: bytes, entry: Entry | str, rid: str,
                headers: dict[str, str] | None = None) -> Inbound:
        if headers is None:
            headers = header_map(scope["headers"])
        client = scope.get("client")
        ip = client[0] if client else None
        if self.settings.trust_forwarded_for and "x-forwarded-for" in headers:
            ip = headers["x-forwarded-for"].split(",")[0].strip()
        lang = "zh-CN" if prefers_chinese(headers.get("accept-language")) else "en"
        query_key = None
        qs = scope.get("query_string", b"")
        if qs and b"key=" in qs:
            from urllib.parse import parse_qs

            query_key = (parse_qs(qs.decode("latin-1")).get("key") or [None])[0]
        if isinstance(entry, str):
            entry = Entry(entry)
        return Inbound(entry.endpoint, scope["path"], headers.get("host", ""), headers, body, ip, rid, lang,
                       query_key, entry.dialect, entry.operation, entry.path_model, entry.path_stream,
                       qs.decode("latin-1") if qs else "")

    async def read_body(self, scope: Scope, receive: Receive, headers: Mapping[str, str] | None = None) -> bytes:
        if headers is None:
            headers = header_map(scope["headers"])
        declared = headers.get("content-length")
        if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > self.max_body:
            raise GatewayError("body_too_large", size=int(declared), limit=self.max_body)
        chunks = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise asyncio.CancelledError
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > self.max_body:
                    raise GatewayError("body_too_large", size=f"more than {self.max_body}", limit=self.max_body)
                chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks) if len(chunks) != 1 else chunks[0]

    @staticmethod
    async def send_json(send: Send, status: int, body: bytes, rid: str,
                        extra: dict[str, str] | None = None) -> None:
        headers = [(b"content-type", JSON), (b"content-length", str(len(body)).encode()),
                   (b"x-request-id", rid.encode())]
        if extra:
            headers.extend((k.lower().encode(), v.encode()) for k, v in extra.items())
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def send_error(self, send: Send, err: GatewayError, rid: str, lang: str, dialect: str = "openai",
                         headers: Mapping[str, str] | None = None) -> None:
        answer = answer_for(err, dialect, detect_client(headers)[0] if headers else None)
        if dialect == "openai" or self.gateway is None or self.gateway.relay is None:
            body = openai_error_body(err, rid, lang, self.settings.docs_url)
        else:
            message = err.message(lang) + (f"（请求 ID：{rid}）" if lang.startswith("zh") else f" (request id: {rid})")
            doc = self.gateway.relay.dialects.get(dialect).error_body(answer.status, err.code, message, rid)
            if answer.gemini_retry_delay and isinstance(doc.get("error"), dict):
                doc["error"].setdefault("details", []).append(
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": answer.gemini_retry_delay})
            if self.settings.docs_url:
                doc["doc_url"] = f"{self.settings.docs_url.rstrip('/')}/errors/{err.code}"
            body = orjson.dumps(doc)
        await self.send_json(send, answer.status, body, rid, answer.headers)

    # --- relay --------------------------------------------------------------------------------

    async def relay(self, scope: Scope, receive: Receive, send: Send, endpoint: Entry) -> None:
        rid = new_request_id()
        if scope["method"] != "POST":
            err = GatewayError("method_not_allowed", path=scope["path"], method=scope["method"], allowed="POST",
                               headers={"Allow": "POST"})
            await self.send_error(send, err, rid, "en", endpoint.dialect)
            return
        gateway = self.gateway
        assert gateway is not None and gateway.relay is not None
        headers = header_map(scope["headers"])
        try:
            body = await self.read_body(scope, receive, headers)
        except GatewayError as err:
            inbound = self.inbound(scope, b"", endpoint, rid, headers)
            await gateway.relay.finish(Exchange(gateway.relay.new_record(inbound), 0.0), err.status, err.code)
            await self.send_error(send, err, rid, inbound.lang, inbound.dialect, inbound.headers)
            return
        except asyncio.CancelledError:
            return
        inbound = self.inbound(scope, body, endpoint, rid, headers)
        guard = DisconnectGuard(receive)
        try:
            try:
                outcome = await guard.run(gateway.relay.handle(inbound))
            except GatewayError as err:
                await self.send_error(send, err, rid, inbound.lang, inbound.dialect, inbound.headers)
                return
            except asyncio.CancelledError:
                if guard.disconnected:
                    return
                raise
            await self.send_outcome(send, outcome, rid, guard)
        finally:
            guard.stop()

    async def media(self, scope: Scope, receive: Receive, send: Send, route: media.MediaRoute) -> None:
        """Images, audio and video tasks (web/relay/media.py reads the request, services/media serves it)."""
        rid = new_request_id()
        gateway = self.gateway
        assert gateway is not None and gateway.media is not None and gateway.relay is not None
        inbound = self.inbound(scope, b"", Entry(route.endpoint, operation=route.operation or route.kind), rid)
        to_old = await gateway.media.old.route(inbound, route.kind, route.task_id)  # during a rollout
        if to_old is not None:
            await self.media_to_old(scope, receive, send, inbound, to_old)
            return
        try:
            request = await media.read(route, scope, receive, self.settings)
        except GatewayError as err:
            await gateway.relay.finish(Exchange(gateway.relay.new_record(inbound), 0.0), err.status, err.code)
            await self.send_error(send, err, rid, inbound.lang)
            return
        except asyncio.CancelledError:
            return
        guard = DisconnectGuard(receive)
        try:
            try:
                outcome = await guard.run(media.dispatch(gateway.media, request, inbound, scope))
            except GatewayError as err:
                await self.send_error(send, err, rid, inbound.lang)
                return
            except asyncio.CancelledError:
                if guard.disconnected:
                    return
                raise
            await self.send_outcome(send, outcome, rid, guard)
        finally:
            request.close()
            guard.stop()

    async def media_to_old(self, scope: Scope, receive: Receive, send: Send, inbound: Inbound, to_old: ToOld) -> None:
        """Media of an owner still on the old entry goes there as it arrives (web/relay/media_pass.py)."""
        gateway = self.gateway
        assert gateway is not None and gateway.media is not None
        try:
            body = await media_pass.read(scope, receive, self.settings)
        except GatewayError as err:
            await gateway.media.old.refused(inbound, to_old, err)
            await self.send_error(send, err, inbound.request_id, inbound.lang)
            return
        passing = body if isinstance(body, media_pass.PassBody) else None
        guard = DisconnectGuard(passing.after if passing is not None else receive)
        try:
            try:
                outcome = await guard.run(gateway.media.old.forward(inbound, to_old, scope["method"], body))
            except GatewayError as err:
                await self.send_error(send, err, inbound.request_id, inbound.lang)
                return
            except asyncio.CancelledError:
                if guard.disconnected or (passing is not None and passing.gone):
                    return
                raise
            await self.send_outcome(send, outcome, inbound.request_id, guard)
        finally:
            guard.stop()

    async def send_outcome(self, send: Send, outcome: Outcome, rid: str, guard: DisconnectGuard) -> None:
        headers = [(b"content-type", outcome.content_type.encode()), (b"x-request-id", rid.encode())]
        if outcome.stream is None:
            headers.append((b"content-length", str(len(outcome.body)).encode()))
            await send({"type": "http.response.start", "status": outcome.status, "headers": headers})
            await send({"type": "http.response.body", "body": outcome.body})
            return
        headers.append((b"cache-control", b"no-cache"))
        headers.append((b"x-accel-buffering", b"no"))
        if outcome.headers:  # a large answer relayed as it arrives keeps the upstream's Content-Length
            headers.extend((k.lower().encode(), v.encode()) for k, v in outcome.headers.items())
        stream = outcome.stream
        try:
            await send({"type": "http.response.start", "status": outcome.status, "headers": headers})
            await guard.run(self._pump(send, stream, guard))
        except asyncio.CancelledError:
            if not guard.disconnected:
                raise
        finally:
            await stream.close()

    @staticmethod
    async def _pump(send: Send, stream: Any, guard: DisconnectGuard) -> None:
        async for chunk in stream:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        guard.finishing = True  # completing the response makes receive() report a disconnect
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    # --- models -------------------------------------------------------------------------------

    async def models(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = new_request_id()
        gateway = self.gateway
        assert gateway is not None
        inbound = self.inbound(scope, b"", "models", rid)
        path = scope["path"]
        prefix = "/v1/models" if path.startswith("/v1/models") else "/models"
        model_id = path[len(prefix):].lstrip("/")
        anthropic = "anthropic-version" in inbound.headers
        dialect = "anthropic" if anthropic else "openai"
        try:
            snap = gateway.state.snapshot
            key, _ = authenticate(snap, presented_key(inbound.headers, inbound.query_key), inbound.client_ip)
            allowed = snap.allowed_models(key)
            if model_id:
                public = snap.resolve(model_id)
                if public not in allowed:
                    snap.check_allowed(key, public, model_id)
                    raise GatewayError("model_not_found", model=model_id,
                                       suggestion=" No channel serves it for your group right now.")
                body = orjson.dumps(_anthropic_model(public) if anthropic else _model_obj(public))
            elif anthropic:
                data = [_anthropic_model(m) for m in allowed]
                body = orjson.dumps({"data": data, "has_more": False, "first_id": allowed[0] if allowed else None,
                                     "last_id": allowed[-1] if allowed else None})
            else:
                body = orjson.dumps({"object": "list", "data": [_model_obj(m) for m in allowed]})
        except GatewayError as err:
            await self.send_error(send, err, rid, inbound.lang, dialect)
            return
        await self.send_json(send, 200, body, rid)

    async def dashboard(self, scope: Scope, send: Send) -> None:
        rid = new_request_id()
        gateway = self.gateway
        assert gateway is not None
        inbound = self.inbound(scope, b"", "dashboard", rid)
        try:
            key, _ = authenticate(gateway.state.snapshot, presented_key(inbound.headers, inbound.query_key),
                                  inbound.client_ip)
        except GatewayError as err:
            await self.send_error(send, err, rid, inbound.lang)
            return
        await self.send_json(send, 200, orjson.dumps(await oneapi_billing.answer(gateway, key, scope["path"])), rid)

    # --- everything else ----------------------------------------------------------------------

    async def misc(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = new_request_id()
        path = scope["path"]
        if path in ("/healthz", "/health", "/health/live"):  # the process is up and answering
            await self.send_json(send, 200, b'{"status":"ok"}', rid)
            return
        if path in ("/health/ready", "/metrics") and self.gateway is not None:
            await self.observability(scope, send, rid)
            return
        if await misconfig.answer(self, scope, receive, send, rid):  # a base-URL mistake, answered and counted
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", f"{self.settings.host}:{self.settings.port}")
        base = self.settings.public_base_url or f"http://{host}/v1"
        lang = "zh-CN" if prefers_chinese(headers.get("accept-language")) else "en"
        err = misconfig.diagnose(scope["method"], path, base, headers) or GatewayError(
            "not_found", method=scope["method"], path=path, base_url=base)
        await self.send_error(send, err, rid, lang)


    async def observability(self, scope: Scope, send: Send, rid: str) -> None:
        from relaygate.web.relay import metrics

        gateway = self.gateway
        assert gateway is not None
        if scope["path"] == "/health/ready":
            status, doc = await metrics.readiness(gateway)
            await self.send_json(send, status, orjson.dumps(doc), rid, {"Cache-Control": "no-store"})
            return
        if gateway.meter is None:
            await self.send_error(send, GatewayError("not_found", method=scope["method"], path="/metrics",
                                                     base_url="RELAYGATE_METRICS=true"), rid, "en")
            return
        if not metrics.metrics_allowed(gateway, scope["headers"]):
            body = b'{"error":"/metrics needs Authorization: Bearer <RELAYGATE_METRICS_TOKEN>"}'
            await self.send_json(send, 401, body, rid, {"WWW-Authenticate": "Bearer"})
            return
        body, ctype = metrics.render_metrics(gateway)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


_NAMES: dict[bytes, str] = {}  # a header name as sent -> its lower-case text, for the usual names
_NAMES_CAP = 256  # names are the caller's text: past this many, new ones are decoded each time


def header_map(raw: Any) -> dict[str, str]:
    """The request's headers by lower-case name (the last of a repeated name wins), each name's
    decoding looked up once per process instead of decoded and lowered on every request."""
    names = _NAMES
    headers: dict[str, str] = {}
    for name, value in raw:
        text = names.get(name)
        if text is None:
            text = name.decode("latin-1").lower()
            if len(names) < _NAMES_CAP:
                names[name] = text
        headers[text] = value.decode("latin-1")
    return headers


def _browser_at_root(scope: Scope) -> bool:
    """A browser opening ``/`` (GET/HEAD asking for HTML) gets the console; API callers keep the base-URL hint."""
    if scope["path"] != "/" or scope["method"] not in ("GET", "HEAD"):
        return False
    for name, value in scope["headers"]:
        if name == b"accept":
            return b"text/html" in value
    return False


def _model_obj(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 1700000000, "owned_by": "relaygate"}


def _anthropic_model(name: str) -> dict[str, Any]:
    return {"type": "model", "id": name, "display_name": name, "created_at": "2023-11-14T22:13:20Z"}


with contextlib.suppress(ImportError):
    import uvloop  # noqa: F401  (makes uvicorn pick uvloop when available)
