"""Owners and keys: searchable list, create (the secret shown once, with a client snippet), enable/disable."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from relaygate.core.clock import now_ms
from relaygate.core.errors import InvalidInput
from relaygate.services.notices.clients import BaseForms
from relaygate.services.notices.key_setup import client_choices
from relaygate.services.notices.setup import key_snippets, media_examples
from relaygate.services.operate.rollups import HOUR, Rollups
from relaygate.services.operate.usage import UsageFilter
from relaygate.web.console.context import Ctx, Services, page


def routes(svc: Services) -> list[Route]:
    gw = svc.gw
    rollups = Rollups(gw.engine)

    def forms(ctx: Ctx) -> BaseForms:
        return BaseForms.from_setting(gw.settings.public_base_url, ctx.request.headers.get("host", ""),
                                      ctx.request.url.scheme)

    async def listing(ctx: Ctx, status: int = 200, error: str | None = None) -> Response:
        q = ctx.q("q").lower()
        owner = ctx.q("owner") or None
        keys = await gw.accounts.list_keys(owner)
        if q:
            keys = [k for k in keys if q in k["name"].lower() or q in k["id"] or q in k["masked"].lower()]
        owners = await gw.accounts.list_owners()
        names = {o["id"]: o["name"] for o in owners}
        return ctx.render("keys.html", status=status, title_key="nav.keys", keys=keys[:500], owners=owners,
                          names=names, groups=await gw.accounts.list_groups(), error=error, form=ctx.form,
                          clients=client_choices(ctx.lang),
                          truncated=len(keys) > 500)

    @page(svc)
    async def keys(ctx: Ctx) -> Response:
        return await listing(ctx)

    @page(svc, "keys")
    async def create_key(ctx: Ctx) -> Response:
        owner = ctx.f("owner")
        if ctx.f("new_owner"):
            owner_view = await gw.accounts.create_owner(ctx.f("new_owner"))
            await ctx.audit("owner.create", owner_view["name"], None, owner_view)
            owner = owner_view["id"]
        try:
            view, secret = await gw.accounts.create_key(ctx.f("name"), owner, ctx.f("group", "default"),
                                                        ctx.f("environment", "production"))
        except InvalidInput as exc:
            return await listing(ctx, exc.status, exc.message(ctx.lang))
        await gw.state.refresh_if_changed()
        await ctx.audit("key.create", view["id"], None, view)
        client = ctx.f("client", "python-sdk")
        snap = gw.state.snapshot
        record = snap.keys_by_id.get(view["id"])
        models = snap.allowed_models(record) if record is not None else []
        # the one page that ever shows the secret: not cached (no-store), not logged, not stored
        return ctx.render("key_created.html", title_key="nav.keys", key=view, secret=secret,
                          clients=client_choices(ctx.lang), client=client,
                          snippets=key_snippets(forms(ctx), secret, models, ctx.lang,
                                                media_examples(snap, gw.media, models)))

    @page(svc)
    async def key(ctx: Ctx) -> Response:
        view = await gw.accounts.get_key(ctx.request.path_params["id"])
        recent = await gw.usage_query.search(UsageFilter(key_id=view["id"]), limit=20)
        until = now_ms() // HOUR * HOUR + HOUR
        spend = await rollups.totals_of("key", view["id"], until - 30 * 24 * HOUR, until)  # this key's, not all
        owner = next((o for o in await gw.accounts.list_owners() if o["id"] == view["owner_id"]), None)
        return ctx.render("key.html", title_key="nav.keys", key=view, recent=recent, totals=spend,
                          owner=owner)

    @page(svc, "keys")
    async def toggle_key(ctx: Ctx) -> Response:
        ident = ctx.request.path_params["id"]
        before = await gw.accounts.get_key(ident)
        enable = not before["enabled"]
        after = await gw.accounts.update_key(ident, enabled=enable,
                                             disabled_reason=None if enable else (ctx.f("reason") or None))
        await gw.state.refresh_if_changed()
        await ctx.audit("key.enable" if enable else "key.disable", ident,
                        {"enabled": before["enabled"]}, {"enabled": after["enabled"],
                                                         "reason": after["disabled_reason"]})
        return RedirectResponse(f"/console/keys/{after['id']}", status_code=303)

    @page(svc, "keys")
    async def terms(ctx: Ctx) -> Response:
        ident = ctx.request.path_params["id"]
        before = await gw.accounts.get_key(ident)
        changes = {name: ctx.f(name) or None for name in ("rpm", "tpm", "concurrency", "cap_total", "cap_daily",
                                                          "cap_monthly")}
        after = await gw.accounts.update_key(ident, **changes)
        await gw.state.refresh_if_changed()
        await ctx.audit("key.terms", ident, {"limits": before["limits"], "caps": before["caps"]},
                        {"limits": after["limits"], "caps": after["caps"]})
        return RedirectResponse(f"/console/keys/{after['id']}", status_code=303)

    return [Route("/console/keys", keys, methods=["GET"]),
            Route("/console/keys/{id}/terms", terms, methods=["POST"]),
            Route("/console/keys", create_key, methods=["POST"]),
            Route("/console/keys/{id}", key, methods=["GET"]),
            Route("/console/keys/{id}/toggle", toggle_key, methods=["POST"])]
