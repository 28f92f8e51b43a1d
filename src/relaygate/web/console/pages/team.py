"""Audit log (everyone's actions, from console, CLI and API) and the team: operators and their sessions."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from relaygate.web.console.context import Ctx, Services, page


def routes(svc: Services) -> list[Route]:
    @page(svc, "audit")
    async def audit(ctx: Ctx) -> Response:
        before = ctx.q("before")
        rows = await svc.audit.search(actor=ctx.q("actor") or None, action=ctx.q("action") or None,
                                      source=ctx.q("source") or None,
                                      before_id=int(before) if before.isdigit() else None, limit=50)
        query = {k: v for k, v in ctx.request.query_params.items() if k != "before" and v}
        return ctx.render("audit.html", title_key="nav.audit", rows=rows, query=query,
                          next_before=rows[-1]["id"] if len(rows) == 50 else None)

    @page(svc, "operators")
    async def team(ctx: Ctx) -> Response:
        return ctx.render("team.html", title_key="nav.team", operators=await svc.operators.list(),
                          sessions=await svc.sessions.active())

    @page(svc, "operators")
    async def revoke(ctx: Ctx) -> Response:
        handle = ctx.request.path_params["handle"]
        n = await svc.sessions.revoke_handle(handle)
        await ctx.audit("session.revoke", handle, None, {"revoked": n})
        return RedirectResponse("/console/team", status_code=303)

    @page(svc, "operators")
    async def toggle(ctx: Ctx) -> Response:
        ident = ctx.request.path_params["id"]
        before = await svc.operators.get(ident)
        after = await (svc.operators.enable(ident) if not before["enabled"] else svc.operators.disable(ident))
        if not after["enabled"]:
            await svc.sessions.revoke_subject("operator", after["id"])
        await ctx.audit("operator.enable" if after["enabled"] else "operator.disable", after["name"],
                        {"enabled": before["enabled"]}, {"enabled": after["enabled"]})
        return RedirectResponse("/console/team", status_code=303)

    return [Route("/console/audit", audit, methods=["GET"]),
            Route("/console/team", team, methods=["GET"]),
            Route("/console/team/sessions/{handle}/revoke", revoke, methods=["POST"]),
            Route("/console/team/operators/{id}/toggle", toggle, methods=["POST"])]
