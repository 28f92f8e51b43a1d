"""Owners and groups: searchable lists, create an owner, create or edit a group (its models)."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from relaygate.services.operate.balance_views import balances
from relaygate.web.console.context import Ctx, Services, page


def _names(text: str) -> list[str] | None:
    names = [p.strip() for p in text.replace(",", "\n").splitlines() if p.strip()]
    return names or None


def routes(svc: Services) -> list[Route]:
    gw = svc.gw

    @page(svc)
    async def owners(ctx: Ctx) -> Response:
        q = ctx.q("q").lower()
        rows = await gw.accounts.list_owners()
        money = {b["owner_id"]: b for b in await balances(gw.engine, gw.settings.currency)}
        if q:
            rows = [o for o in rows if q in o["name"].lower() or q in o["id"] or q in (o["email"] or "").lower()]
        return ctx.render("owners.html", title_key="nav.owners", owners=rows[:500], money=money,
                          groups=await gw.accounts.list_groups())

    @page(svc, "keys")
    async def add_owner(ctx: Ctx) -> Response:
        view = await gw.accounts.create_owner(ctx.f("name"), ctx.f("kind", "person"), ctx.f("email") or None,
                                              ctx.f("note") or None)
        await gw.state.refresh_if_changed()
        await ctx.audit("owner.create", view["name"], None, view)
        return RedirectResponse(f"/console/keys?owner={view['id']}", status_code=303)

    @page(svc, "routing")
    async def put_group(ctx: Ctx) -> Response:
        name = ctx.f("name")
        before = next((g for g in await gw.accounts.list_groups() if g["name"] == name), None)
        after = await gw.accounts.upsert_group(name, _names(ctx.f("models")), ctx.f("description") or None)
        await gw.state.refresh_if_changed()
        await ctx.audit("group.update" if before else "group.create", name, before, after)
        return RedirectResponse("/console/owners#groups", status_code=303)

    return [Route("/console/owners", owners, methods=["GET"]),
            Route("/console/owners", add_owner, methods=["POST"]),
            Route("/console/groups", put_group, methods=["POST"])]
