"""Key holders, for operators: portal users, invite links and sign-up codes, reset links, and each owner's
self-service key policy (``operate/portal_accounts.py``, ``operate/self_keys.py``). Links are shown once."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from relaygate.core.errors import InvalidInput
from relaygate.web.console.context import Ctx, Services, page
from relaygate.web.console.pages.portal_public import base_of, runtime

POLICY_FIELDS = ("max_keys", "group", "models", "max_cap_total", "max_cap_daily", "max_cap_monthly", "max_rpm",
                 "max_tpm", "max_concurrency", "max_days")


def routes(svc: Services) -> list[Route]:
    async def holders_page(ctx: Ctx, status: int = 200, **shown: Any) -> Response:
        rt = runtime(svc)
        owners = await ctx.gw.accounts.list_owners()
        names = {o["id"]: o["name"] for o in owners}
        users = [{**u, "owner": names.get(u["owner_id"], u["owner_id"])} for u in await rt.users.list()]
        policies = await rt.self_keys.policies()
        # the policy form opened for one owner shows its bounds, so saving it keeps those left alone
        # (an empty field clears its bound)
        edit = next((p for p in policies if p["owner_id"] == ctx.q("policy")), None)
        return ctx.render("holders.html", status=status, title_key="nav.holders", users=users, owners=owners,
                          invites=[i for i in await rt.accounts.invites() if i["state"] == "open"],
                          policies=policies, edit=edit, mode=rt.accounts.signup_mode(),
                          mail=rt.mailer.configured, sso=rt.oidc.enabled, **shown)

    @page(svc, "read")
    async def holders(ctx: Ctx) -> Response:
        return await holders_page(ctx)

    @page(svc, "keys")
    async def invite(ctx: Ctx) -> Response:
        try:
            made = await runtime(svc).accounts.invite(
                owner=ctx.f("owner") or None, actor=ctx.actor, username=ctx.f("username") or None,
                email=ctx.f("email") or None, days=float(ctx.f("days") or 7), uses=int(ctx.f("uses") or 1),
                note=ctx.f("note") or None, base=base_of(ctx), lang=ctx.f("lang") or ctx.lang)
        except ValueError as exc:
            if isinstance(exc, InvalidInput):
                raise
            raise InvalidInput("days and uses are numbers.", "天数和次数必须是数字。") from exc
        await ctx.audit("invite.create", made["id"], None, {k: made[k] for k in ("owner_id", "username", "email",
                                                                                "max_uses", "expires_at")})
        return await holders_page(ctx, 201, link=made)

    @page(svc, "keys")
    async def revoke_invite(ctx: Ctx) -> Response:
        view = await runtime(svc).accounts.revoke_invite(ctx.request.path_params["id"])
        await ctx.audit("invite.revoke", view["id"])
        return RedirectResponse("/console/holders", status_code=303)

    @page(svc, "keys")
    async def toggle(ctx: Ctx) -> Response:
        users = runtime(svc).users
        before = await users.get(ctx.request.path_params["id"])
        after = await (users.enable(before["id"]) if not before["enabled"] else users.disable(before["id"]))
        if not after["enabled"]:
            await svc.sessions.revoke_subject("user", after["id"])
        await ctx.audit("user.enable" if after["enabled"] else "user.disable", after["username"],
                        {"enabled": before["enabled"]}, {"enabled": after["enabled"]})
        return RedirectResponse("/console/holders", status_code=303)

    @page(svc, "support")
    async def reset_link(ctx: Ctx) -> Response:
        made = await runtime(svc).accounts.reset_link(ctx.request.path_params["id"], ctx.actor, base_of(ctx),
                                                      send=ctx.f("send") == "1", lang=ctx.lang)
        await ctx.audit("user.reset_link", made["user"], None, {"emailed": made["emailed"],
                                                                 "expires_at": made["expires_at"]})
        return await holders_page(ctx, 201, reset=made)

    @page(svc, "keys")
    async def policy(ctx: Ctx) -> Response:
        changes: dict[str, Any] = {"self_keys": ctx.f("self_keys") == "1"}
        changes.update({name: ctx.f(name) or None for name in POLICY_FIELDS})
        view = await runtime(svc).self_keys.set_policy(ctx.f("owner"), ctx.actor, **changes)
        await ctx.audit("owner.portal_policy", view["owner"], None, view)
        return RedirectResponse(f"/console/holders?policy={quote(view['owner_id'])}#policies", status_code=303)

    return [Route("/console/holders", holders, methods=["GET"]),
            Route("/console/holders/invite", invite, methods=["POST"]),
            Route("/console/holders/invites/{id}/revoke", revoke_invite, methods=["POST"]),
            Route("/console/holders/users/{id}/toggle", toggle, methods=["POST"]),
            Route("/console/holders/users/{id}/reset-link", reset_link, methods=["POST"]),
            Route("/console/holders/policy", policy, methods=["POST"])]
