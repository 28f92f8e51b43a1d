"""The relay pipeline: authenticate, authorize, route with failover, forward, and record usage."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import orjson

from relaygate.core.clock import monotonic, now_ms
from relaygate.core.errors import GatewayError
from relaygate.core.redact import redact
from relaygate.core.settings import Settings
from relaygate.protocols.openai import BadBody, RequestFacts, error_message, parse_request, rewrite_body
from relaygate.protocols.sse import SSEFramer, event_data
from relaygate.protocols.validate import check_body
from relaygate.providers.base import Provider, provider_for
from relaygate.providers.forwarding import client_headers, with_query
from relaygate.services.gateway.accounts import (
    authenticate,
    auto_group,
    check_old_rules,
    old_status,
    pinned_routes,
    presented_key,
)
from relaygate.services.gateway.alerts import Alerts
from relaygate.services.gateway.answers import AnswerRelay, looks_like_object, read_head
from relaygate.services.gateway.catalog import Route, Snapshot
from relaygate.services.gateway.clients import detect_client
from relaygate.services.gateway.exchange import Exchange, Inbound, OldEntry, Outcome, record_usage
from relaygate.services.gateway.gate import Gate
from relaygate.services.gateway.health import HealthBoard
from relaygate.services.gateway.sessions import StickySessions, session_of
from relaygate.services.gateway.state import GatewayState
from relaygate.services.gateway.streaming import StreamRelay, UpstreamFailure, map_client_error
from relaygate.services.gateway.translate import (
    NATIVE_EVENTS,
    Dialects,
    EventPassthrough,
    NativePassthrough,
    OpenAIPassthrough,
    StreamStrategy,
    Translated,
    caller_options,
)
from relaygate.services.gateway.usage import UsageWriter
from relaygate.store.spool import Spool

log = logging.getLogger("relaygate.relay")

RETRYABLE_STATUS = frozenset({401, 402, 403, 404, 408, 409, 429})


class Relay:
    """One instance per process, built by app.py with every dependency passed in."""

    def __init__(self, settings: Settings, state: GatewayState, providers: Mapping[str, Provider],
                 session: aiohttp.ClientSession, health: HealthBoard, usage: UsageWriter,
                 gate: Gate | None = None,
                 alerts: Alerts | None = None, legacy: OldEntry | None = None) -> None:
        self.settings = settings
        self.legacy = legacy
        self.alerts = alerts
        self.gate = gate
        self.state = state
        self.providers = providers
        self.session = session
        self.health = health
        self.usage = usage
        self.dialects = Dialects()
        self._rotation: dict[int, int] = {}
        self.sessions = StickySessions(settings.sticky_session_seconds)
        self._timeouts: dict[tuple[float, float, float], aiohttp.ClientTimeout] = {}
        self.observers: list[Callable[[Exchange], None]] = []  # metrics, access log, traces (app wires them)
        self.meter: Any = None  # services.gateway.metrics.Meter when metrics are on
        self.traced = False  # OpenTelemetry on: keep the caller's traceparent for the request span

    # --- entry ----------------------------------------------------------------------------

    async def handle(self, inbound: Inbound) -> Outcome:
        ex = Exchange(self.new_record(inbound), monotonic())
        if self.traced:
            ex.traceparent = inbound.headers.get("traceparent")
        rec = ex.rec
        try:
            snap = self.state.snapshot
            try:
                key, pinned = authenticate(snap, presented_key(inbound.headers, inbound.query_key),
                                           inbound.client_ip)
            except GatewayError as exc:
                old = self.legacy
                target = old.legacy_target(None) if old is not None else None
                if exc.code != "invalid_api_key" or target is None or old is None:
                    raise
                rec["masked_key"] = exc.params.get("masked")
                return await old.forward(self, inbound, ex, target)  # a key only the old entry knows
            self.fill_key(rec, snap, key)
            ex.key = key
            rules = snap.rules.get(key.id) if snap.rules else None  # an imported key's old-system rules
            if rules is not None:
                check_old_rules(snap, key, rules, pinned)
            if self.legacy is not None:
                target = self.legacy.legacy_target(key)
                if target is not None:
                    return await self.legacy.forward(self, inbound, ex, target)
            try:
                if inbound.dialect == "openai":
                    data, facts = parse_request(inbound.body, inbound.endpoint)
                else:
                    data, facts = self.parse_dialect(inbound)
                check_body(inbound.dialect, inbound.endpoint, data)  # before any money is held
            except BadBody as exc:
                raise GatewayError("bad_request", detail=exc.en, detail_zh=exc.zh, param=exc.param) from exc
            rec["requested_model"] = facts.model
            rec["stream"] = facts.stream
            public = snap.resolve(facts.model)
            if snap.model_tasks:
                snap.check_task(public, facts.model, inbound.operation)
            if rules is not None and rules.auto_groups:
                key = ex.key = auto_group(snap, key, rules.auto_groups, public)
                rec["group_name"] = key.group
            snap.check_allowed(key, public, facts.model)
            routes = snap.candidates(public, key.group)
            if pinned is not None:
                routes = pinned_routes(snap, routes, pinned, public, rules)
            if inbound.operation == "count_tokens":
                return await self.count_tokens(inbound, ex, public, key.group, routes, data, facts)
            if self.gate is not None:
                ex.admitted = await self.gate.enter(snap, key, public, facts, inbound.request_id, inbound.operation)
                if self.meter is not None and ex.admitted is not None:
                    self.meter.admitted()
            return await self.forward(inbound, ex, public, key.group, routes, data, facts)
        except GatewayError as exc:
            old_status(exc, self.state.snapshot, ex.key)
            if exc.code == "invalid_api_key" and rec["masked_key"] is None:
                rec["masked_key"] = exc.params.get("masked")  # lets support find the caller's attempts
            await self.finish(ex, exc.status, exc.code)
            raise
        except asyncio.CancelledError:
            await self.finish(ex, 499, "client_disconnected")
            raise

    def parse_dialect(self, inbound: Inbound) -> tuple[dict[str, Any], RequestFacts]:
        """Facts from an Anthropic, Responses or Gemini body, without translating it."""
        try:
            data = orjson.loads(inbound.body) if inbound.body else None
        except orjson.JSONDecodeError as exc:
            raise BadBody(f"The request body is not valid JSON ({exc}).", f"请求体不是合法的 JSON（{exc}）。") from exc
        if not isinstance(data, dict):
            raise BadBody("The request body must be a JSON object.", "请求体必须是 JSON 对象。")
        model, stream, max_tokens = self.dialects.get(inbound.dialect).request_facts(data)
        if inbound.path_model is not None:
            model, stream = inbound.path_model, inbound.path_stream
        if not isinstance(model, str) or not model.strip():
            raise BadBody("The field 'model' is missing or not a string.", "缺少 'model' 字段或它不是字符串。")
        # tools and system prompts count as input too: hold on the body size (about 4 bytes a token)
        return data, RequestFacts(model.strip(), bool(stream), max_tokens, True, max(len(inbound.body) // 4, 1))

    async def count_tokens(self, inbound: Inbound, ex: Exchange, public: str, group: str, routes: list[Route],
                           data: dict[str, Any], facts: RequestFacts) -> Outcome:
        """Anthropic's count_tokens: asked of an Anthropic upstream, else estimated here. Never billed."""
        native = [r for r in routes if "count_tokens" in getattr(self.provider_of(r), "operations", ())
                  and getattr(self.provider_of(r), "dialect", "") == "anthropic"]
        if native:
            return await self.forward(inbound, ex, public, group, native, data, facts)
        tokens = int(self.dialects.get("anthropic").count_tokens_estimate(data))
        estimate = {"input_tokens": tokens}
        ex.rec["prompt_tokens"] = ex.rec["total_tokens"] = tokens
        ex.rec["estimated"] = True
        await self.finish(ex, 200, None)
        return Outcome(200, "application/json", body=orjson.dumps(estimate))

    def new_record(self, inbound: Inbound) -> dict[str, Any]:
        client, version = detect_client(inbound.headers)
        rec: dict[str, Any] = {
            "request_id": inbound.request_id, "ts": now_ms(), "key_id": None, "masked_key": None,
            "owner_id": None, "group_name": None, "environment": None, "client": client,
            "client_version": version, "entry_path": inbound.path[:128], "host": inbound.host[:255],
            "requested_model": None, "upstream_model": None, "channel_id": None, "attempts": 0,
            "status": None, "error_code": None, "prompt_tokens": 0, "completion_tokens": 0,
            "total_tokens": 0, "cached_tokens": 0, "stream": False, "latency_ms": 0, "ttft_ms": None,
            "caller_ip": inbound.client_ip, "estimated": False, "cost": 0, "detail": None, "body": None,
            "route": "native",
        }
        if self.settings.store_prompts:
            rec["body"] = inbound.body[:65536].decode("utf-8", "replace")
        return rec

    @staticmethod
    def fill_key(rec: dict[str, Any], snap: Snapshot, key: Any) -> None:
        rec["key_id"] = key.id
        rec["masked_key"] = key.masked
        rec["owner_id"] = key.owner_id
        rec["group_name"] = key.group
        rec["environment"] = key.environment

    async def finish(self, ex: Exchange, status: int, error_code: str | None,
                     delivered: bool | None = None) -> None:
        """The one end of every request: settle or release money, return limits, queue the record.

        ``delivered`` (default: status < 400): an answer, whole or in part, reached the caller and is
        charged; a stream the caller left is recorded 499 and still ``delivered``."""
        if ex.finished:
            return
        ex.finished = True
        rec = ex.rec
        rec["status"] = status
        rec["error_code"] = error_code
        rec["latency_ms"] = int((monotonic() - ex.started) * 1000)
        try:
            admitted = ex.admitted
            if admitted is not None and self.gate is not None:
                cost = rec["cost"] = await self.gate.leave(admitted, status < 400 if delivered is None else delivered,
                                                           rec["prompt_tokens"],
                                                           rec["completion_tokens"], rec["cached_tokens"],
                                                           rec["total_tokens"])
                if cost and self.alerts is not None and ex.key is not None and self.alerts.watches(ex.key):
                    await self.alerts.after_spend(ex.key)
        finally:
            admitted = ex.admitted
            charge = admitted.charge if admitted is not None else None
            self.usage.add(rec, charge.entries if charge is not None else None)
            for observe in self.observers:
                try:
                    observe(ex)
                except Exception:  # an observer's bug must never cost a usage record or a settlement
                    log.exception("observer %r failed", observe)

    @property
    def usage_spool(self) -> Spool | None:
        return self.usage.spool

    def progress(self, ex: Exchange, prompt_tokens: int, completion_tokens: int,
                 cached_tokens: int) -> dict[str, Any] | None:
        """A running stream's progress line: what the crash recovery settles it for should the process
        die now (services/gateway/recovery.py). None once it is finished. A free stream (no charge)
        has one too, so it is not left without a usage record."""
        if ex.finished:
            return None
        admitted = ex.admitted
        charge = admitted.charge if admitted is not None else None
        if charge is not None:
            if charge.done:
                return None
            tariff = charge.tariff
            return {"o": tariff.owner_id, "k": tariff.key_id, "m": tariff.model, "ts": charge.created_ms,
                    "pt": prompt_tokens, "ct": completion_tokens, "cc": cached_tokens,
                    "cost": tariff.rate.cost(prompt_tokens, completion_tokens, cached_tokens)}
        rec = ex.rec
        if not isinstance(rec["owner_id"], str):
            return None
        return {"o": rec["owner_id"], "k": rec["key_id"], "m": rec["requested_model"], "ts": rec["ts"],
                "pt": prompt_tokens, "ct": completion_tokens, "cc": cached_tokens, "cost": 0}

    # --- routing and failover ---------------------------------------------------------------

    def pick(self, routes: list[Route], tried: set[int], dialect: str | None = None,
             session: str | None = None) -> Route | None:
        """Highest priority tier first; inside it the caller's own dialect first (pass-through keeps
        cache_control, thinking and beta features), then weighted random; skip tried and cooling channels.
        A session's channel is kept while it is usable (docs/dialects.md, "Routing and sticky sessions")."""
        usable = [r for r in routes if r.channel.id not in tried and self.health.is_available(r.channel.id)]
        if not usable:
            return None
        if session is not None:
            held = self.sessions.channel(session)
            if held is not None:
                for r in usable:
                    if r.channel.id == held:
                        return r
        top = usable[0].channel.priority
        tier = [r for r in usable if r.channel.priority == top]
        if dialect is not None and len(tier) > 1:
            native = [r for r in tier if getattr(self.provider_of(r), "dialect", "") == dialect]
            tier = native or tier
        if len(tier) == 1:
            return tier[0]
        weights = [max(r.channel.weight, 0) for r in tier]
        if not any(weights):
            return random.choice(tier)
        return random.choices(tier, weights=weights)[0]

    def provider_of(self, route: Route) -> Provider | None:
        """The provider of the route's protocol that serves its model (Vertex AI: Gemini or Claude)."""
        return provider_for(self.providers.get(route.channel.protocol), route.upstream_model)

    def secret_for(self, route: Route, session: str | None = None) -> str:
        secrets = route.channel.secrets
        if len(secrets) == 1:
            return secrets[0]
        if not secrets:
            return ""
        if session is not None:
            held = self.sessions.secret(session, route.channel.id)
            if held is not None:
                return secrets[held % len(secrets)]
        n = self._rotation.get(route.channel.id, 0)
        self._rotation[route.channel.id] = n + 1
        if session is not None:
            self.sessions.hold(session, route.channel.id, n % len(secrets))
        return secrets[n % len(secrets)]

    def timeout_for(self, route: Route) -> aiohttp.ClientTimeout:
        ch = route.channel
        spec = (ch.connect_timeout, ch.first_byte_timeout, ch.total_timeout)
        timeout = self._timeouts.get(spec)
        if timeout is None:
            timeout = self._timeouts[spec] = aiohttp.ClientTimeout(
                total=ch.total_timeout, sock_connect=ch.connect_timeout, sock_read=ch.first_byte_timeout)
        return timeout

    async def forward(self, inbound: Inbound, ex: Exchange, public: str, group: str,
                      routes: list[Route], data: dict[str, Any], facts: RequestFacts) -> Outcome:
        rec = ex.rec
        if not routes:
            raise GatewayError("no_healthy_channel", model=public, group=group,
                               detail=" (no enabled channel serves it for this group)")
        tried: set[int] = set()
        attempts: list[dict[str, Any]] = []
        last: UpstreamFailure | None = None
        session = session_of(inbound.headers, data)
        for _ in range(max(1, self.settings.max_attempts)):
            route = self.pick(routes, tried, inbound.dialect, session)
            if route is None:
                break
            tried.add(route.channel.id)
            rec["channel_id"] = route.channel.id
            rec["upstream_model"] = route.upstream_model
            rec["attempts"] = len(tried)
            t0 = monotonic()
            ex.overhead = t0 - ex.started - sum(a["ms"] for a in attempts) / 1000
            try:
                outcome = await self.attempt(inbound, ex, route, data, facts, session)
            except UpstreamFailure as failure:
                attempts.append({"channel_id": route.channel.id, "status": failure.status,
                                 "error": failure.kind, "reason": failure.internal[:300],
                                 "ms": int((monotonic() - t0) * 1000)})
                rec["detail"] = {"attempts": attempts}
                # the operator's view keeps the channel's address; the caller's message never has it
                log.warning("request %s: channel %s failed: %s", inbound.request_id, route.channel.name,
                            failure.describe())
                if not failure.retryable:
                    raise failure.to_error(public, len(tried)) from None
                self.health.failure(route.channel.id, failure.describe())
                if session is not None:
                    self.sessions.drop(session)  # the next attempt picks afresh, and the session follows it
                last = failure
                continue
            if attempts:
                attempts.append({"channel_id": route.channel.id, "status": 200, "error": None,
                                 "ms": int((monotonic() - t0) * 1000)})
                rec["detail"] = {"attempts": attempts}
            self.health.success(route.channel.id)
            if session is not None:
                self.sessions.keep(session, route.channel.id)
            return outcome
        if last is None:
            cooling = [r.channel.name for r in routes if not self.health.is_available(r.channel.id)]
            detail = f" (all {len(cooling)} channel(s) are cooling down after failures)" if cooling else ""
            raise GatewayError("no_healthy_channel", model=public, group=group, detail=detail)
        raise last.to_error(public, len(tried))

    def upstream_body(self, inbound: Inbound, ex: Exchange, provider: Provider, route: Route,
                      data: dict[str, Any], facts: RequestFacts) -> tuple[bytes, dict[str, str]]:
        """The body for this upstream: the caller's bytes when both speak one dialect, else translated."""
        headers = {"X-Request-Id": inbound.request_id}
        model = route.upstream_model
        if provider.dialect == inbound.dialect:
            # pass-through: the caller's headers go on, minus credentials and the deny-list
            headers = {**client_headers(inbound.headers, route.channel.options), **headers}
            if inbound.dialect == "openai":
                return rewrite_body(inbound.body, data, model, facts), headers
            if inbound.dialect == "gemini" or data.get("model") == model:
                return inbound.body, headers
            return orjson.dumps({**data, "model": model}), headers
        if ex.chat is None:
            ex.chat = self.dialects.get(inbound.dialect).request_to_chat(data)
        chat = {**ex.chat, "model": model, "stream": facts.stream}
        target = self.dialects.get(provider.dialect)
        if provider.dialect == "openai":  # what the model accepts, from the catalogue's capabilities
            snap = self.state.snapshot
            known = snap.models.get(snap.aliases.get(facts.model, facts.model))
            reasoning = (known.capabilities or {}).get("reasoning") if known is not None else None
            return orjson.dumps(target.request_from_chat(chat, reasoning=reasoning)), headers
        return orjson.dumps(target.request_from_chat(chat)), headers

    def stream_strategy(self, inbound: Inbound, provider: Provider, facts: RequestFacts,
                        data: dict[str, Any]) -> StreamStrategy:
        if provider.dialect == inbound.dialect:
            if inbound.dialect == "openai":
                return OpenAIPassthrough(facts.include_usage)
            if inbound.dialect in NATIVE_EVENTS:
                return NativePassthrough(self.dialects.get(inbound.dialect), facts.model, inbound.dialect)
            return EventPassthrough(self.dialects.get(inbound.dialect), facts.model)
        caller = self.dialects.get(inbound.dialect)
        return Translated(self.dialects.get(provider.dialect), caller, facts.model,
                          **caller_options(inbound.dialect, caller, data))

    def answer_body(self, inbound: Inbound, provider: Provider, raw: bytes, facts: RequestFacts,
                    data: dict[str, Any]) -> bytes:
        if provider.dialect == inbound.dialect:
            return raw
        try:
            upstream = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise invalid_answer(200, "JSON") from exc
        chat = self.dialects.get(provider.dialect).response_to_chat(upstream)
        caller = self.dialects.get(inbound.dialect)
        return orjson.dumps(caller.response_from_chat(chat, facts.model,
                                                      **caller_options(inbound.dialect, caller, data)))

    async def attempt(self, inbound: Inbound, ex: Exchange, route: Route,
                      data: dict[str, Any], facts: RequestFacts, session: str | None = None) -> Outcome:
        rec = ex.rec
        provider = self.provider_of(route)
        operation = inbound.operation
        if provider is None or operation not in provider.operations or (
                provider.dialect != inbound.dialect and operation != "chat"):
            raise UpstreamFailure("unsupported", None, f"protocol {route.channel.protocol} cannot serve "
                                  f"{inbound.dialect} {operation}", retryable=True)
        body, headers = self.upstream_body(inbound, ex, provider, route, data, facts)
        secret = self.secret_for(route, session)
        prepare = getattr(provider, "prepare", None)  # Vertex: the key's access token (cached for an hour)
        if prepare is not None:
            try:
                secret = await prepare(self.session, route.channel, secret)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                raise UpstreamFailure("auth", None, f"could not get an access token: {exc}"[:300],
                                      retryable=True) from exc
        req = provider.build(route.channel, secret, operation, body, route.upstream_model, facts.stream, headers)
        if inbound.query and provider.dialect == inbound.dialect:
            req = dataclasses.replace(req, url=with_query(req.url, inbound.query, route.channel.options))
        timeout = self.timeout_for(route)
        try:
            resp = await self.session.request(req.method, req.url, headers=req.headers, data=req.body,
                                              timeout=timeout)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise map_client_error(exc, route.channel) from exc
        try:
            if resp.status >= 400:
                raw = await resp.read()
                detail = redact(provider.error_detail(raw))
                retryable = resp.status >= 500 or resp.status in RETRYABLE_STATUS
                raise UpstreamFailure(f"http_{resp.status}", resp.status, detail, retryable=retryable)
            if facts.stream and operation == "chat":
                first = await resp.content.readany()
                if not first:
                    raise UpstreamFailure("empty_stream", resp.status, "the upstream closed the stream "
                                          "before sending anything", retryable=True)
                first = await first_events(resp, first)  # garbage before the caller's first byte fails over
                strategy = self.stream_strategy(inbound, provider, facts, data)
                stream = StreamRelay(self, resp, strategy, ex, first, facts)
                native = provider.dialect == inbound.dialect
                ctype = resp.headers.get("Content-Type", "text/event-stream") if native else "text/event-stream"
                return Outcome(200, ctype, stream=stream)
            raw, whole = await read_head(resp)
            if not whole:
                if provider.dialect != inbound.dialect or facts.stream:  # translated: the answer is needed whole
                    raw += await resp.read()
                elif not looks_like_object(raw):
                    raise invalid_answer(resp.status, "JSON")
                else:  # a large pass-through answer: relayed as it arrives (services/gateway/answers.py)
                    relayed = AnswerRelay(self, resp, ex, raw, lambda body: provider.usage(operation, body),
                                          facts.prompt_estimate)
                    length = resp.headers.get("Content-Length")
                    return Outcome(resp.status, resp.headers.get("Content-Type", "application/json"),
                                   stream=relayed, headers={"Content-Length": length} if length else {})
        except (aiohttp.ClientError, TimeoutError) as exc:
            resp.close()
            raise map_client_error(exc, route.channel) from exc
        except BaseException:
            resp.close()
            raise
        resp.release()
        usage = provider.usage(operation, raw)
        if usage is None:  # a usage figure proves the body parsed; without one, parse it
            if facts.stream:
                if not events_valid(raw + b"\n\n"):  # a stream read whole (legacy completions)
                    raise invalid_answer(resp.status, "SSE event (JSON)")
            else:
                check_answer(resp.status, raw)
        answer = self.answer_body(inbound, provider, raw, facts, data)
        if usage is not None:
            record_usage(rec, usage)
        else:
            rec["prompt_tokens"] = facts.prompt_estimate
            rec["total_tokens"] = facts.prompt_estimate
            rec["estimated"] = True
        await self.finish(ex, resp.status, None)
        ctype = resp.headers.get("Content-Type", "application/json") if answer is raw else "application/json"
        return Outcome(resp.status, ctype, body=answer)


PREFETCH_LIMIT = 65536  # bytes read ahead, at most, to find the stream's first complete event


def invalid_answer(status: int, what: str) -> UpstreamFailure:
    return UpstreamFailure("invalid_response", status, f"the upstream answered HTTP {status} with a body that is "
                           f"not valid {what}", retryable=True, which=what)


def check_answer(status: int, raw: bytes) -> None:
    """A 2xx answer whose body is not JSON, or is an error object, is the upstream failing."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise invalid_answer(status, "JSON") from None
    if isinstance(obj, dict) and obj.get("error") and not any(
            obj.get(f) for f in ("choices", "content", "candidates", "output", "data")):
        raise UpstreamFailure("invalid_response", status, "the upstream answered HTTP "
                              f"{status} with an error object: {redact(error_message(raw))}"[:400],
                              retryable=True, which="JSON")


async def first_events(resp: aiohttp.ClientResponse, first: bytes) -> bytes:
    """Read ahead to the stream's first complete data event and check that it parses.

    Returns the bytes read (the stream relay frames them again). Raises ``UpstreamFailure`` when that
    event's data is not JSON (nor [DONE]) or the stream ends without one: nothing reached the caller
    yet, so the next channel is tried. Later events are relayed as the upstream wrote them (reading
    every event of a first read that holds a whole answer would parse it all twice)."""
    data = first
    while True:
        seen = first_event_valid(data)
        if seen is False:
            raise invalid_answer(resp.status, "SSE event (JSON)")
        if seen or len(data) >= PREFETCH_LIMIT:
            return data
        more = await resp.content.readany()
        if not more:
            if first_event_valid(data + b"\n\n"):  # an unterminated last event: judged as the relay would
                return data
            raise invalid_answer(resp.status, "SSE stream")
        data += more


def first_event_valid(data: bytes) -> bool | None:
    """Whether the first complete data event in ``data`` parses (JSON or [DONE]): True, False, or None
    when no data event is complete yet."""
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    start = 0
    while (end := data.find(b"\n\n", start)) >= 0:
        payload = event_data(data[start:end])
        start = end + 2
        if payload is None:
            continue  # a comment or keep-alive
        if payload == b"[DONE]":
            return True
        try:
            orjson.loads(payload)
        except orjson.JSONDecodeError:
            return False
        return True
    return None


def events_valid(data: bytes) -> bool | None:
    """Whether the complete SSE events in ``data`` parse: True (at least one data event, all JSON or
    [DONE]), False (one does not), None (no complete data event yet)."""
    seen: bool | None = None
    for event in SSEFramer().feed(data):
        payload = event_data(event)
        if payload is None:
            continue  # a comment or keep-alive
        if payload != b"[DONE]":
            try:
                orjson.loads(payload)
            except orjson.JSONDecodeError:
                return False
        seen = True
    return seen
