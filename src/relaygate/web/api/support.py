"""Admin REST API for support: diagnose a request or key, error statistics, notices; /api/v1/… base-URL mistakes."""

from __future__ import annotations

from typing import Any

import yaml
from fastapi import FastAPI, Query, Request
from fastapi.responses import Response

from relaygate.app import Gateway
from relaygate.core.clock import monotonic
from relaygate.core.errors import GatewayError, InvalidInput, prefers_chinese
from relaygate.core.ids import request_id as new_request_id
from relaygate.services.gateway.exchange import Inbound
from relaygate.services.notices.context import gather
from relaygate.services.notices.plan import MigrationPlan, plan_from_mapping
from relaygate.services.notices.render import lang_code, render_notices
from relaygate.services.support.diagnose import SupportDesk
from relaygate.services.support.stats import error_stats
from relaygate.web.relay import misconfig


def _lang(request: Request) -> str:
    return "zh-CN" if prefers_chinese(request.headers.get("accept-language")) else "en"


async def _plan(request: Request) -> MigrationPlan:
    raw = (await request.body()).decode("utf-8", "replace").strip()
    if not raw:
        return MigrationPlan()
    try:
        return plan_from_mapping(yaml.safe_load(raw))
    except yaml.YAMLError as exc:
        raise InvalidInput(f"The plan is not valid YAML: {exc}", f"迁移计划不是合法的 YAML：{exc}") from exc


def add_support_routes(app: FastAPI, gw: Gateway, auth: list[Any]) -> None:
    desk = SupportDesk(gw.engine, gw.settings)

    @app.get("/api/support/diagnose/{ident}", dependencies=auth)
    async def diagnose(ident: str, request: Request,
                       reply: str | None = Query(None, description="Draft the ticket answer: zh-CN or en."),
                       old_host: list[str] = Query([], description="Host of the old entry (repeatable)."),
                       days: int = Query(7, ge=1, le=365)) -> dict[str, Any]:
        """Safe evidence, likely cause and next action for a request id, key id or masked key."""
        result = await desk.diagnose(ident, _lang(request), lang_code(reply) if reply else None, None, old_host, days)
        return result.view()

    @app.post("/api/support/diagnose/{ident}", dependencies=auth)
    async def diagnose_with_plan(ident: str, request: Request, reply: str | None = None,
                                 old_host: list[str] = Query([]), days: int = Query(7, ge=1, le=365)
                                 ) -> dict[str, Any]:
        """The same, with a migration plan (YAML body) for old hosts and old model names."""
        result = await desk.diagnose(ident, _lang(request), lang_code(reply) if reply else None,
                                     await _plan(request), old_host, days)
        return result.view()

    @app.get("/api/support/stats", dependencies=auth)
    async def stats(days: int = Query(7, ge=1, le=366), utc_offset: float = Query(0.0, ge=-14, le=14),
                    top: int = Query(10, ge=1, le=100)) -> dict[str, Any]:
        """Errors per class per day, most repeated codes per client and per owner, FAQ entries to write next."""
        return await error_stats(gw.engine, days, utc_offset, top)

    @app.post("/api/support/notices", dependencies=auth)
    async def notices(request: Request, lang: str = "en",
                      kind: str = Query("md", pattern="^(md|html|all)$")) -> dict[str, Any]:
        """Render the notices from the live configuration and an optional plan (YAML body); files as JSON."""
        live = await gather(gw.engine, gw.settings, await _plan(request))
        files = render_notices(live, lang_code(lang))
        if kind != "all":
            files = {name: text for name, text in files.items() if name.endswith("." + kind)}
        return {"base_url": live.forms.v1, "files": files,
                "open_checks": [c.text(lang_code(lang)) for c in live.checks if not c.ok]}

    @app.api_route("/api/v1/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    async def relay_path_under_api(rest: str, request: Request) -> Response:
        """A base URL ending in /api/v1 (OpenRouter style) sends relay calls here: name the mistake."""
        started = monotonic()
        rid = new_request_id()
        headers = {k.lower(): v for k, v in request.headers.items()}
        path = request.url.path
        forms = misconfig.base_forms(gw.settings, headers, request.url.scheme)
        finding = misconfig.find(request.method, path, headers, forms)
        if finding is None:
            return Response(b'{"detail":"Not Found"}', 404, media_type="application/json")
        err = GatewayError(finding.code, **finding.params(request.method, path))
        lang = _lang(request)
        body = await request.body() if request.method in ("POST", "PUT", "PATCH") else b""
        inbound = Inbound(endpoint="misconfig", path=path, host=headers.get("host", ""), headers=headers, body=b"",
                          client_ip=request.client.host if request.client else None, request_id=rid, lang=lang,
                          query_key=request.query_params.get("key"))
        await misconfig.count(gw.relay, inbound, finding, err, body[: gw.settings.max_body_bytes], started)
        return Response(misconfig.error_body(finding, err, rid, lang, gw.settings.docs_url), err.status,
                        media_type="application/json", headers={"x-request-id": rid})
