"""Error envelopes: a GatewayError becomes OpenAI's error body in the caller's language."""

from __future__ import annotations

import orjson

from relaygate.core.errors import GatewayError


def openai_error_body(err: GatewayError, request_id: str, lang: str, docs_base: str = "") -> bytes:
    message = err.message(lang)
    suffix = f"（请求 ID：{request_id}）" if lang.startswith("zh") else f" (request id: {request_id})"
    payload = {"error": {"message": message + suffix, "type": err.spec.type, "code": err.code,
                         "param": err.params.get("param"), "request_id": request_id}}
    if docs_base:
        payload["error"]["doc_url"] = f"{docs_base.rstrip('/')}/errors/{err.code}"
    return orjson.dumps(payload)
