"""Redemption codes over the API: operators create and list batches (admin token); key holders redeem
with their own API key (``POST /api/user/redeem``), so a site can build its own redeem page."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Header, Query, Request
from pydantic import BaseModel, Field

from relaygate.app import Gateway
from relaygate.core.errors import GatewayError, InvalidInput
from relaygate.core.money import MoneyError, parse_amount
from relaygate.services.gateway.accounts import authenticate, presented_key
from relaygate.services.operate.codes import RedemptionCodes


class CodeBatchIn(BaseModel):
    name: str = Field(description="What the batch is for (shown on statements).")
    amount: str = Field(description="Credit per code, a decimal string in the deployment's currency.")
    count: int = Field(1, ge=1, le=10_000, description="How many codes.")
    expires_at: int | None = Field(None, description="Epoch milliseconds after which codes no longer redeem.")


class RedeemIn(BaseModel):
    code: str = Field(description="The redemption code, as given.")


def add_code_routes(app: FastAPI, gw: Gateway, auth: list[Any]) -> None:
    codes = RedemptionCodes(gw.engine, gw.settings.currency)

    @app.post("/api/codes", dependencies=auth, status_code=201, tags=["codes"])
    async def create_codes(body: CodeBatchIn) -> dict[str, Any]:
        try:
            amount = parse_amount(body.amount)
        except MoneyError as exc:
            raise InvalidInput(f"'{body.amount}' is not an amount.", f"'{body.amount}' 不是有效金额。") from exc
        return await codes.create_batch(body.name, amount, body.count, body.expires_at, "admin-api")

    @app.get("/api/codes", dependencies=auth, tags=["codes"])
    async def list_codes(status: str | None = Query(None), batch: str | None = Query(None)) -> list[dict[str, Any]]:
        return await codes.list_codes(status, batch)

    @app.post("/api/codes/{code_id}/disable", dependencies=auth, tags=["codes"])
    async def disable_code(code_id: str) -> dict[str, Any]:
        return await codes.disable(code_id)

    @app.post("/api/user/redeem", tags=["key holders"])
    async def redeem(body: RedeemIn, request: Request,
                     authorization: str = Header("", description="Bearer <your API key>")) -> dict[str, Any]:
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            key, _ = authenticate(gw.state.snapshot, presented_key(headers, None),
                                  request.client.host if request.client else None)
        except GatewayError as exc:  # the same words as the relay's 401/403, in the API's error shape
            raise InvalidInput(exc.message("en"), exc.message("zh-CN"), status=exc.status) from exc
        return await codes.redeem(key.owner_id, body.code, f"key:{key.id}")
