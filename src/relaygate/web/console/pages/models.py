"""Models and prices: the catalogue (aliases, retired models and replacements), the price list, group
multipliers, and a price change previewed as the cost of a sample request before it is saved."""

from __future__ import annotations

from typing import Any

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from relaygate.services.operate.price_preview import sample_costs
from relaygate.web.console.context import Ctx, Services, page


def routes(svc: Services) -> list[Route]:
    gw = svc.gw

    @page(svc)
    async def models(ctx: Ctx) -> Response:
        return ctx.render("models.html", title_key="nav.models", models=await gw.routing.list_models(),
                          prices=await gw.pricing.list_prices(), groups=await gw.accounts.list_groups(),
                          saved=ctx.q("saved"))

    @page(svc, "routing")
    async def set_price(ctx: Ctx) -> Response:
        values: dict[str, Any] = {"input_per_m": ctx.f("input_per_m") or None,
                                  "output_per_m": ctx.f("output_per_m") or None,
                                  "per_request": ctx.f("per_request") or None, "free": ctx.f("free") == "1"}
        model = ctx.f("model")
        if ctx.f("confirmed") != "1":
            preview = sample_costs(gw.settings.currency, await gw.accounts.list_groups(), **values)
            return ctx.render("price_confirm.html", title_key="nav.models", model=model, values=values,
                              preview=preview)
        before = next((p for p in await gw.pricing.list_prices() if p["model"] == model), None)
        after = await gw.pricing.set_price(model, **values)
        await gw.state.refresh_if_changed()
        await ctx.audit("price.set", model, before, after)
        return RedirectResponse(f"/console/models?saved={model}", status_code=303)

    return [Route("/console/models", models, methods=["GET"]),
            Route("/console/models/price", set_price, methods=["POST"])]
