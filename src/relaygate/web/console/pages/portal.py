"""The key holder's portal: sign in, my balance and statement, my keys, my requests (with a ready support
text), set up my client, redeem a code. Every read is scoped to the signed-in user's owner by
``operate/selfservice.py``; the same figures are on the API under /api/user/."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from relaygate.core.clock import parse_time
from relaygate.core.errors import InvalidInput
from relaygate.services.notices.clients import CLIENTS, BaseForms
from relaygate.services.notices.setup import client_setup
from relaygate.services.operate.codes import RedemptionCodes
from relaygate.services.operate.operators import SignInRefused
from relaygate.services.operate.portal_users import PortalUsers
from relaygate.services.operate.selfservice import SelfService
from relaygate.web.console.context import Ctx, Services, new_pre_token, page, read_form, set_cookie
from relaygate.web.console.i18n import pick_lang
from relaygate.web.console.security import LANG_COOKIE, PRE_COOKIE, SESSION_COOKIE, same_token

LOGIN = "/portal/login"


def _next(value: str | None) -> str:
    if value and value.startswith("/portal") and not value.startswith("//") and "\\" not in value:
        return value
    return "/portal/"


def routes(svc: Services) -> list[Route]:
    gw = svc.gw
    users = PortalUsers(gw.engine)
    mine = SelfService(gw.engine, gw.settings.currency)
    codes = RedemptionCodes(gw.engine, gw.settings.currency)
    me = page(svc, "self", login_path=LOGIN)

    async def owner_of(ctx: Ctx) -> str:
        assert ctx.session is not None
        owner = await users.owner_of(ctx.session.subject_id)
        if owner is None:
            raise InvalidInput("This account is disabled.", "该账户已停用。", status=403)
        return owner

    def login_page(ctx: Ctx, error: str | None = None, status: int = 200) -> Response:
        pre = new_pre_token()
        response = ctx.render("portal_login.html", status=status, pre=pre, error=error,
                              next=_next(ctx.q("next") or ctx.f("next")), name=ctx.f("name"))
        set_cookie(response, ctx.request, svc, PRE_COOKIE, pre, max_age=3600)
        return response

    async def login(request: Request) -> Response:
        ctx = Ctx(request, svc, None, pick_lang(request.cookies.get(LANG_COOKIE),
                                                 request.headers.get("accept-language")))
        if request.method == "GET":
            return login_page(ctx)
        ctx.form = await read_form(request)
        if not same_token(ctx.form.get("pre"), request.cookies.get(PRE_COOKIE)):
            return login_page(ctx, ctx.t("login.expired"), 403)
        who = ctx.ip or "-"
        if svc.throttle.blocked(who):
            return login_page(ctx, ctx.t("login.throttled"), 429)
        try:
            principal = await users.sign_in(ctx.f("name"), ctx.form.get("password", ""))
        except SignInRefused as exc:
            svc.throttle.failed(who)
            await svc.audit.record(f"user:{ctx.f('name') or '-'}", "portal", "sign_in", ctx.f("name"), ip=ctx.ip,
                                   outcome="refused", after={"reason": exc.reason})
            return login_page(ctx, ctx.t("login.locked" if exc.reason == "locked" else "login.bad"), 401)
        svc.throttle.succeeded(who)
        raw, _ = await svc.sessions.create(principal.kind, principal.id, principal.name, principal.role, ctx.ip,
                                           request.headers.get("user-agent"))
        await svc.audit.record(f"user:{principal.name}", "portal", "sign_in", principal.name, ip=ctx.ip)
        response = RedirectResponse(_next(ctx.f("next")), status_code=303)
        set_cookie(response, request, svc, SESSION_COOKIE, raw, max_age=int(svc.sessions.absolute_ms / 1000))
        response.delete_cookie(PRE_COOKIE, path="/")
        return response

    @me
    async def logout(ctx: Ctx) -> Response:
        assert ctx.session is not None
        await svc.sessions.revoke(ctx.session.id_hash)
        response = RedirectResponse(LOGIN, status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @me
    async def home(ctx: Ctx) -> Response:
        owner = await owner_of(ctx)
        live = await gw.counters.read(f"owner:{owner}") if gw.billing is not None else None
        balance = await mine.balance(owner, live.held if live is not None else None)
        since, until = ctx.q("from"), ctx.q("to")
        try:
            frm, to = (parse_time(since) if since else None), (parse_time(until) if until else None)
        except ValueError:
            raise InvalidInput("Dates: ISO (2026-01-31) or relative (30d).", "日期：ISO（2026-01-31）或相对（30d）。") \
                from None
        _, st = await mine.statement(owner, frm, to, "json", ctx.lang)
        return ctx.render("portal_home.html", title_key="nav.portal.home", balance=balance, st=st)

    @me
    async def statement_file(ctx: Ctx) -> Response:
        fmt = ctx.request.path_params["fmt"]
        if fmt not in ("csv", "md"):
            raise InvalidInput("Statements download as csv or md.", "对账单可下载为 csv 或 md。", status=404)
        text, _ = await mine.statement(await owner_of(ctx), None, None, fmt, ctx.lang)
        media = "text/csv; charset=utf-8" if fmt == "csv" else "text/markdown; charset=utf-8"
        disposition = f'attachment; filename="statement.{fmt}"'
        return Response(text, media_type=media, headers={"Content-Disposition": disposition})

    @me
    async def keys(ctx: Ctx) -> Response:
        return ctx.render("portal_keys.html", title_key="nav.portal.keys", keys=await mine.keys(await owner_of(ctx)))

    @me
    async def requests(ctx: Ctx) -> Response:
        status = ctx.q("status")
        rows = await mine.requests(await owner_of(ctx), model=ctx.q("model") or None,
                                   status=int(status) if status.isdigit() else None,
                                   errors_only=ctx.q("errors") == "1", limit=100)
        return ctx.render("portal_requests.html", title_key="nav.portal.requests", rows=rows)

    @me
    async def one_request(ctx: Ctx) -> Response:
        rec = await mine.request(await owner_of(ctx), ctx.request.path_params["request_id"], ctx.lang)
        return ctx.render("portal_request.html", title_key="nav.portal.requests", rec=rec)

    @me
    async def setup(ctx: Ctx) -> Response:
        owner = await owner_of(ctx)
        snap = gw.state.snapshot
        models = sorted({m for k in snap.keys_by_id.values() if k.owner_id == owner and k.enabled
                         for m in snap.allowed_models(k)})
        client = ctx.q("client", "cursor")
        forms = BaseForms.from_setting(gw.settings.public_base_url, ctx.request.headers.get("host", ""),
                                       ctx.request.url.scheme)
        return ctx.render("portal_setup.html", title_key="nav.portal.setup", clients=CLIENTS, client=client,
                          setup=client_setup(client, forms, models, ctx.lang))

    @me
    async def redeem(ctx: Ctx) -> Response:
        done = None
        if ctx.request.method == "POST":
            result = await codes.redeem(await owner_of(ctx), ctx.f("code"), ctx.actor)
            done = ctx.t("portal.redeem.done", amount=result["amount_text"])
        return ctx.render("portal_redeem.html", title_key="nav.portal.redeem", done=done)

    async def form_first(request: Request) -> Response:  # GET /portal → /portal/
        return RedirectResponse("/portal/", status_code=303)

    return [Route(LOGIN, login, methods=["GET", "POST"]), Route("/portal/logout", logout, methods=["POST"]),
            Route("/portal", form_first, methods=["GET"]), Route("/portal/", home, methods=["GET"]),
            Route("/portal/statement.{fmt}", statement_file, methods=["GET"]),
            Route("/portal/keys", keys, methods=["GET"]), Route("/portal/requests", requests, methods=["GET"]),
            Route("/portal/requests/{request_id}", one_request, methods=["GET"]),
            Route("/portal/setup", setup, methods=["GET"]), Route("/portal/redeem", redeem, methods=["GET", "POST"])]
