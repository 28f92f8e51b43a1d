"""A key holder's account over the API, without a key: sign up (or accept an invite), confirm an e-mail address,
ask for and use a password reset. The same rules and rate limits as the portal's pages
(``operate/portal_accounts.py``, ``operate/abuse.py``); tokens travel in bodies, never in paths, so no log or
audit row carries one. Sign-in stays in the browser (the portal); the other key-holder routes take an API key.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, Response
from pydantic import BaseModel, Field

from relaygate.app import Gateway
from relaygate.core.errors import GatewayError, InvalidInput, prefers_chinese
from relaygate.services.operate.portal_accounts import link_base
from relaygate.web.console.security import allowed_hosts, host_name, is_https

ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
FORBIDDEN: dict[int | str, dict[str, Any]] = {403: {"description": "Sign-up is off here, or needs an invite code.",
                                                    "content": ERROR}}
GONE: dict[int | str, dict[str, Any]] = {410: {"description": "The link's token is unknown, used, expired or revoked.",
                                               "content": ERROR}}
LIMITED: dict[int | str, dict[str, Any]] = {429: {"description": "Too many attempts from this address (`rate_limited`, "
                                                                 "with Retry-After).", "content": ERROR}}


class SignupIn(BaseModel):
    username: str = Field(max_length=64, description="3 to 64 letters, digits or . _ - @.")
    password: str = Field(max_length=256, description="8 to 256 characters.")
    email: str | None = Field(None, max_length=255, description="Needed (and confirmed) when the gateway sends e-mail.")
    invite: str | None = Field(None, max_length=100, description="An invite link's token or a sign-up code.")


class TokenIn(BaseModel):
    token: str = Field(max_length=100, description="The token from the link (the part after the last /).")


class ForgotIn(BaseModel):
    ident: str = Field(max_length=255, description="A username or an e-mail address.")


class ResetIn(BaseModel):
    token: str = Field(max_length=100, description="The token from the reset link.")
    password: str = Field(max_length=256, description="The new password, 8 to 256 characters.")


def add_account_routes(app: FastAPI, gw: Gateway) -> None:
    tags: list[str | Any] = ["key holders: account"]
    hosts = allowed_hosts(gw.settings)

    def portal() -> Any:
        assert gw.portal is not None, "the gateway was not started"
        return gw.portal

    def lang(request: Request) -> str:
        return "zh-CN" if prefers_chinese(request.headers.get("accept-language")) else "en"

    def base(request: Request) -> str:
        """Links point at the public base URL, else at this request's Host when the console would answer to it."""
        host = request.headers.get("host", "")
        if not gw.settings.public_base_url and "*" not in hosts and host_name(host) not in hosts:
            raise InvalidInput("Unknown Host header: set RELAYGATE_PUBLIC_BASE_URL or add the name to "
                               "RELAYGATE_CONSOLE_HOSTS.", "未知的 Host 头：请设置 RELAYGATE_PUBLIC_BASE_URL，"
                               "或把该主机名加入 RELAYGATE_CONSOLE_HOSTS。")
        return link_base(gw.settings.public_base_url, "https" if is_https(request.scope, gw.settings) else "http",
                         host)

    async def limit(request: Request, rule: str, who: str | None = None) -> None:
        ip = request.client.host if request.client else "-"
        if gw.settings.trust_forwarded_for and "x-forwarded-for" in request.headers:
            ip = request.headers["x-forwarded-for"].split(",")[0].strip()
        wait = await portal().abuse.take(rule, who or ip)
        if wait is not None:
            raise GatewayError("rate_limited", headers={"Retry-After": str(int(wait) + 1)},
                               detail="Too many attempts from here; wait and try again.",
                               detail_zh="此处尝试次数过多，请稍后再试。")

    @app.post("/api/user/signup", tags=tags, status_code=201, responses={**FORBIDDEN, **GONE, **LIMITED})
    async def signup(body: SignupIn, request: Request) -> dict[str, Any]:
        """A new account: with an invite's token (its owner), with a sign-up code, or (sign-up open) on its own.
        403 when sign-up is off or needs a code; 410 for a used, expired or revoked invite."""
        await limit(request, "signup")
        made = await portal().accounts.register(body.username, body.password, body.email, body.invite,
                                                lang(request), base(request))
        user = made["user"]
        return {"user": {k: user[k] for k in ("id", "username", "owner_id", "email", "email_verified")},
                "verification_sent": made["verification_sent"],
                "next": "Confirm the e-mail address, then sign in at /portal/login." if made["verification_sent"]
                else "Sign in at /portal/login."}

    @app.post("/api/user/verify", tags=tags, responses={**GONE, **LIMITED})
    async def verify(body: TokenIn, request: Request) -> dict[str, Any]:
        """Confirm an e-mail address with the token from the confirmation link (410 when it no longer works)."""
        await limit(request, "reset")
        user = await portal().accounts.verify_email(body.token)
        if user is None:
            raise InvalidInput("This confirmation link is unknown, used or expired.",
                               "该确认链接不存在、已使用或已过期。", status=410)
        return {"username": user["username"], "email_verified": True}

    @app.post("/api/user/password/forgot", tags=tags, status_code=202, responses=LIMITED)
    async def forgot(body: ForgotIn, request: Request, response: Response) -> dict[str, Any]:
        """Send a reset link to the account named by username or e-mail. The answer is the same whether or
        not such an account exists (and the e-mail goes out in the background)."""
        await limit(request, "reset")
        ident = body.ident.strip()
        if ident and await portal().abuse.take("reset_target", ident.lower()) is None:
            await portal().accounts.request_reset(ident, lang(request), base(request))
        return {"status": "accepted",
                "message": "If an account with that name or address has an e-mail address, a link is on its way."}

    @app.post("/api/user/password/reset", tags=tags, responses={**GONE, **LIMITED})
    async def reset(body: ResetIn, request: Request) -> dict[str, Any]:
        """Choose a new password with a reset link's token (410 when used, expired or replaced); every session
        of the account ends."""
        await limit(request, "reset")
        done = await portal().accounts.reset_password(body.token, body.password)
        return {"username": done["user"], "password_changed": True}
