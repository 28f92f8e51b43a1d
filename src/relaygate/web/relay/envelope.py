"""Error envelopes: a GatewayError becomes OpenAI's error body in the caller's language, and the
status and headers each dialect's clients read to decide whether to retry (see docs/clients.md).

What a retry cannot fix says so: ``x-should-retry: false`` (Claude Code, the Anthropic and OpenAI
SDKs honour it). ``Retry-After`` is sent only where waiting is known to help: a rate limit's window.
Upstream failures are final too: relaygate has already failed over across channels, and a
Retry-After on them makes Codex CLI retry every few seconds for as long as the channels stay down.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from relaygate.core.errors import GatewayError

# statuses no retry can fix: the key, the model, the balance or the body has to change first
NO_RETRY_STATUS = frozenset({400, 401, 402, 403, 404, 405, 413, 422})
# answers after relaygate's own failover: another immediate attempt meets the same channels
AFTER_FAILOVER = frozenset({"upstream_error", "upstream_timeout", "no_healthy_channel"})
RETRY_AFTER_STATUS = frozenset({429})
# Anthropic: Claude Code prints "Failed to authenticate" before any 403, so a policy refusal that is
# not about the key is said as 400 invalid_request_error ("API Error: 400 <message>")
ANTHROPIC_AS_400 = frozenset({"model_not_allowed", "model_price_missing"})
# Gemini CLI retries every 5xx ten times over minutes unless a 503 carries Google's RetryInfo with a
# delay beyond its 300 s limit; relaygate has already failed over, so it says "come back later" so
GEMINI_FINAL_DELAY = "600s"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    gemini_retry_delay: str | None = None


def answer_for(err: GatewayError, dialect: str, client: str | None = None) -> Answer:
    """Status and headers for ``err`` in ``dialect``, for the client that asked (detected by User-Agent)."""
    status = err.status
    final = status in NO_RETRY_STATUS or err.code in AFTER_FAILOVER
    headers = {k: v for k, v in err.headers.items()
               if k.lower() != "retry-after" or status in RETRY_AFTER_STATUS}
    if final:
        headers["x-should-retry"] = "false"
    if dialect == "anthropic" and err.code in ANTHROPIC_AS_400:
        status = 400
    elif client == "codex-cli" and final:
        # Codex retries every other status at least five times ("Reconnecting... 5/5", 7-25 s measured
        # with 0.169.0) and shows a 400's body at once; the code field still names the error
        status = 400
    elif dialect == "gemini" and err.code in AFTER_FAILOVER:
        # Gemini CLI reads RetryInfo only on 429/499/503: 502 and 504 are said as 503 UNAVAILABLE
        return Answer(503, headers, GEMINI_FINAL_DELAY)
    return Answer(status, headers)


def openai_error_body(err: GatewayError, request_id: str, lang: str, docs_base: str = "") -> bytes:
    message = err.message(lang)
    suffix = f"（请求 ID：{request_id}）" if lang.startswith("zh") else f" (request id: {request_id})"
    payload = {"error": {"message": message + suffix, "type": err.spec.type, "code": err.code,
                         "param": err.params.get("param"), "request_id": request_id}}
    if docs_base:
        payload["error"]["doc_url"] = f"{docs_base.rstrip('/')}/errors/{err.code}"
    return orjson.dumps(payload)
