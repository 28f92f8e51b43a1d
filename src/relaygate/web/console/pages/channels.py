"""Channels: list with health, add, edit, enable/disable, and the Test button (one or all)."""

from __future__ import annotations

from typing import Any

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from relaygate.core.errors import InvalidInput
from relaygate.services.operate.channel_test import ChannelTester
from relaygate.services.operate.channel_views import live_channels
from relaygate.web.console.context import Ctx, Services, page, safe_next


def _lines(text: str) -> list[str]:
    return [p.strip() for p in text.replace(",", "\n").splitlines() if p.strip()]


def _models(text: str) -> dict[str, str]:
    """'gpt-4o' or 'public=upstream', one per line or comma-separated."""
    out = {}
    for item in _lines(text):
        public, _, upstream = item.partition("=")
        out[public.strip()] = (upstream or public).strip()
    return out


def _int(text: str, what: str) -> int:
    try:
        return int(text or "0")
    except ValueError:
        raise InvalidInput(f"{what} must be a whole number.", f"{what} 必须是整数。") from None


def _channel_values(ctx: Ctx, partial: bool) -> dict[str, Any]:
    values: dict[str, Any] = {"name": ctx.f("name"), "protocol": ctx.f("protocol", "openai"),
                              "base_url": ctx.f("base_url"), "models": _models(ctx.f("models")),
                              "groups": _lines(ctx.f("groups")) or None,
                              "priority": _int(ctx.f("priority"), "priority"),
                              "weight": _int(ctx.f("weight", "1"), "weight")}
    secrets = [s for s in ctx.form.get("secrets", "").splitlines() if s.strip()]
    if secrets or not partial:
        values["secrets"] = [s.strip() for s in secrets]
    return values


def routes(svc: Services) -> list[Route]:
    gw = svc.gw
    tester = ChannelTester(gw.engine, gw.providers)

    async def listing(ctx: Ctx, status: int = 200, error: str | None = None) -> Response:
        channels = live_channels(gw.health, await gw.routing.list_channels())
        return ctx.render("channels.html", status=status, title_key="nav.channels", channels=channels,
                          protocols=sorted(gw.providers), error=error, form=ctx.form)

    @page(svc)
    async def channels(ctx: Ctx) -> Response:
        return await listing(ctx)

    @page(svc, "routing")
    async def add_channel(ctx: Ctx) -> Response:
        try:
            view = await gw.routing.create_channel(**_channel_values(ctx, partial=False))
        except InvalidInput as exc:
            return await listing(ctx, exc.status, exc.message(ctx.lang))
        await gw.state.refresh_if_changed()
        await ctx.audit("channel.create", view["name"], None, view)
        return RedirectResponse(f"/console/channels/{view['id']}?created=1", status_code=303)

    @page(svc)
    async def channel(ctx: Ctx) -> Response:
        view = live_channels(gw.health, [await gw.routing.get_channel(ctx.request.path_params["id"])])[0]
        return ctx.render("channel.html", title_key="nav.channels", c=view, protocols=sorted(gw.providers),
                          created=ctx.q("created") == "1")

    @page(svc, "routing")
    async def edit_channel(ctx: Ctx) -> Response:
        ident = ctx.request.path_params["id"]
        before = await gw.routing.get_channel(ident)
        after = await gw.routing.update_channel(ident, **_channel_values(ctx, partial=True))
        await gw.state.refresh_if_changed()
        await ctx.audit("channel.update", after["name"], before, after)
        return RedirectResponse(f"/console/channels/{after['id']}", status_code=303)

    @page(svc, "routing")
    async def toggle_channel(ctx: Ctx) -> Response:
        ident = ctx.request.path_params["id"]
        before = await gw.routing.get_channel(ident)
        enable = not before["enabled"]
        after = await gw.routing.update_channel(ident, enabled=enable,
                                                disabled_reason=None if enable else (ctx.f("reason") or None))
        await gw.state.refresh_if_changed()
        await ctx.audit("channel.enable" if enable else "channel.disable", after["name"],
                        {"enabled": before["enabled"]}, {"enabled": after["enabled"]})
        back = ctx.f("back")  # the channel's page or the list; never another site (no open redirect)
        return RedirectResponse(safe_next(back) if back else "/console/channels", status_code=303)

    @page(svc, "routing")
    async def test_channel(ctx: Ctx) -> Response:
        ident = ctx.request.path_params.get("id")
        results = await tester.test(ident, session=gw.session)
        await ctx.audit("channel.test", ident or "*", None,
                        [{k: r[k] for k in ("channel", "model", "ok", "status", "latency_ms")} for r in results])
        return ctx.render("channel_test.html", results=results)

    return [Route("/console/channels", channels, methods=["GET"]),
            Route("/console/channels", add_channel, methods=["POST"]),
            Route("/console/channels/test", test_channel, methods=["POST"]),
            Route("/console/channels/{id}", channel, methods=["GET"]),
            Route("/console/channels/{id}", edit_channel, methods=["POST"]),
            Route("/console/channels/{id}/toggle", toggle_channel, methods=["POST"]),
            Route("/console/channels/{id}/test", test_channel, methods=["POST"])]
