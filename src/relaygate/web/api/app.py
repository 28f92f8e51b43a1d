"""Admin REST API under /api (FastAPI, OpenAPI at /api/openapi.json). Thin: every rule is a service."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, Query, Request, Security
from fastapi.responses import PlainTextResponse
from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field

from relaygate import __version__
from relaygate.app import Gateway
from relaygate.core.clock import parse_time
from relaygate.core.errors import GatewayError
from relaygate.core.keys import hash_secret
from relaygate.services.operate.audit import AuditLog
from relaygate.services.operate.config import apply_config, dump_yaml, export_config, parse_document
from relaygate.services.operate.usage import UsageFilter
from relaygate.web.api import errors
from relaygate.web.api.billing import add_billing_routes
from relaygate.web.api.codes import add_code_routes
from relaygate.web.api.media import add_media_routes
from relaygate.web.api.rollout import add_rollout_routes
from relaygate.web.api.support import add_support_routes
from relaygate.web.api.user import add_user_routes
from relaygate.web.api.users import add_users_routes

INT64 = 2**63 - 1
Int64 = Annotated[int, Field(ge=-INT64, le=INT64)]
Limit = Annotated[int, Field(ge=1, le=INT64, description="A positive whole number; null: no limit.")]
Cap = Annotated[str, Field(description="Most the key may spend, a decimal amount in the deployment's currency "
                                       "such as '25'; null: no cap.")]


class OwnerIn(BaseModel):
    name: str
    kind: str = "person"
    email: str | None = None
    note: str | None = None


class GroupIn(BaseModel):
    name: str
    models: list[str] | None = Field(None, description="Public model names; null means every model.")
    description: str | None = None


class KeyIn(BaseModel):
    name: str
    owner: str = Field(description="Owner id or name.")
    group: str = "default"
    environment: str = "production"
    expires_at: str | None = Field(None, description="ISO time (UTC) or relative such as 30d.")
    allowed_models: list[str] | None = None
    allowed_networks: list[str] | None = None
    cap_total: Cap | None = None
    cap_daily: Cap | None = None
    cap_monthly: Cap | None = None
    rpm: Limit | None = None
    tpm: Limit | None = None
    concurrency: Limit | None = None


KEY_TERMS = ("cap_total", "cap_daily", "cap_monthly", "rpm", "tpm", "concurrency")


class KeyPatch(BaseModel):
    name: str | None = None
    owner: str | None = None
    group: str | None = None
    environment: str | None = None
    enabled: bool | None = None
    disabled_reason: str | None = None
    expires_at: str | None = None
    allowed_models: list[str] | None = None
    allowed_networks: list[str] | None = None
    cap_total: Cap | None = Field(None, description="Null clears the cap.")
    cap_daily: Cap | None = Field(None, description="Null clears the cap.")
    cap_monthly: Cap | None = Field(None, description="Null clears the cap.")
    rpm: Limit | None = Field(None, description="Null clears the limit.")
    tpm: Limit | None = Field(None, description="Null clears the limit.")
    concurrency: Limit | None = Field(None, description="Null clears the limit.")


class ChannelIn(BaseModel):
    name: str
    protocol: str = "openai"
    base_url: str
    secrets: list[str]
    models: dict[str, str] | list[str]
    groups: list[str] | None = None
    priority: Int64 = 0
    weight: Int64 = 1
    enabled: bool = True
    disabled_reason: str | None = None
    connect_timeout: float = 10.0
    first_byte_timeout: float = 60.0
    total_timeout: float = 600.0
    options: dict[str, Any] | None = None


class ChannelPatch(BaseModel):
    name: str | None = None
    protocol: str | None = None
    base_url: str | None = None
    secrets: list[str] | None = None
    models: dict[str, str] | list[str] | None = None
    groups: list[str] | None = None
    priority: Int64 | None = None
    weight: Int64 | None = None
    enabled: bool | None = None
    disabled_reason: str | None = None
    connect_timeout: float | None = None
    first_byte_timeout: float | None = None
    total_timeout: float | None = None
    options: dict[str, Any] | None = None


class AlertRuleIn(BaseModel):
    owner: str | None = Field(None, description="Owner id or name, with balance_below.")
    balance_below: str | None = Field(None, description="Decimal amount.")
    key: str | None = Field(None, description="Key id, with cap_percent.")
    cap_percent: Int64 | None = None
    cap: str | None = Field(None, description="total, daily or monthly; null: every cap of the key.")


class ModelIn(BaseModel):
    name: str
    aliases: list[str] = []
    status: str = "active"
    replacement: str | None = None
    description: str | None = None
    capabilities: dict[str, bool] | None = None  # {"reasoning": true}; absent keeps what the model had


def _future(value: str | None) -> int | None:
    """Expiry times: ISO, or relative to now going forward ('30d')."""
    if value is None:
        return None
    value = value.strip()
    if value and value[-1] in "smhd" and value[:-1].isdigit() and len(value) < 12:
        from relaygate.core.clock import now_ms

        units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
        return now_ms() + int(value[:-1]) * units[value[-1]] * 1000
    return _time(value, "expires_at")


def _time(value: str, name: str) -> int:
    try:
        when = parse_time(value)
    except (ValueError, OverflowError) as exc:
        raise GatewayError("bad_request", param=name,
                           detail=f"'{value}' is not a time for '{name}': use an ISO date/time (UTC) or a "
                                  "relative time such as 15m, 2h or 7d.",
                           detail_zh=f"'{value}' 不是有效的 '{name}' 时间：请使用 ISO 日期时间（UTC）或 15m、2h、"
                                     "7d 这样的相对时间。") from exc
    if not -INT64 <= when <= INT64:
        raise GatewayError("bad_request", param=name, detail=f"'{value}' is out of range for '{name}'.",
                           detail_zh=f"'{value}' 超出 '{name}' 的范围。")
    return when


def build_admin_app(gw: Gateway) -> FastAPI:
    app = FastAPI(title="relaygate admin API", version=__version__, openapi_url="/api/openapi.json",
                  docs_url=None, redoc_url=None, dependencies=[Depends(errors.refuse_unknown_query)])

    @app.get("/api/docs", include_in_schema=False)
    async def docs() -> Any:
        """Swagger UI from the assets vendored with the console: works without internet."""
        from fastapi.openapi.docs import get_swagger_ui_html

        vendor = "/console/static/vendor/swagger-ui"
        return get_swagger_ui_html(openapi_url="/api/openapi.json", title="relaygate admin API",
                                   swagger_js_url=f"{vendor}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{vendor}/swagger-ui.css",
                                   swagger_favicon_url=f"{vendor}/favicon-32x32.png")
    errors.install(app, gw.settings.docs_url)
    bearer = HTTPBearer(auto_error=False, scheme_name=errors.BEARER, description="An admin token.")

    async def admin(request: Request, _declared: Any = Security(bearer)) -> None:
        # Bearer, or the bare token One API's management scripts send
        authorization = request.headers.get("authorization", "")
        token = authorization[7:].strip() if authorization.lower().startswith("bearer ") else authorization.strip()
        if not token or hash_secret(token) not in gw.admin_hashes:
            gw.admin_hashes = await gw.accounts.admin_token_hashes()  # a token made by another process
            if not token or hash_secret(token) not in gw.admin_hashes:
                raise GatewayError("admin_unauthorized", headers={"WWW-Authenticate": "Bearer"})

    auth = [Depends(admin)]
    add_billing_routes(app, gw, auth)  # prices, group terms, balances, statements
    add_support_routes(app, gw, auth)  # support diagnose, stats, notices; /api/v1/… base-URL mistakes
    add_rollout_routes(app, gw, auth)  # gray rollout: legacy channel, batches, hand-overs, guard, report
    add_media_routes(app, gw, auth)  # media prices per unit, a task's support view
    add_code_routes(app, gw, auth)  # redemption code batches
    add_user_routes(app, gw)  # a key holder's own balance, statement, keys, requests, set-up, redeem
    add_users_routes(app, gw, auth)  # portal users, invites, reset links, owner policies; sign-up and reset

    @app.get("/api/alerts/rules", dependencies=auth)
    async def alert_rules() -> list[dict[str, Any]]:
        return await gw.alerts_admin.list_rules()

    @app.post("/api/alerts/rules", dependencies=auth, status_code=201)
    async def add_alert_rule(body: AlertRuleIn) -> dict[str, Any]:
        return await gw.alerts_admin.add_rule(**body.model_dump())

    @app.delete("/api/alerts/rules/{rule_id}", dependencies=auth, status_code=204)
    async def delete_alert_rule(rule_id: Annotated[int, Field(ge=-INT64, le=INT64)]) -> None:
        await gw.alerts_admin.delete_rule(rule_id)

    @app.get("/api/alerts/events", dependencies=auth)
    async def alert_events(limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
        return await gw.alerts_admin.events(limit)

    audit_log = AuditLog(gw.engine)

    @app.middleware("http")
    async def reload_after_write(request: Request, call_next: Any) -> Any:
        changing = request.method not in ("GET", "HEAD", "OPTIONS")
        raw = await request.body() if changing else b""
        response = await call_next(request)
        if request.method != "GET" and response.status_code < 400:
            await gw.state.refresh_if_changed()  # this process serves the change at once
        if changing:
            await audit_api_call(audit_log, request, response.status_code, raw)
        return response

    @app.get("/api/status", dependencies=auth)
    async def status() -> dict[str, Any]:
        return {"version": __version__, "config_version": gw.state.version,
                "keys": len(gw.state.snapshot.keys_by_id), "channels": len(gw.state.snapshot.channels),
                "usage_pending": gw.usage.pending, "background_tasks": gw.supervisor.names}

    # owners
    @app.get("/api/owners", dependencies=auth)
    async def list_owners() -> list[dict[str, Any]]:
        return await gw.accounts.list_owners()

    @app.post("/api/owners", dependencies=auth, status_code=201)
    async def create_owner(body: OwnerIn) -> dict[str, Any]:
        return await gw.accounts.create_owner(body.name, body.kind, body.email, body.note)

    @app.delete("/api/owners/{ident}", dependencies=auth, status_code=204)
    async def delete_owner(ident: str) -> None:
        await gw.accounts.delete_owner(ident)

    # groups
    @app.get("/api/groups", dependencies=auth)
    async def list_groups() -> list[dict[str, Any]]:
        return await gw.accounts.list_groups()

    @app.put("/api/groups/{name}", dependencies=auth)
    async def put_group(name: str, body: GroupIn) -> dict[str, Any]:
        return await gw.accounts.upsert_group(name, body.models, body.description)

    @app.post("/api/groups", dependencies=auth, status_code=201)
    async def create_group(body: GroupIn) -> dict[str, Any]:
        return await gw.accounts.upsert_group(body.name, body.models, body.description)

    @app.delete("/api/groups/{name}", dependencies=auth, status_code=204)
    async def delete_group(name: str) -> None:
        await gw.accounts.delete_group(name)

    # keys
    @app.get("/api/keys", dependencies=auth)
    async def list_keys(owner: str | None = None, group: str | None = None) -> list[dict[str, Any]]:
        return await gw.accounts.list_keys(owner, group)

    @app.post("/api/keys", dependencies=auth, status_code=201)
    async def create_key(body: KeyIn) -> dict[str, Any]:
        terms = {k: v for k, v in body.model_dump().items() if k in KEY_TERMS and v is not None}
        view, secret = await gw.accounts.create_key(body.name, body.owner, body.group, body.environment,
                                                    _future(body.expires_at), body.allowed_models,
                                                    body.allowed_networks, **terms)
        return {**view, "secret": secret, "note": "The secret is shown this once; only its hash is stored."}

    @app.get("/api/keys/{ident}", dependencies=auth)
    async def get_key(ident: str) -> dict[str, Any]:
        return await gw.accounts.get_key(ident)

    @app.patch("/api/keys/{ident}", dependencies=auth)
    async def patch_key(ident: str, body: KeyPatch) -> dict[str, Any]:
        raw = body.model_dump(exclude_unset=True)
        changes: dict[str, Any] = {k: v for k, v in raw.items() if k not in ("owner", "group", "expires_at")}
        if "owner" in raw:
            changes["owner_id"] = raw["owner"]
        if "group" in raw:
            changes["group_name"] = raw["group"]
        if "expires_at" in raw:
            changes["expires_at"] = _future(raw["expires_at"])
        return await gw.accounts.update_key(ident, **changes)

    @app.delete("/api/keys/{ident}", dependencies=auth, status_code=204)
    async def delete_key(ident: str) -> None:
        await gw.accounts.delete_key(ident)

    # channels
    @app.get("/api/channels", dependencies=auth)
    async def list_channels() -> list[dict[str, Any]]:
        return _with_live_health(gw, await gw.routing.list_channels())

    @app.post("/api/channels", dependencies=auth, status_code=201)
    async def create_channel(body: ChannelIn) -> dict[str, Any]:
        return await gw.routing.create_channel(**body.model_dump())

    @app.get("/api/channels/{ident}", dependencies=auth)
    async def get_channel(ident: str) -> dict[str, Any]:
        return _with_live_health(gw, [await gw.routing.get_channel(ident)])[0]

    @app.patch("/api/channels/{ident}", dependencies=auth)
    async def patch_channel(ident: str, body: ChannelPatch) -> dict[str, Any]:
        return await gw.routing.update_channel(ident, **body.model_dump(exclude_unset=True))

    @app.delete("/api/channels/{ident}", dependencies=auth, status_code=204)
    async def delete_channel(ident: str) -> None:
        await gw.routing.delete_channel(ident)

    # models
    @app.get("/api/models", dependencies=auth)
    async def list_models() -> list[dict[str, Any]]:
        return await gw.routing.list_models()

    @app.post("/api/models", dependencies=auth, status_code=201)
    async def upsert_model(body: ModelIn) -> dict[str, Any]:
        return await gw.routing.upsert_model(body.name, body.aliases, body.status, body.replacement,
                                             body.description, body.capabilities)

    @app.delete("/api/models/{name}", dependencies=auth, status_code=204)
    async def delete_model(name: str) -> None:
        await gw.routing.delete_model(name)

    # usage records
    @app.get("/api/usage", dependencies=auth)
    async def usage(key_id: str | None = None, owner_id: str | None = None, model: str | None = None,
                    status: int | None = Query(None, ge=100, le=599), errors_only: bool = False,
                    error_code: str | None = None, request_id: str | None = None,
                    since: str | None = Query(None, description="ISO time or relative (15m, 2h, 7d)."),
                    until: str | None = Query(None, description="ISO time or relative (15m, 2h, 7d)."),
                    limit: int = Query(50, ge=1, le=1000),
                    before_id: int | None = Query(None, ge=-INT64, le=INT64)) -> dict[str, Any]:
        flt = UsageFilter(key_id, owner_id, model, status, errors_only, error_code, request_id,
                          _time(since, "since") if since else None, _time(until, "until") if until else None)
        rows = await gw.usage_query.search(flt, limit, before_id)
        return {"data": rows, "next_before_id": rows[-1]["id"] if len(rows) == limit else None}

    # configuration as code
    @app.get("/api/config/export", dependencies=auth, response_class=PlainTextResponse)
    async def config_export() -> str:
        return dump_yaml(await export_config(gw.engine))

    @app.post("/api/config/apply", dependencies=auth)
    async def config_apply(request: Request, dry_run: bool = False, prune: bool = False) -> dict[str, Any]:
        doc = parse_document((await request.body()).decode())
        report = await apply_config(gw.engine, sorted(gw.providers), doc, dry_run=dry_run, prune=prune)
        if report.applied:
            await gw.state.reload()
        return {"applied": report.applied, "changes": report.changes}

    return app


async def audit_api_call(audit_log: AuditLog, request: Request, status: int, raw: bytes) -> None:
    """Every changing API call in the audit log: which token (by hash prefix), what, the body without secrets."""
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else auth.strip()
    actor = f"admin-token {hash_secret(token)[:8]}" if token else "anonymous"
    try:
        body: Any = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        body = f"{len(raw)} bytes"  # YAML config documents and the like: their size, not their secrets
    client = request.client
    await audit_log.record(actor, "api", f"{request.method} {request.url.path}"[:64], request.url.path, None,
                           {"status": status, "query": dict(request.query_params), "body": body},
                           client.host if client else None,
                           "ok" if status < 400 else ("refused" if status in (401, 403) else "failed"))


def _with_live_health(gw: Gateway, views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """This process's live view of health beats the last persisted row."""
    for view in views:
        state = gw.health.get(view["id"]) if not gw.health.is_available(view["id"]) else None
        if state is not None:
            view["health"].update({"state": state.state, "reason": state.reason,
                                   "consecutive_failures": state.consecutive_failures})
    return views
