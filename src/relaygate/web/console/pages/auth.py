"""Sign in, sign out, language switch: the pages every console and portal user passes through."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from relaygate.services.operate.operators import SignInRefused
from relaygate.web.console.context import Ctx, Services, new_pre_token, page, read_form, safe_next, set_cookie
from relaygate.web.console.i18n import LANGS, pick_lang
from relaygate.web.console.security import LANG_COOKIE, PRE_COOKIE, SESSION_COOKIE, same_token

YEAR = 365 * 86400


def routes(svc: Services) -> list[Route]:
    def ctx_for(request: Request) -> Ctx:
        lang = pick_lang(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
        return Ctx(request, svc, None, lang)

    def login_page(ctx: Ctx, error: str | None = None, status: int = 200) -> Response:
        pre = new_pre_token()
        response = ctx.render("login.html", status=status, pre=pre, error=error,
                              next=safe_next(ctx.q("next") or ctx.f("next")), name=ctx.f("name"))
        set_cookie(response, ctx.request, svc, PRE_COOKIE, pre, max_age=3600)
        return response

    async def login(request: Request) -> Response:
        ctx = ctx_for(request)
        if request.method == "GET":
            if await svc.sessions.get(request.cookies.get(SESSION_COOKIE)) is not None:
                return RedirectResponse(safe_next(ctx.q("next")), status_code=303)
            return login_page(ctx)
        ctx.form = await read_form(request)
        if not same_token(ctx.form.get("pre"), request.cookies.get(PRE_COOKIE)):
            return login_page(ctx, ctx.t("login.expired"), 403)
        who = ctx.ip or "-"
        if svc.throttle.blocked(who):
            await svc.audit.record(ctx.f("name") or "-", "console", "sign_in", ctx.f("name"), ip=ctx.ip,
                                   outcome="refused", after={"reason": "throttled"})
            return login_page(ctx, ctx.t("login.throttled"), 429)
        try:
            principal = await svc.operators.sign_in(ctx.f("name"), ctx.form.get("password", ""),
                                                    svc.gw.admin_hashes)
        except SignInRefused as exc:
            svc.throttle.failed(who)
            await svc.audit.record(ctx.f("name") or "-", "console", "sign_in", ctx.f("name"), ip=ctx.ip,
                                   outcome="refused", after={"reason": exc.reason})
            return login_page(ctx, ctx.t("login.locked" if exc.reason == "locked" else "login.bad"), 401)
        svc.throttle.succeeded(who)
        raw, _ = await svc.sessions.create(principal.kind, principal.id, principal.name, principal.role,
                                                 ctx.ip, request.headers.get("user-agent"))
        await svc.audit.record(principal.name, "console", "sign_in", principal.name, ip=ctx.ip,
                               after={"role": principal.role, "kind": principal.kind})
        response = RedirectResponse(safe_next(ctx.f("next")), status_code=303)
        set_cookie(response, request, svc, SESSION_COOKIE, raw, max_age=int(svc.sessions.absolute_ms / 1000))
        response.delete_cookie(PRE_COOKIE, path="/")
        return response

    @page(svc)
    async def logout(ctx: Ctx) -> Response:
        assert ctx.session is not None
        await svc.sessions.revoke(ctx.session.id_hash)
        await ctx.audit("sign_out", ctx.actor)
        response = RedirectResponse("/console/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def lang(request: Request) -> Response:
        code = request.path_params["code"]
        response = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
        if code in LANGS:
            set_cookie(response, request, svc, LANG_COOKIE, code, max_age=YEAR, http_only=False)
        return response

    async def root(request: Request) -> Response:
        return RedirectResponse("/console/", status_code=303)

    return [Route("/console/login", login, methods=["GET", "POST"]),
            Route("/console/logout", logout, methods=["POST"]),
            Route("/console/lang/{code}", lang, methods=["GET"]),
            Route("/", root, methods=["GET", "HEAD"]),
            Route("/console", root, methods=["GET", "HEAD"])]
