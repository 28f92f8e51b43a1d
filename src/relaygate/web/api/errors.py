"""The admin API's one error shape: the relay's ``{"error": {...}}`` envelope and catalogue codes.

Bad input of any kind (a parameter of the wrong type, an unknown query parameter, a body that does
not validate, a value the database cannot hold) is a 400 ``bad_request`` naming the parameter; a
missing or wrong admin token is 401 ``admin_unauthorized``; unknown ids are 404
``resource_not_found``; conflicts 409 ``conflict``. The OpenAPI document declares every one of these
codes and the bearer scheme, and never the framework's 422.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from sqlalchemy.exc import DataError, IntegrityError, StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException

from relaygate.core.errors import GatewayError, InvalidInput, prefers_chinese
from relaygate.core.ids import request_id as new_request_id
from relaygate.web.relay.envelope import openai_error_body

log = logging.getLogger("relaygate.api")
BEARER = "adminToken"
_BY_STATUS = {400: "bad_request", 401: "admin_unauthorized", 404: "resource_not_found", 409: "conflict"}
ERROR_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["message", "type", "code"], "properties": {
        "message": {"type": "string"}, "type": {"type": "string"}, "code": {"type": "string"},
        "param": {"type": ["string", "null"]}, "request_id": {"type": "string"},
        "doc_url": {"type": "string"}}}},
}
RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad input (`bad_request`): the message names the parameter and what is expected."},
    401: {"description": "No or wrong admin token (`admin_unauthorized`); on key-holder routes the relay's "
                         "key codes (`missing_api_key`, `invalid_api_key`, ...)."},
    404: {"description": "No such resource (`resource_not_found`)."},
    409: {"description": "Conflicts with what exists (`conflict`)."},
}


def _lang(request: Request) -> str:
    return "zh-CN" if prefers_chinese(request.headers.get("accept-language")) else "en"


def error_response(request: Request, err: GatewayError, docs_url: str = "", status: int | None = None) -> Response:
    rid = new_request_id()
    body = openai_error_body(err, rid, _lang(request), docs_url)
    return Response(body, status_code=status or err.status, media_type="application/json",
                    headers={"x-request-id": rid, **err.headers})


def from_invalid(exc: InvalidInput) -> GatewayError:
    code = _BY_STATUS.get(exc.status, "bad_request")
    if code == "admin_unauthorized":
        return GatewayError(code, headers={"WWW-Authenticate": "Bearer"})
    return GatewayError(code, detail=exc.en, detail_zh=exc.zh)


def _validation(exc: RequestValidationError) -> GatewayError:
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(p) for p in first.get("loc", ())]
    where = loc[0] if loc else "body"
    name = ".".join(loc[1:]) or where
    msg = str(first.get("msg", "invalid value"))
    kind = {"query": "query parameter", "path": "path parameter", "header": "header",
            "body": "body field"}.get(where, "parameter")
    kind_zh = {"query": "查询参数", "path": "路径参数", "header": "请求头", "body": "请求体字段"}.get(where, "参数")
    if where == "body" and name == "body":
        en, zh = f"The request body is invalid: {msg}.", f"请求体无效：{msg}。"
    else:
        en, zh = f"The {kind} '{name}' is invalid: {msg}.", f"{kind_zh} '{name}' 无效：{msg}。"
    return GatewayError("bad_request", detail=en, detail_zh=zh, param=name)


def _query_names(dependant: Any) -> set[str]:
    names: set[str] = set()
    stack = [dependant]
    while stack:
        current = stack.pop()
        names.update(p.alias for p in current.query_params)
        stack.extend(current.dependencies)
    return names


def refuse_unknown_query(request: Request) -> None:
    """A dependency of every route: a query parameter the route does not declare is a 400, not ignored."""
    if not request.query_params:
        return
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known = _query_names(dependant)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        takes = ", ".join(sorted(known)) or "none"
        raise GatewayError("bad_request", param=unknown[0],
                           detail=f"Unknown query parameter '{unknown[0]}'; this endpoint takes: {takes}.",
                           detail_zh=f"未知的查询参数 '{unknown[0]}'；该接口可用的参数：{takes}。")


def install(app: FastAPI, docs_url: str = "") -> None:
    """Error handlers and the OpenAPI document of the admin app."""

    @app.exception_handler(GatewayError)
    async def gateway_error(request: Request, exc: GatewayError) -> Response:
        return error_response(request, exc, docs_url)

    @app.exception_handler(InvalidInput)
    async def invalid(request: Request, exc: InvalidInput) -> Response:
        # a status without a code of its own (410 for an expired redemption code) keeps its status
        return error_response(request, from_invalid(exc), docs_url, exc.status)

    @app.exception_handler(RequestValidationError)
    async def validation(request: Request, exc: RequestValidationError) -> Response:
        return error_response(request, _validation(exc), docs_url)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            err = GatewayError("method_not_allowed", path=request.url.path, method=request.method,
                               allowed=(exc.headers or {}).get("Allow", "another method"))
        elif exc.status_code == 404:
            err = GatewayError("not_found", method=request.method, path=request.url.path, base_url="/api")
        else:
            err = GatewayError("bad_request", detail=str(exc.detail), detail_zh=str(exc.detail))
        return error_response(request, err, docs_url)

    async def out_of_range(request: Request, exc: Exception) -> Response:
        return error_response(request, GatewayError(
            "bad_request", detail="A value is out of range or too long for the database.",
            detail_zh="某个值超出范围或过长，数据库无法保存。"), docs_url)

    app.add_exception_handler(DataError, out_of_range)
    app.add_exception_handler(OverflowError, out_of_range)  # SQLite: an integer beyond 64 bits

    @app.exception_handler(StatementError)
    async def statement_error(request: Request, exc: StatementError) -> Response:
        if isinstance(exc.orig, OverflowError | ValueError):
            return await out_of_range(request, exc)
        return await defect(request, exc)

    @app.exception_handler(IntegrityError)
    async def integrity_error(request: Request, exc: IntegrityError) -> Response:
        return error_response(request, GatewayError(
            "conflict", detail="The change conflicts with what exists (a name already taken, or a record "
                               "still in use).",
            detail_zh="该变更与现有数据冲突（名称已被占用，或记录仍在使用）。"), docs_url)

    @app.exception_handler(Exception)
    async def defect(request: Request, exc: Exception) -> Response:
        log.exception("admin API defect on %s %s", request.method, request.url.path)
        return error_response(request, GatewayError("internal_error"), docs_url)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, routes=app.routes, description=app.description)
        components = doc.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas["Error"] = ERROR_SCHEMA
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        components.setdefault("securitySchemes", {})[BEARER] = {
            "type": "http", "scheme": "bearer", "description": "An admin token (`relaygate` prints one at the "
                                                             "first start)."}
        ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for item in doc.get("paths", {}).values():
            for op in item.values():
                responses = op.setdefault("responses", {})
                responses.pop("422", None)
                for status, spec in RESPONSES.items():
                    if str(status) == "401" and not op.get("security") and not any(
                            p.get("in") == "header" and p.get("name", "").lower() == "authorization"
                            for p in op.get("parameters", [])):
                        continue
                    responses.setdefault(str(status), {**spec, "content": ref})
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
