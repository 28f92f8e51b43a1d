"""The key holder's portal: sign in, my balance and statement, my keys, my requests (with a ready support
text), set up my client, redeem a code. Every read is scoped to the signed-in user's owner by
``operate/selfservice.py``; the same figures are on the API under /api/user/."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from relaygate.core.clock import parse_time
from relaygate.core.errors import GatewayError, InvalidInput
from relaygate.services.notices.clients import CLIENTS, BaseForms
from relaygate.services.notices.setup import client_setup, media_examples
from relaygate.services.operate.codes import RedemptionCodes
from relaygate.services.operate.portal_users import PortalUsers
from relaygate.services.operate.selfservice import SelfService
from relaygate.web.console.context import Ctx, Services, page
from relaygate.web.console.pages.portal_public import LOGIN, runtime
from relaygate.web.console.security import SESSION_COOKIE


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

    async def keys_page(ctx: Ctx, owner: str, status: int = 200, error: str | None = None,
                        created: dict[str, Any] | None = None, secret: str | None = None) -> Response:
        policy = await runtime(svc).self_keys.policy(owner)
        return ctx.render("portal_keys.html", status=status, title_key="nav.portal.keys", keys=await mine.keys(owner),
                          policy=policy, error=error, created=created, secret=secret, form=ctx.form)

    @me
    async def keys(ctx: Ctx) -> Response:
        return await keys_page(ctx, await owner_of(ctx))

    @me
    async def create_key(ctx: Ctx) -> Response:
        owner = await owner_of(ctx)
        terms = {name: ctx.f(name) or None for name in ("cap_total", "cap_daily", "cap_monthly", "rpm", "tpm",
                                                          "concurrency")}
        try:
            view, secret = await runtime(svc).self_keys.create(owner, ctx.actor, ctx.f("name"),
                                                               models=ctx.f("models") or None,
                                                               days=ctx.f("days") or None, **terms)
        except InvalidInput as exc:
            await ctx.audit("failed.key.create", owner, after={"error": exc.message("en")}, outcome="failed")
            return await keys_page(ctx, owner, exc.status, exc.message(ctx.lang))
        await ctx.audit("key.create", view["id"], None, {"owner_id": owner, "name": view["name"],
                                                         "caps": view["caps"], "limits": view["limits"]})
        await gw.state.refresh_if_changed()
        ctx.form = {}
        return await keys_page(ctx, owner, 201, created=view, secret=secret)

    @me
    async def disable_key(ctx: Ctx) -> Response:
        owner = await owner_of(ctx)
        view = await runtime(svc).self_keys.disable(owner, ctx.request.path_params["key_id"], ctx.actor)
        await ctx.audit("key.disable", view["id"], {"enabled": True}, {"enabled": False})
        await gw.state.refresh_if_changed()
        return RedirectResponse("/portal/keys", status_code=303)

    async def account_page(ctx: Ctx, owner: str, status: int = 200, error: str | None = None,
                           done: str | None = None) -> Response:
        assert ctx.session is not None
        rt = runtime(svc)
        me_view = await rt.users.get(ctx.session.subject_id)
        return ctx.render("portal_account.html", status=status, title_key="nav.portal.account", me=me_view,
                          notice=await rt.notices.get(owner), error=error, done=done)

    @me
    async def account(ctx: Ctx) -> Response:
        return await account_page(ctx, await owner_of(ctx))

    @me
    async def set_notice(ctx: Ctx) -> Response:
        owner = await owner_of(ctx)
        try:
            view = await runtime(svc).notices.set(owner, ctx.actor, threshold=ctx.f("threshold") or None,
                                                  email=ctx.f("email") or None,
                                                  webhook_url=ctx.f("webhook_url") or None, lang=ctx.lang)
        except (InvalidInput, GatewayError) as exc:
            text = exc.message(ctx.lang)
            return await account_page(ctx, owner, 400, error=text)
        await ctx.audit("notice.set", owner, None, {k: view[k] for k in ("enabled", "threshold", "email",
                                                                            "webhook_url")})
        return await account_page(ctx, owner, done=ctx.t("pp.notice.saved" if view["enabled"] else "pp.notice.off"))

    @me
    async def change_password(ctx: Ctx) -> Response:
        owner = await owner_of(ctx)
        assert ctx.session is not None
        if ctx.form.get("password", "") != ctx.form.get("password2", ""):
            return await account_page(ctx, owner, 400, error=ctx.t("pp.mismatch"))
        try:
            await runtime(svc).users.change_password(ctx.session.subject_id, ctx.form.get("current", ""),
                                                     ctx.form.get("password", ""), keep=ctx.session.id_hash)
        except InvalidInput as exc:
            await ctx.audit("failed.password.change", ctx.actor, outcome="failed")
            return await account_page(ctx, owner, exc.status, error=exc.message(ctx.lang))
        await ctx.audit("password.change", ctx.actor)
        return await account_page(ctx, owner, done=ctx.t("pp.password.changed"))

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
                          setup=client_setup(client, forms, models, ctx.lang, media_examples(snap, gw.media, models)))

    @me
    async def redeem(ctx: Ctx) -> Response:
        done = None
        if ctx.request.method == "POST":
            owner = await owner_of(ctx)
            abuse = runtime(svc).abuse
            if await abuse.blocked("redeem", ctx.ip or "-") or await abuse.blocked("redeem", owner):
                return ctx.render("portal_redeem.html", status=429, title_key="nav.portal.redeem",
                                  error=ctx.t("pp.slow_down"))
            try:
                result = await codes.redeem(owner, ctx.f("code"), ctx.actor)
            except InvalidInput as exc:
                await abuse.failed("redeem", ctx.ip or "-")
                await abuse.failed("redeem", owner)
                return ctx.render("portal_redeem.html", status=exc.status, title_key="nav.portal.redeem",
                                  error=exc.message(ctx.lang))
            done = ctx.t("portal.redeem.done", amount=result["amount_text"])
        return ctx.render("portal_redeem.html", title_key="nav.portal.redeem", done=done)

    async def form_first(request: Request) -> Response:  # GET /portal → /portal/
        return RedirectResponse("/portal/", status_code=303)

    return [Route("/portal/logout", logout, methods=["POST"]),
            Route("/portal", form_first, methods=["GET"]), Route("/portal/", home, methods=["GET"]),
            Route("/portal/statement.{fmt}", statement_file, methods=["GET"]),
            Route("/portal/keys", keys, methods=["GET"]), Route("/portal/keys", create_key, methods=["POST"]),
            Route("/portal/keys/{key_id}/disable", disable_key, methods=["POST"]),
            Route("/portal/account", account, methods=["GET"]),
            Route("/portal/account/notice", set_notice, methods=["POST"]),
            Route("/portal/account/password", change_password, methods=["POST"]),
            Route("/portal/requests", requests, methods=["GET"]),
            Route("/portal/requests/{request_id}", one_request, methods=["GET"]),
            Route("/portal/setup", setup, methods=["GET"]), Route("/portal/redeem", redeem, methods=["GET", "POST"])]
