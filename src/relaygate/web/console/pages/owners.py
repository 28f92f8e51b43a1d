"""Owners and groups: searchable lists, create an owner, create or edit a group (its models), and a group's
terms (multiplier and rate limits, as `relaygate groups terms`) previewed as sample costs before saving."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from relaygate.core.errors import InvalidInput
from relaygate.core.money import MoneyError, parse_multiplier
from relaygate.services.operate.balance_views import balances
from relaygate.services.operate.price_preview import sample_costs
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

    def _limit(ctx: Ctx, name: str) -> int | None:
        text = ctx.f(name)
        if not text:
            return None
        if not text.isdigit():
            raise InvalidInput(f"{name} must be a whole number.", f"{name} 必须是整数。")
        return int(text)

    @page(svc, "routing")
    async def group_terms(ctx: Ctx) -> Response:
        """`relaygate groups terms`: the multiplier and rate limits; a new multiplier is shown as the cost of a
        sample request for each priced model, now and after, before it is saved."""
        name = ctx.request.path_params["name"]
        before = next((g for g in await gw.accounts.list_groups() if g["name"] == name), None)
        if before is None:
            raise InvalidInput(f"No group '{name}'.", f"找不到分组 '{name}'。", status=404)
        multiplier = ctx.f("multiplier") or None
        if multiplier is not None:
            try:
                parse_multiplier(multiplier)
            except (MoneyError, ValueError, ArithmeticError):
                raise InvalidInput(f"'{multiplier}' is not a multiplier (e.g. 0.8 or 1.5).",
                                   f"'{multiplier}' 不是有效倍率（例如 0.8 或 1.5）。") from None
        limits = {f: _limit(ctx, f) for f in ("rpm", "tpm", "concurrency")}
        if ctx.f("confirmed") != "1":
            rows = []
            for p in (await gw.pricing.list_prices())[:50]:
                costs = sample_costs(gw.settings.currency, [{"name": "now", "multiplier": before["multiplier"]},
                                                            {"name": "new", "multiplier": multiplier or
                                                             before["multiplier"]}],
                                     input_per_m=p["input_per_m"], output_per_m=p["output_per_m"],
                                     per_request=p["per_request"], free=p["free"])
                rows.append({"model": p["model"], "now": costs["rows"][0]["cost"], "new": costs["rows"][1]["cost"]})
            return ctx.render("group_terms_confirm.html", title_key="nav.owners", group=before, multiplier=multiplier,
                              limits=limits, rows=rows)
        after = await gw.pricing.set_group_terms(name, multiplier=multiplier, rpm=limits["rpm"], tpm=limits["tpm"],
                                                 concurrency=limits["concurrency"])
        await gw.state.refresh_if_changed()
        await ctx.audit("group.terms", name, {k: before[k] for k in ("multiplier", "rpm", "tpm", "concurrency")},
                        after)
        return RedirectResponse("/console/owners#groups", status_code=303)

    return [Route("/console/owners", owners, methods=["GET"]),
            Route("/console/groups/{name}/terms", group_terms, methods=["POST"]),
            Route("/console/owners", add_owner, methods=["POST"]),
            Route("/console/groups", put_group, methods=["POST"])]
