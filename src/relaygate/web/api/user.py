"""The key holder's own API (``/api/user/…``): authenticated with an API key of the owner or a signed-in user's
session token (``user_session.py``), scoped to that owner.

Everything the portal shows is here too, so a site can build its own page: balance and held money,
the statement (JSON, Markdown, CSV), the owner's keys (masked), their requests with the fields support
asks for and a ready 'send to support' text, client set-up, and redeeming a code.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Query, Request, Response
from pydantic import BaseModel, Field

from relaygate.app import Gateway
from relaygate.core.clock import parse_time
from relaygate.core.errors import GatewayError, InvalidInput, prefers_chinese
from relaygate.services.notices.clients import BaseForms
from relaygate.services.notices.setup import client_setup, media_examples
from relaygate.services.operate.codes import RedemptionCodes
from relaygate.services.operate.selfservice import SelfService
from relaygate.web.api.user_account import ERROR, LIMITED
from relaygate.web.api.user_session import Holder, add_session_routes, holder_dependency

TYPES = {"json": "application/json", "md": "text/plain; charset=utf-8", "csv": "text/csv; charset=utf-8"}


class RedeemIn(BaseModel):
    code: str = Field(description="The redemption code, as given.")


Amount = Annotated[str, Field(max_length=40, description="A decimal amount in the deployment's currency, e.g. '5'.")]
Count = Annotated[int, Field(ge=1, le=2**62)]


class OwnKeyIn(BaseModel):
    name: str = Field(max_length=64, description="What the key is for.")
    models: list[str] | None = Field(None, max_length=100, description="Models the key may use (within what the "
                                                                       "owner allows); null: all allowed.")
    days: int | None = Field(None, ge=1, le=36_500, description="Days the key stays valid; null: the owner's bound.")
    cap_total: Amount | None = None
    cap_daily: Amount | None = None
    cap_monthly: Amount | None = None
    rpm: Count | None = None
    tpm: Count | None = None
    concurrency: Count | None = None


class NoticeIn(BaseModel):
    threshold: Amount | None = Field(None, description="Notify when the balance falls below this; null turns the "
                                                       "notice off.")
    email: str | None = Field(None, max_length=255, description="A confirmed e-mail address of one of the owner's "
                                                                "portal accounts.")
    webhook_url: str | None = Field(None, max_length=1024, description="Receives a signed POST (event balance.low).")


NOT_ALLOWED: dict[int | str, dict[str, Any]] = {
    403: {"description": "The owner's policy does not let its key holders create keys.", "content": ERROR}}


def _lang(request: Request) -> str:
    return "zh-CN" if prefers_chinese(request.headers.get("accept-language")) else "en"


def _when(raw: str | None, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        return parse_time(raw)
    except ValueError:
        raise InvalidInput(f"'{name}' must be an ISO time or epoch milliseconds.",
                           f"'{name}' 必须是 ISO 时间或毫秒时间戳。") from None


def add_user_routes(app: FastAPI, gw: Gateway) -> None:
    selfservice = SelfService(gw.engine, gw.settings.currency)
    codes = RedemptionCodes(gw.engine, gw.settings.currency)

    me = holder_dependency(gw)  # an API key of the owner, or a signed-in user's session token
    tags: list[str | Any] = ["key holders"]

    @app.get("/api/user/balance", tags=tags)
    async def balance(who: Holder = me) -> dict[str, Any]:
        live = await gw.counters.read(f"owner:{who.owner_id}") if gw.billing is not None else None
        return await selfservice.balance(who.owner_id, live.held if live is not None else None)

    @app.get("/api/user/statement", tags=tags, response_model=None)
    async def statement(request: Request, who: Holder = me, from_: str | None = Query(None, alias="from"),
                        to: str | None = Query(None), format: str = Query("json")) -> Any:
        """Exactly what `relaygate balance statement --format json|md|csv` prints for the owner and period: opening
        balance, every top-up, redemption and adjustment with its reason, usage per day, model and key, closing
        balance; JSON amounts are exact decimal strings in the deployment's currency."""
        text, _ = await selfservice.statement(who.owner_id, _when(from_, "from"), _when(to, "to"), format,
                                               _lang(request))
        return Response(text, media_type=TYPES[format])

    @app.get("/api/user/keys", tags=tags)
    async def keys(who: Holder = me) -> list[dict[str, Any]]:
        return await selfservice.keys(who.owner_id)

    @app.get("/api/user/requests", tags=tags)
    async def requests(who: Holder = me, model: str | None = Query(None), status: int | None = Query(None),
                       errors_only: bool = Query(False), since: str | None = Query(None),
                       until: str | None = Query(None), key_id: str | None = Query(None),
                       limit: int = Query(50, ge=1, le=500),
                       before_id: int | None = Query(None)) -> list[dict[str, Any]]:
        return await selfservice.requests(who.owner_id, model=model, status=status, errors_only=errors_only,
                                          since_ms=_when(since, "since"), until_ms=_when(until, "until"),
                                          key_id=key_id, limit=limit, before_id=before_id)

    @app.get("/api/user/requests/{request_id}", tags=tags)
    async def one_request(request_id: str, request: Request, who: Holder = me) -> dict[str, Any]:
        return await selfservice.request(who.owner_id, request_id, _lang(request))

    @app.get("/api/user/setup/{client}", tags=tags)
    async def setup(client: str, request: Request, who: Holder = me) -> dict[str, Any]:
        forms = BaseForms.from_setting(gw.settings.public_base_url, request.headers.get("host", ""),
                                       request.url.scheme)
        snap = gw.state.snapshot
        if who.key is not None:
            models = snap.allowed_models(who.key)
        else:  # a signed-in user: what the owner's enabled keys may use, as the portal's page shows
            models = sorted({m for k in snap.keys_by_id.values() if k.owner_id == who.owner_id and k.enabled
                             for m in snap.allowed_models(k)})
        return client_setup(client, forms, models, _lang(request), media_examples(snap, gw.media, models))

    def portal() -> Any:
        assert gw.portal is not None, "the gateway was not started"
        return gw.portal

    @app.post("/api/user/redeem", tags=tags, responses=LIMITED)
    async def redeem(body: RedeemIn, request: Request, who: Holder = me) -> dict[str, Any]:
        abuse = portal().abuse
        ip = request.client.host if request.client else "-"
        for door in (ip, who.owner_id):
            wait = await abuse.blocked("redeem", door)
            if wait is not None:
                raise GatewayError("rate_limited", headers={"Retry-After": str(int(wait) + 1)},
                                   detail="Too many failed redemptions; wait and try again.",
                                   detail_zh="兑换失败次数过多，请稍后再试。")
        try:
            return await codes.redeem(who.owner_id, body.code, who.actor)
        except InvalidInput:
            await abuse.failed("redeem", ip)
            await abuse.failed("redeem", who.owner_id)
            raise

    @app.get("/api/user/keys/policy", tags=tags)
    async def key_policy(who: Holder = me) -> dict[str, Any]:
        """Whether this owner's key holders may create keys, and the most each term may be."""
        return dict(await portal().self_keys.policy(who.owner_id))

    @app.post("/api/user/keys", tags=tags, status_code=201, responses=NOT_ALLOWED)
    async def create_own_key(body: OwnKeyIn, who: Holder = me) -> dict[str, Any]:
        """A new key of the caller's owner, within the owner's bounds (403 when not allowed); the secret once."""
        terms = body.model_dump(exclude={"name", "models", "days"})
        view, secret = await portal().self_keys.create(who.owner_id, who.actor, body.name, models=body.models,
                                                       days=body.days, **terms)
        return {**view, "secret": secret, "note": "The secret is shown this once; only its hash is stored."}

    @app.post("/api/user/keys/{key_id}/disable", tags=tags)
    async def disable_own_key(key_id: str, who: Holder = me) -> dict[str, Any]:
        """Disable one of the owner's keys (another owner's id is not found, as an unknown one)."""
        return dict(await portal().self_keys.disable(who.owner_id, key_id, who.actor))

    @app.get("/api/user/notice", tags=tags)
    async def get_notice(who: Holder = me) -> dict[str, Any]:
        """The owner's low-balance notice and the secret its webhook POSTs are signed with."""
        return dict(await portal().notices.get(who.owner_id))

    @app.put("/api/user/notice", tags=tags)
    async def put_notice(body: NoticeIn, request: Request, who: Holder = me) -> dict[str, Any]:
        """Turn the low-balance notice on (sent once per crossing) or, with a null threshold, off."""
        return dict(await portal().notices.set(who.owner_id, who.actor, threshold=body.threshold,
                                               email=body.email, webhook_url=body.webhook_url, lang=_lang(request)))

    add_session_routes(app, gw, me)
