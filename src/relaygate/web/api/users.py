"""Operators' routes for key holders (admin token): portal users, invite links and sign-up codes, reset links,
and each owner's self-service key policy. The console's Key holders page and `relaygate users …` do the same."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from pydantic import BaseModel, Field

from relaygate.app import Gateway
from relaygate.core.errors import prefers_chinese
from relaygate.services.operate.portal_accounts import link_base
from relaygate.web.api.user_account import add_account_routes
from relaygate.web.console.security import is_https

Amount = Annotated[str, Field(max_length=40, description="A decimal amount; null: no bound.")]
Count = Annotated[int, Field(ge=1, le=2**62)]


class UserIn(BaseModel):
    username: str = Field(max_length=128)
    owner: str = Field(description="Owner id or name whose data the user sees.")
    password: str = Field(max_length=256)
    email: str | None = Field(None, max_length=255)


class PasswordIn(BaseModel):
    password: str = Field(max_length=256)


class ResetLinkIn(BaseModel):
    send: bool = Field(False, description="Also e-mail the link to the user (needs SMTP and an address).")


class InviteIn(BaseModel):
    owner: str | None = Field(None, description="Owner id or name the account joins; null: a sign-up code (each "
                                                "account gets its own owner).")
    username: str | None = Field(None, max_length=64, description="The username the invite is for; null: chosen.")
    email: str | None = Field(None, max_length=255, description="Sent the link when SMTP is configured.")
    days: float = Field(7, gt=0, le=366)
    uses: int = Field(1, ge=1, le=10_000)
    note: str | None = Field(None, max_length=255)


class PolicyIn(BaseModel):
    self_keys: bool | None = Field(None, description="Whether the owner's key holders may create keys.")
    max_keys: Annotated[int, Field(ge=1, le=10_000)] | None = None
    group: str | None = Field(None, max_length=64, description="Group of keys they create (null: default).")
    models: list[str] | None = Field(None, max_length=100, description="Models their keys may use; null: the group's.")
    max_cap_total: Amount | None = None
    max_cap_daily: Amount | None = None
    max_cap_monthly: Amount | None = None
    max_rpm: Count | None = None
    max_tpm: Count | None = None
    max_concurrency: Count | None = None
    max_days: Annotated[int, Field(ge=1, le=36_500)] | None = None


def add_users_routes(app: FastAPI, gw: Gateway, auth: list[Any]) -> None:
    tags: list[str | Any] = ["portal users"]

    def portal() -> Any:
        assert gw.portal is not None, "the gateway was not started"
        return gw.portal

    def lang(request: Request) -> str:
        return "zh-CN" if prefers_chinese(request.headers.get("accept-language")) else "en"

    def base(request: Request) -> str:  # an admin's own Host is trusted; the public base URL wins when set
        scheme = "https" if is_https(request.scope, gw.settings) else "http"
        return link_base(gw.settings.public_base_url, scheme, request.headers.get("host", ""))

    @app.get("/api/users", dependencies=auth, tags=tags)
    async def list_users(owner: str | None = Query(None)) -> list[dict[str, Any]]:
        return list(await portal().users.list(owner))

    @app.post("/api/users", dependencies=auth, tags=tags, status_code=201)
    async def add_user(body: UserIn) -> dict[str, Any]:
        return dict(await portal().users.add(body.username, body.owner, body.password, email=body.email))

    @app.post("/api/users/{ident}/disable", dependencies=auth, tags=tags)
    async def disable_user(ident: str) -> dict[str, Any]:
        return dict(await portal().users.disable(ident))

    @app.post("/api/users/{ident}/enable", dependencies=auth, tags=tags)
    async def enable_user(ident: str) -> dict[str, Any]:
        return dict(await portal().users.enable(ident))

    @app.post("/api/users/{ident}/password", dependencies=auth, tags=tags)
    async def set_password(ident: str, body: PasswordIn) -> dict[str, Any]:
        return dict(await portal().users.passwd(ident, body.password))

    @app.post("/api/users/{ident}/reset-link", dependencies=auth, tags=tags, status_code=201)
    async def reset_link(ident: str, body: ResetLinkIn, request: Request) -> dict[str, Any]:
        """A single-use link for the user to choose a new password (shown once)."""
        made = await portal().accounts.reset_link(ident, "admin-api", base(request), send=body.send, lang=lang(request))
        return {k: made[k] for k in ("user", "link", "expires_at", "emailed")}

    @app.get("/api/users/invites", dependencies=auth, tags=tags)
    async def list_invites() -> list[dict[str, Any]]:
        return list(await portal().accounts.invites())

    @app.post("/api/users/invites", dependencies=auth, tags=tags, status_code=201)
    async def create_invite(body: InviteIn, request: Request) -> dict[str, Any]:
        """An invite link (or, without an owner, a sign-up code); the link and token are in this answer only."""
        return dict(await portal().accounts.invite(owner=body.owner, actor="admin-api", username=body.username,
                                                   email=body.email, days=body.days, uses=body.uses, note=body.note,
                                                   base=base(request), lang=lang(request)))

    @app.post("/api/users/invites/{invite_id}/revoke", dependencies=auth, tags=tags)
    async def revoke_invite(invite_id: str) -> dict[str, Any]:
        return dict(await portal().accounts.revoke_invite(invite_id))

    @app.get("/api/owners/{owner}/portal", dependencies=auth, tags=tags)
    async def get_policy(owner: str) -> dict[str, Any]:
        """What the owner's key holders may do themselves (self-service keys and their bounds)."""
        return dict(await portal().self_keys.policy_of(owner))

    @app.put("/api/owners/{owner}/portal", dependencies=auth, tags=tags)
    async def put_policy(owner: str, body: PolicyIn) -> dict[str, Any]:
        """Change the policy; fields left out keep their value, null clears a bound."""
        return dict(await portal().self_keys.set_policy(owner, "admin-api", **body.model_dump(exclude_unset=True)))

    add_account_routes(app, gw)
