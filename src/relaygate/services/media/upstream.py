"""One media call upstream with the chat relay's failover rules: next channel on connect errors,
timeouts, 5xx, 429 and upstream key errors before an answer; never the same channel twice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

from relaygate.core.clock import monotonic
from relaygate.core.errors import GatewayError
from relaygate.core.redact import redact
from relaygate.providers.base import UpstreamRequest
from relaygate.services.gateway.catalog import Route
from relaygate.services.gateway.relay import RETRYABLE_STATUS, Relay
from relaygate.services.gateway.streaming import UpstreamFailure, map_client_error


async def call(relay: Relay, routes: list[Route], public: str, group: str, rec: dict[str, Any],
               build: Callable[[Route, str], UpstreamRequest], body: Callable[[], Any],
               error_detail: Callable[[Route, bytes], str],
               accept: Callable[[aiohttp.ClientResponse], Any] | None = None) -> tuple[Route, aiohttp.ClientResponse]:
    """The first 2xx answer over ``routes`` (the caller reads and releases it), or the caller's error.

    ``build`` makes the request for a route and its secret, ``body`` a fresh body for each attempt
    (None: the request's own). ``accept`` may raise ``UpstreamFailure`` to fail a 2xx answer over.
    """
    if not routes:
        raise GatewayError("no_healthy_channel", model=public, group=group,
                           detail=" (no enabled channel serves it for this group)")
    tried: set[int] = set()
    attempts: list[dict[str, Any]] = []
    last: UpstreamFailure | None = None
    for _ in range(max(1, relay.settings.max_attempts)):
        route = relay.pick(routes, tried)
        if route is None:
            break
        tried.add(route.channel.id)
        rec["channel_id"], rec["upstream_model"], rec["attempts"] = route.channel.id, route.upstream_model, len(tried)
        t0 = monotonic()
        req = build(route, relay.secret_for(route))
        data = req.body if req.body is not None else body()
        try:
            try:
                resp = await relay.session.request(req.method, req.url, headers=req.headers, data=data,
                                                   timeout=relay.timeout_for(route))
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise map_client_error(exc, route.channel) from exc
            if resp.status >= 400:
                raw = await resp.read()
                resp.release()
                retryable = resp.status >= 500 or resp.status in RETRYABLE_STATUS
                raise UpstreamFailure(f"http_{resp.status}", resp.status, redact(error_detail(route, raw)),
                                      retryable=retryable)
            if accept is not None:
                try:
                    await accept(resp)
                except UpstreamFailure:
                    resp.close()
                    raise
        except UpstreamFailure as failure:
            attempts.append({"channel_id": route.channel.id, "status": failure.status, "error": failure.kind,
                             "ms": int((monotonic() - t0) * 1000)})
            rec["detail"] = {**(rec.get("detail") or {}), "attempts": attempts}
            if not failure.retryable:
                raise failure.to_error(public, len(tried)) from None
            relay.health.failure(route.channel.id, failure.describe())
            last = failure
            continue
        relay.health.success(route.channel.id)
        if attempts:
            attempts.append({"channel_id": route.channel.id, "status": resp.status, "error": None,
                             "ms": int((monotonic() - t0) * 1000)})
            rec["detail"] = {**(rec.get("detail") or {}), "attempts": attempts}
        return route, resp
    if last is None:
        raise GatewayError("no_healthy_channel", model=public, group=group,
                           detail=" (every channel serving it is cooling down after failures)")
    raise last.to_error(public, len(tried))
