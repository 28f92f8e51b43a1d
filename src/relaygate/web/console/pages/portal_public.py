"""The portal's doors, open without a session: sign in (password or single sign-on), sign up, accept an
invite, confirm an e-mail address, forget and reset a password. Rules live in ``operate/portal_accounts.py``,
``operate/oidc.py`` and ``operate/portal_sso.py``; every form carries the sign-in form's double-submit token
and every door is rate-limited (``operate/abuse.py``)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from relaygate.core.errors import InvalidInput
from relaygate.services.operate.oidc import OidcRefused, Started
from relaygate.services.operate.operators import Principal, SignInRefused
from relaygate.services.operate.portal_accounts import link_base
from relaygate.services.operate.portal_runtime import PortalRuntime
from relaygate.services.operate.portal_sso import sso_principal
from relaygate.web.console.context import Ctx, Services, new_pre_token, read_form, set_cookie
from relaygate.web.console.i18n import pick_lang
from relaygate.web.console.security import LANG_COOKIE, PRE_COOKIE, SESSION_COOKIE, is_https, same_token

LOGIN = "/portal/login"
SSO_COOKIE = "rg_sso"


def portal_next(value: str | None) -> str:
    if value and value.startswith("/portal") and not value.startswith("//") and "\\" not in value:
        return value
    return "/portal/"


def runtime(svc: Services) -> PortalRuntime:
    assert svc.gw.portal is not None, "the gateway was not started"
    return svc.gw.portal


def base_of(ctx: Ctx) -> str:
    scheme = "https" if is_https(ctx.request.scope, ctx.gw.settings) else "http"
    return link_base(ctx.gw.settings.public_base_url, scheme, ctx.request.headers.get("host", ""))


def routes(svc: Services) -> list[Route]:
    def ctx_for(request: Request) -> Ctx:
        lang = pick_lang(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
        return Ctx(request, svc, None, lang)

    def doors(ctx: Ctx) -> dict[str, Any]:
        rt = runtime(svc)
        return {"signup_open": rt.accounts.signup_mode() != "off", "can_reset": rt.mailer.configured,
                "sso": rt.oidc.enabled, "sso_label": ctx.gw.settings.oidc_label}

    def form(ctx: Ctx, template: str, status: int = 200, **values: Any) -> Response:
        pre = new_pre_token()
        response = ctx.render(template, status=status, pre=pre, **doors(ctx), **values)
        set_cookie(response, ctx.request, svc, PRE_COOKIE, pre, max_age=3600)
        return response

    async def posted(request: Request) -> tuple[Ctx, bool]:
        ctx = ctx_for(request)
        ctx.form = await read_form(request)
        return ctx, same_token(ctx.form.get("pre"), request.cookies.get(PRE_COOKIE))

    async def limited(ctx: Ctx, rule: str, who: str) -> bool:
        wait = await runtime(svc).abuse.take(rule, who)
        if wait is not None:
            await svc.audit.record(f"ip:{ctx.ip or '-'}", "portal", rule, None, ip=ctx.ip, outcome="refused",
                                   after={"reason": "rate_limited", "wait_seconds": round(wait)})
        return wait is not None

    async def start_session(ctx: Ctx, principal: Principal, target: str, how: str) -> Response:
        raw, _ = await svc.sessions.create(principal.kind, principal.id, principal.name, principal.role, ctx.ip,
                                           ctx.request.headers.get("user-agent"))
        await svc.audit.record(f"user:{principal.name}", "portal", "sign_in", principal.name, ip=ctx.ip,
                               after={"how": how})
        response = RedirectResponse(portal_next(target), status_code=303)
        set_cookie(response, ctx.request, svc, SESSION_COOKIE, raw, max_age=int(svc.sessions.absolute_ms / 1000))
        response.delete_cookie(PRE_COOKIE, path="/")
        return response

    # --- sign in ---------------------------------------------------------------------------------

    def login_page(ctx: Ctx, error: str | None = None, status: int = 200) -> Response:
        return form(ctx, "portal_login.html", status, error=error, next=portal_next(ctx.q("next") or ctx.f("next")),
                    name=ctx.f("name"))

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return login_page(ctx_for(request))
        ctx, fresh = await posted(request)
        if not fresh:
            return login_page(ctx, ctx.t("login.expired"), 403)
        who = ctx.ip or "-"
        if svc.throttle.blocked(who) or await limited(ctx, "signin", who):
            return login_page(ctx, ctx.t("login.throttled"), 429)
        try:
            principal = await runtime(svc).users.sign_in(ctx.f("name"), ctx.form.get("password", ""))
        except SignInRefused as exc:
            svc.throttle.failed(who)
            await svc.audit.record(f"user:{ctx.f('name') or '-'}", "portal", "sign_in", ctx.f("name"), ip=ctx.ip,
                                   outcome="refused", after={"reason": exc.reason})
            key = {"locked": "login.locked", "unverified": "pp.unverified"}.get(exc.reason, "login.bad")
            return login_page(ctx, ctx.t(key), 401)
        svc.throttle.succeeded(who)
        return await start_session(ctx, principal, ctx.f("next"), "password")

    # --- sign up and invites -------------------------------------------------------------------

    async def register(ctx: Ctx, fresh: bool, again: Callable[[str, int], Response], username: str,
                       email: str | None, invite: str | None, action: str) -> Response:
        """The sign-up and invite forms' common end: checks, the account, then a session or 'check your mail'."""
        if not fresh:
            return again(ctx.t("login.expired"), 403)
        if await limited(ctx, "signup", ctx.ip or "-"):
            return again(ctx.t("pp.slow_down"), 429)
        if ctx.form.get("password", "") != ctx.form.get("password2", ""):
            return again(ctx.t("pp.mismatch"), 400)
        try:
            made = await runtime(svc).accounts.register(username, ctx.form.get("password", ""), email, invite,
                                                        ctx.lang, base_of(ctx))
        except InvalidInput as exc:
            return again(exc.message(ctx.lang), exc.status)
        user = made["user"]
        await svc.audit.record(f"user:{user['username']}", "portal", action, user["username"], ip=ctx.ip,
                               after={"owner_id": user["owner_id"], "invite": invite is not None,
                                      "verification_sent": made["verification_sent"]})
        if made["verification_sent"]:
            return ctx.render("portal_message.html", title_key="pp.check_mail", message=ctx.t("pp.check_mail_text"))
        return await start_session(ctx, Principal("user", user["id"], user["username"], "holder"), "/portal/", action)

    async def signup(request: Request) -> Response:
        rt = runtime(svc)
        if request.method == "GET":
            ctx = ctx_for(request)
            return form(ctx, "portal_signup.html", mode=rt.accounts.signup_mode(), code=ctx.q("code"),
                        values={}, needs_email=rt.mailer.configured)
        ctx, fresh = await posted(request)
        values = {k: ctx.f(k) for k in ("username", "email", "code")}

        def again(error: str, status: int) -> Response:
            return form(ctx, "portal_signup.html", status, mode=rt.accounts.signup_mode(), code=values["code"],
                        values=values, error=error, needs_email=rt.mailer.configured)

        return await register(ctx, fresh, again, values["username"], values["email"] or None, values["code"] or None,
                              "sign_up")

    async def invite(request: Request) -> Response:
        rt = runtime(svc)
        raw = request.path_params["token"]
        if request.method == "GET":
            ctx = ctx_for(request)
            taken = await rt.accounts.peek_invite(raw)
            if taken is None:
                return ctx.render("portal_message.html", status=410, title_key="pp.invite.title",
                                  message=ctx.t("pp.invite.gone"), error=True)
            return form(ctx, "portal_invite.html", token=raw, fixed=taken.username, email=taken.email)
        ctx, fresh = await posted(request)
        taken = await rt.accounts.peek_invite(raw)

        def again(error: str, status: int) -> Response:
            return form(ctx, "portal_invite.html", status, token=raw, fixed=taken.username if taken else None,
                        email=taken.email if taken else None, error=error, username=ctx.f("username"))

        return await register(ctx, fresh, again, taken.username if taken and taken.username else ctx.f("username"),
                              ctx.f("email") or None, raw, "invite.accept")

    async def verify(request: Request) -> Response:
        ctx = ctx_for(request)
        user = await runtime(svc).accounts.verify_email(request.path_params["token"])
        if user is None:
            return ctx.render("portal_message.html", status=410, title_key="pp.verify.title",
                              message=ctx.t("pp.verify.gone"), error=True)
        await svc.audit.record(f"user:{user['username']}", "portal", "email.verify", user["username"], ip=ctx.ip)
        return ctx.render("portal_message.html", title_key="pp.verify.title", message=ctx.t("pp.verify.done"),
                          sign_in=True)

    # --- password reset ------------------------------------------------------------------------

    async def forgot(request: Request) -> Response:
        rt = runtime(svc)
        if request.method == "GET":
            return form(ctx_for(request), "portal_forgot.html")
        ctx, fresh = await posted(request)
        if not fresh:
            return form(ctx, "portal_forgot.html", 403, error=ctx.t("login.expired"))
        ident = ctx.f("ident")
        if await limited(ctx, "reset", ctx.ip or "-"):
            return form(ctx, "portal_forgot.html", 429, error=ctx.t("pp.slow_down"))
        # the same answer whether or not the name exists; a name asked about too often gets no more mail
        if ident and await rt.abuse.take("reset_target", ident.lower()) is None:
            await rt.accounts.request_reset(ident, ctx.lang, base_of(ctx))
        await svc.audit.record(f"ip:{ctx.ip or '-'}", "portal", "reset.request", None, ip=ctx.ip)
        return ctx.render("portal_message.html", title_key="pp.forgot.title", message=ctx.t("pp.forgot.sent"))

    async def reset(request: Request) -> Response:
        rt = runtime(svc)
        raw = request.path_params["token"]
        if request.method == "GET":
            ctx = ctx_for(request)
            if await rt.accounts.peek_reset(raw) is None:
                return ctx.render("portal_message.html", status=410, title_key="pp.reset.title",
                                  message=ctx.t("pp.reset.gone"), error=True)
            return form(ctx, "portal_reset.html", token=raw)
        ctx, fresh = await posted(request)
        if not fresh:
            return form(ctx, "portal_reset.html", 403, token=raw, error=ctx.t("login.expired"))
        if await limited(ctx, "reset", ctx.ip or "-"):
            return form(ctx, "portal_reset.html", 429, token=raw, error=ctx.t("pp.slow_down"))
        if ctx.form.get("password", "") != ctx.form.get("password2", ""):
            return form(ctx, "portal_reset.html", 400, token=raw, error=ctx.t("pp.mismatch"))
        try:
            done = await rt.accounts.reset_password(raw, ctx.form.get("password", ""))
        except InvalidInput as exc:
            return form(ctx, "portal_reset.html", exc.status, token=raw, error=exc.message(ctx.lang))
        await svc.audit.record(f"user:{done['user']}", "portal", "reset.done", done["user"], ip=ctx.ip)
        return ctx.render("portal_message.html", title_key="pp.reset.title", message=ctx.t("pp.reset.done"),
                          sign_in=True)

    # --- single sign-on (OpenID Connect) --------------------------------------------------------

    def sso_failed(ctx: Ctx, reason: str, status: int = 401) -> Response:
        text = ctx.t("pp.sso.no_account") if reason == "no_account" else ctx.t("pp.sso.failed", reason=reason)
        return login_page(ctx, text, status)

    async def sso_start(request: Request) -> Response:
        ctx = ctx_for(request)
        rt = runtime(svc)
        if not rt.oidc.enabled:
            return login_page(ctx, ctx.t("pp.sso.off"), 404)
        if await limited(ctx, "signin", ctx.ip or "-"):
            return login_page(ctx, ctx.t("login.throttled"), 429)
        try:
            started = await rt.oidc.begin(f"{base_of(ctx)}/portal/sso/callback")
        except OidcRefused as exc:
            return sso_failed(ctx, exc.reason, 502)
        cookie = base64.urlsafe_b64encode(orjson.dumps([started.state, started.nonce, started.verifier,
                                                        portal_next(ctx.q("next"))])).decode()
        response = RedirectResponse(started.url, status_code=303)
        set_cookie(response, request, svc, SSO_COOKIE, cookie, max_age=600)
        return response

    async def sso_callback(request: Request) -> Response:
        ctx = ctx_for(request)
        rt = runtime(svc)
        try:
            state, nonce, verifier, target = orjson.loads(base64.urlsafe_b64decode(
                request.cookies.get(SSO_COOKIE, "").encode()))
        except (ValueError, TypeError):
            state = nonce = verifier = ""
            target = "/portal/"
        try:
            if not state:
                raise OidcRefused("state_mismatch")
            claims = await rt.oidc.finish(dict(request.query_params), Started("", state, nonce, verifier),
                                          f"{base_of(ctx)}/portal/sso/callback")
            principal = await sso_principal(ctx.gw.engine, ctx.gw.settings, rt.accounts, claims)
        except OidcRefused as exc:
            await svc.audit.record("sso", "portal", "sign_in", None, ip=ctx.ip, outcome="refused",
                                   after={"reason": exc.reason, "how": "oidc"})
            response = sso_failed(ctx, exc.reason, 403 if exc.reason in ("no_account", "disabled") else 401)
            response.delete_cookie(SSO_COOKIE, path="/")
            return response
        response = await start_session(ctx, principal, target, "oidc")
        response.delete_cookie(SSO_COOKIE, path="/")
        return response

    return [Route(LOGIN, login, methods=["GET", "POST"]),
            Route("/portal/signup", signup, methods=["GET", "POST"]),
            Route("/portal/invite/{token}", invite, methods=["GET", "POST"]),
            Route("/portal/verify/{token}", verify, methods=["GET"]),
            Route("/portal/forgot", forgot, methods=["GET", "POST"]),
            Route("/portal/reset/{token}", reset, methods=["GET", "POST"]),
            Route("/portal/sso/start", sso_start, methods=["GET"]),
            Route("/portal/sso/callback", sso_callback, methods=["GET"])]
