"""Who calls the key holder's API (``/api/user/…``): an API key of the owner, or a signed-in portal user.

A key holder without a key (an account an operator made, an invite, an imported One API / New API user) signs in
with ``POST /api/user/session`` (username and password, the portal's rules: rate limit, lock-out, confirmed
e-mail) and gets a session token, ``rgs_…``, sent as ``Authorization: Bearer rgs_…``. It is a portal session (the
same table, expiry and revocation as the browser's: a disabled user's and a changed password's other sessions
end at once), used without a cookie, so no CSRF token is needed. Every ``/api/user/…`` route takes either; the
OpenAPI document declares the ``KeyHolder`` bearer scheme on each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Depends, FastAPI, Request, Response, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from relaygate.app import Gateway
from relaygate.core.clock import iso
from relaygate.core.domain import KeyRecord
from relaygate.core.errors import GatewayError, InvalidInput
from relaygate.services.gateway.accounts import authenticate, presented_key
from relaygate.services.operate.audit import AuditLog
from relaygate.services.operate.operators import SignInRefused
from relaygate.services.operate.websessions import IDLE_MS, WebSessions

PREFIX = "rgs_"
SCHEME = "KeyHolder"
ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


@dataclass(frozen=True)
class Holder:
    """The caller: the owner whose data it sees, who to name in the audit log, and the key or the session."""

    owner_id: str
    actor: str
    key: KeyRecord | None = None
    user_id: str | None = None
    session_hash: str | None = None


class SignInIn(BaseModel):
    username: str = Field(max_length=128, description="The portal username (as on One API / New API).")
    password: str = Field(max_length=256)


class PasswordChangeIn(BaseModel):
    current: str = Field("", max_length=256, description="The current password (empty for an account made by "
                                                         "single sign-on that has none yet).")
    password: str = Field(max_length=256, description="The new password, 8 to 256 characters.")


SESSION_ONLY: dict[int | str, dict[str, Any]] = {
    403: {"description": "Needs a signed-in user's session token, not an API key (or the current password is "
                         "wrong).", "content": ERROR}}
REFUSED: dict[int | str, dict[str, Any]] = {
    401: {"description": "Wrong username or password, a locked account (5 wrong passwords: 15 minutes) or an "
                         "e-mail address not yet confirmed.", "content": ERROR},
    429: {"description": "Too many sign-in attempts from this address (`rate_limited`, with Retry-After).",
          "content": ERROR}}


def web_sessions(gw: Gateway) -> WebSessions:
    hours = gw.settings.console_session_hours
    return WebSessions(gw.engine, idle_ms=min(IDLE_MS, int(hours * 3_600_000)), absolute_ms=int(hours * 3_600_000))


def holder_dependency(gw: Gateway) -> Any:
    """The ``Depends`` every key-holder route takes: an API key (the relay's own checks and 401 words) or a
    live session token of an enabled user."""
    sessions = web_sessions(gw)
    bearer = HTTPBearer(auto_error=False, scheme_name=SCHEME,
                        description="An API key of the owner (`sk-…`), or a session token (`rgs_…`) from "
                                    "`POST /api/user/session`.")

    async def holder(request: Request, _declared: HTTPAuthorizationCredentials | None = Security(bearer)) -> Holder:
        headers = {k.lower(): v for k, v in request.headers.items()}
        token = presented_key(headers, None)
        if token and token.startswith(PREFIX):
            session = await sessions.get(token[len(PREFIX):])
            owner = None
            if session is not None and session.subject_kind == "user":
                assert gw.portal is not None, "the gateway was not started"
                owner = await gw.portal.users.owner_of(session.subject_id)
            if session is None or owner is None:
                raise GatewayError("session_expired", headers={"WWW-Authenticate": "Bearer"})
            return Holder(owner, f"user:{session.subject_name}", user_id=session.subject_id,
                          session_hash=session.id_hash)
        # a wrong or disabled key answers the relay's own code and words (missing_api_key, key_disabled, ...)
        key, _ = authenticate(gw.state.snapshot, token, request.client.host if request.client else None)
        return Holder(key.owner_id, f"key:{key.id}", key=key)

    return Depends(holder)


def add_session_routes(app: FastAPI, gw: Gateway, me: Any) -> None:
    sessions = web_sessions(gw)
    audit = AuditLog(gw.engine)
    tags: list[str | Any] = ["key holders: account"]

    def portal() -> Any:
        assert gw.portal is not None, "the gateway was not started"
        return gw.portal

    def ip_of(request: Request) -> str:
        ip = request.client.host if request.client else "-"
        if gw.settings.trust_forwarded_for and "x-forwarded-for" in request.headers:
            ip = request.headers["x-forwarded-for"].split(",")[0].strip()
        return ip

    def session_only(who: Holder) -> tuple[str, str]:
        if who.user_id is None or who.session_hash is None:
            raise InvalidInput("This needs a signed-in user: send the session token from POST /api/user/session, "
                               "not an API key.",
                               "此操作需要已登录的用户：请发送 POST /api/user/session 返回的会话令牌，而不是 API Key。",
                               status=403)
        return who.user_id, who.session_hash

    @app.post("/api/user/session", tags=tags, status_code=201, responses=REFUSED)
    async def sign_in(body: SignInIn, request: Request) -> dict[str, Any]:
        """Sign in with a portal username and password (imported One API / New API passwords work as they are);
        the answer's token opens every /api/user/ route as `Authorization: Bearer rgs_…` until it expires, the
        user signs out, is disabled, or changes the password elsewhere."""
        ip = ip_of(request)
        wait = await portal().abuse.take("signin", ip)
        if wait is not None:
            raise GatewayError("rate_limited", headers={"Retry-After": str(int(wait) + 1)},
                               detail="Too many sign-in attempts from here; wait and try again.",
                               detail_zh="此处登录尝试次数过多，请稍后再试。")
        try:
            principal = await portal().users.sign_in(body.username, body.password)
        except SignInRefused as exc:
            await audit.record(f"user:{body.username[:64] or '-'}", "api", "sign_in", body.username[:64], ip=ip,
                               outcome="refused", after={"reason": exc.reason})
            en, zh = {"locked": ("Too many wrong passwords: the account is locked for 15 minutes.",
                                 "密码错误次数过多：账户已锁定 15 分钟。"),
                      "unverified": ("Confirm your e-mail address first (the link in the mail we sent).",
                                     "请先确认邮箱地址（打开我们发送的邮件中的链接）。")}.get(
                exc.reason, ("Wrong username or password.", "用户名或密码错误。"))
            raise GatewayError("sign_in_refused", detail=en, detail_zh=zh) from None
        raw, session = await sessions.create(principal.kind, principal.id, principal.name, principal.role, ip,
                                             request.headers.get("user-agent"))
        await audit.record(f"user:{principal.name}", "api", "sign_in", principal.name, ip=ip,
                           after={"how": "password"})
        user = await portal().users.get(principal.id)
        return {"token": PREFIX + raw, "token_type": "bearer", "expires_at": iso(session.expires_at),
                "user": {k: user[k] for k in ("id", "username", "owner_id", "email", "email_verified")},
                "note": "Send it as 'Authorization: Bearer <token>'; it is shown this once."}

    @app.get("/api/user/session", tags=tags, responses=SESSION_ONLY)
    async def whoami(who: Holder = me) -> dict[str, Any]:
        """The signed-in user (403 for an API key)."""
        user_id, _ = session_only(who)
        user = await portal().users.get(user_id)
        return {k: user[k] for k in ("id", "username", "owner_id", "email", "email_verified", "source", "sso")}

    @app.delete("/api/user/session", tags=tags, status_code=204, responses=SESSION_ONLY)
    async def sign_out(who: Holder = me) -> Response:
        """End this session (its token stops working at once)."""
        _, session_hash = session_only(who)
        await sessions.revoke(session_hash)
        return Response(status_code=204)

    @app.post("/api/user/password", tags=tags, responses=SESSION_ONLY)
    async def change_password(body: PasswordChangeIn, request: Request, who: Holder = me) -> dict[str, Any]:
        """Change the signed-in user's password (the current one first: wrong ones count toward the lock-out);
        every other session of the user and every open reset link ends, this one stays."""
        user_id, session_hash = session_only(who)
        try:
            await portal().users.change_password(user_id, body.current, body.password, keep=session_hash)
        except InvalidInput:
            await audit.record(who.actor, "api", "failed.password.change", who.actor, ip=ip_of(request),
                               outcome="failed")
            raise
        await audit.record(who.actor, "api", "password.change", who.actor, ip=ip_of(request))
        return {"password_changed": True}
