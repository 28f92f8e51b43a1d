"""Redemption codes over the admin API: create, list and disable batches (key holders redeem through
``POST /api/user/redeem``, web/api/user.py)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Query
from pydantic import BaseModel, Field

from relaygate.app import Gateway
from relaygate.core.errors import InvalidInput
from relaygate.core.money import MoneyError, parse_amount
from relaygate.services.operate.codes import RedemptionCodes


class CodeBatchIn(BaseModel):
    name: str = Field(description="What the batch is for (shown on statements).")
    amount: str = Field(description="Credit per code, a decimal string in the deployment's currency.")
    count: int = Field(1, ge=1, le=10_000, description="How many codes.")
    uses: int = Field(1, ge=1, le=100_000, description="How many times each code redeems, each time for another "
                                                        "owner (1: a single-use code).")
    expires_at: int | None = Field(None, description="Epoch milliseconds after which codes no longer redeem.")


def add_code_routes(app: FastAPI, gw: Gateway, auth: list[Any]) -> None:
    codes = RedemptionCodes(gw.engine, gw.settings.currency)

    @app.post("/api/codes", dependencies=auth, status_code=201, tags=["codes"])
    async def create_codes(body: CodeBatchIn) -> dict[str, Any]:
        try:
            amount = parse_amount(body.amount)
        except MoneyError as exc:
            raise InvalidInput(f"'{body.amount}' is not an amount.", f"'{body.amount}' 不是有效金额。") from exc
        return await codes.create_batch(body.name, amount, body.count, body.expires_at, "admin-api", uses=body.uses)

    @app.get("/api/codes", dependencies=auth, tags=["codes"])
    async def list_codes(status: str | None = Query(None), batch: str | None = Query(None)) -> list[dict[str, Any]]:
        return await codes.list_codes(status, batch)

    @app.post("/api/codes/{code_id}/disable", dependencies=auth, tags=["codes"])
    async def disable_code(code_id: str) -> dict[str, Any]:
        return await codes.disable(code_id)
