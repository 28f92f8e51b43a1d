"""Overview: requests, spend, tokens, error classes, latency and top lists over a range, from the rollups."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from relaygate.core.clock import now_ms
from relaygate.services.operate.channel_views import live_channels
from relaygate.services.operate.rollups import CLASSES, DAY, HOUR, Rollups
from relaygate.web.console.context import Ctx, Services, page

RANGES = {"24h": (24 * HOUR, "hour"), "7d": (7 * 24 * HOUR, "hour"), "30d": (30 * 24 * HOUR, "day"),
          "90d": (90 * 24 * HOUR, "day")}


def routes(svc: Services) -> list[Route]:
    rollups = Rollups(svc.gw.engine)

    @page(svc)
    async def overview(ctx: Ctx) -> Response:
        span = ctx.q("range", "24h")
        if span not in RANGES:
            span = "24h"
        length, step = RANGES[span]
        if ctx.q("step") in ("hour", "day"):
            step = ctx.q("step")
        until = now_ms() // HOUR * HOUR + HOUR
        if step == "day":  # whole UTC days, today's so far included: read as one row per day
            until = -(-until // DAY) * DAY
        data = await rollups.overview(until - length, until, step)
        pts = data["points"]
        t = ctx.t
        classes = [c for c in CLASSES if any(p["classes"].get(c) for p in pts)] or ["ok"]
        charts = {
            "requests": {"series": [{"label": t(f"class.{c}"), "values": [p["classes"].get(c, 0) for p in pts]}
                                    for c in classes]},
            "spend": {"fill": True, "series": [{"label": t("ov.spend"),
                                                "values": [p["cost"] / 1e9 for p in pts]}]},
            "tokens": {"fill": True, "series": [{"label": t("ov.tokens"), "values": [p["tokens"] for p in pts]}]},
            "latency": {"series": [{"label": "p50", "values": [p["p50"] for p in pts]},
                                   {"label": "p95", "values": [p["p95"] for p in pts]},
                                   {"label": t("ov.ttft") + " p50", "values": [p["ttft_p50"] for p in pts]}]},
        }
        owners = {o["id"]: o["name"] for o in await ctx.gw.accounts.list_owners()}
        channels = live_channels(ctx.gw.health, await ctx.gw.routing.list_channels())
        totals = data["totals"]
        error_rate = (totals["errors"] / totals["requests"] * 100) if totals["requests"] else 0.0
        return ctx.render("overview.html", title_key="nav.overview", span=span, step=step, ranges=list(RANGES),
                          chart_json={"x": [p["t"] for p in pts], "charts": charts, "time": ctx.t("ov.time")},
                          data=data, owners=owners,
                          channels=channels, error_rate=error_rate)

    return [Route("/console/", overview, methods=["GET"])]
