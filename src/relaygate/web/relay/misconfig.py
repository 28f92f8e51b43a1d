"""Requests that miss every endpoint: recognise the usual base-URL mistakes, answer in the caller's dialect, count them.

The rules are data in services/support/misconfig.py; this module only reads the request, renders the
answer (OpenAI, Anthropic or Gemini envelope, English or Chinese) and writes a usage record with
error code base_url_mistake / endpoint_not_served so `relaygate stats` and `support diagnose` see it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

import orjson

from relaygate.app import Gateway
from relaygate.core.clock import monotonic
from relaygate.core.errors import GatewayError, prefers_chinese
from relaygate.core.keys import key_hash, mask_key, split_presented_key
from relaygate.core.settings import Settings
from relaygate.services.gateway.accounts import presented_key
from relaygate.services.gateway.clients import detect_client
from relaygate.services.gateway.exchange import Exchange, Inbound
from relaygate.services.gateway.relay import Relay
from relaygate.services.notices.clients import BaseForms, spec_for_detected
from relaygate.services.support.misconfig import Finding, examine
from relaygate.web.asgi_types import Receive, Scope, Send


class Surface(Protocol):
    """What answering a misconfiguration needs of the relay app (web/relay/asgi.py's RelayApp)."""

    settings: Settings
    gateway: Gateway | None

    async def read_body(self, scope: Scope, receive: Receive) -> bytes: ...

    def inbound(self, scope: Scope, body: bytes, entry: Any, rid: str) -> Inbound: ...

    async def send_json(self, send: Send, status: int, body: bytes, rid: str) -> None: ...

_ANTHROPIC_TYPES = {404: "not_found_error", 405: "invalid_request_error"}


def base_forms(settings: Settings, headers: Mapping[str, str], scheme: str = "http") -> BaseForms:
    """This deployment's base URL: the public_base_url setting, else the scheme and Host of the request."""
    host = headers.get("host", f"{settings.host}:{settings.port}")
    if settings.trust_forwarded_for:
        scheme = headers.get("x-forwarded-proto", scheme).split(",")[0].strip() or scheme
        host = headers.get("x-forwarded-host", host).split(",")[0].strip() or host
    return BaseForms.from_setting(settings.public_base_url, host, scheme)


def find(method: str, path: str, headers: Mapping[str, str], forms: BaseForms) -> Finding | None:
    client, _ = detect_client(headers)
    return examine(method, path, headers, forms, spec_for_detected(client))


def diagnose(method: str, path: str, base_url: str, headers: Mapping[str, str]) -> GatewayError | None:
    """A specific error for a recognised mistake, or None for the generic not_found."""
    finding = find(method, path, headers, BaseForms.from_setting(base_url))
    return None if finding is None else GatewayError(finding.code, **finding.params(method, path))


def error_body(finding: Finding, err: GatewayError, rid: str, lang: str, docs_url: str = "") -> bytes:
    """The error in the caller's dialect, with the request id, a doc link and a machine-readable hint."""
    message = err.message(lang) + (f"（请求 ID：{rid}）" if lang.startswith("zh") else f" (request id: {rid})")
    hint: dict[str, Any] = {"mistake": finding.rule, "base_url": finding.fix_url,
                            "expected_path": finding.expected_path}
    doc_url = f"{docs_url.rstrip('/')}/errors/{err.code}" if docs_url else None
    payload: dict[str, Any]
    inner: dict[str, Any]
    if finding.dialect == "anthropic":
        inner = {"type": _ANTHROPIC_TYPES.get(err.status, "invalid_request_error"), "message": message,
                 "code": err.code, "hint": hint}
        if doc_url:
            inner["doc_url"] = doc_url
        payload = {"type": "error", "error": inner, "request_id": rid}
    elif finding.dialect == "gemini":
        metadata = {k: v for k, v in {**hint, "code": err.code, "request_id": rid, "doc_url": doc_url}.items() if v}
        payload = {"error": {"code": err.status, "message": message, "status": "NOT_FOUND",
                             "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                          "reason": err.code.upper(), "domain": "relaygate",
                                          "metadata": metadata}]}}
    else:
        inner = {"message": message, "type": err.spec.type, "code": err.code, "param": None,
                 "request_id": rid, "hint": hint}
        if doc_url:
            inner["doc_url"] = doc_url
        payload = {"error": inner}
    return orjson.dumps(payload)


def _model_of(body: bytes) -> str | None:
    if not body.startswith(b"{"):
        return None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    model = data.get("model") if isinstance(data, dict) else None
    return model[:128] if isinstance(model, str) else None


def _fill_key(relay: Relay, rec: dict[str, Any], presented: str | None) -> None:
    """Name the key when it is one of ours (no checks: this only identifies it); else its masked form."""
    if not presented:
        return
    snap = relay.state.snapshot
    key = snap.keys_by_hash.get(key_hash(presented)) or snap.keys_by_hash.get(
        key_hash(split_presented_key(presented)[0]))
    if key is not None:
        relay.fill_key(rec, snap, key)
    else:
        rec["masked_key"] = mask_key(presented)


async def count(relay: Relay | None, inbound: Inbound, finding: Finding, err: GatewayError, body: bytes,
                started: float) -> None:
    """Write the usage record of an answered mistake (key fields filled when the key is one of ours)."""
    if relay is None:
        return
    rec = relay.new_record(inbound)
    presented = presented_key(inbound.headers, inbound.query_key)
    _fill_key(relay, rec, presented)
    rec["requested_model"] = _model_of(body)
    rec["detail"] = {"mistake": finding.rule, "expected_path": finding.expected_path}
    # a bare homepage hit from a browser or a load balancer's probe is not a caller's mistake to count
    if finding.rule != "homepage" or presented or rec["client"] != "unknown":
        await relay.finish(Exchange(rec, started), err.status, err.code)


async def answer(app: Surface, scope: Scope, receive: Receive, send: Send, rid: str) -> bool:
    """Answer a recognised mistake and record it; False when the path shows none (plain not_found)."""
    started = monotonic()
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    method: str = scope["method"]
    path: str = scope["path"]
    forms = base_forms(app.settings, headers, scope.get("scheme", "http"))
    finding = find(method, path, headers, forms)
    if finding is None:
        return False
    err = GatewayError(finding.code, **finding.params(method, path))
    lang = "zh-CN" if prefers_chinese(headers.get("accept-language")) else "en"
    body = b""
    if method in ("POST", "PUT", "PATCH"):
        try:
            body = await app.read_body(scope, receive)
        except GatewayError:
            body = b""
        except asyncio.CancelledError:
            return True  # the caller went away
    relay = app.gateway.relay if app.gateway is not None else None
    await count(relay, app.inbound(scope, b"", "misconfig", rid), finding, err, body, started)
    await app.send_json(send, err.status, error_body(finding, err, rid, lang, app.settings.docs_url), rid)
    return True
