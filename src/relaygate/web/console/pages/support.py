"""Support desk: paste a request id, a masked key or key id (or search by time + model + status) and get the
evidence, the likely cause, the next action and a drafted reply, as `relaygate support diagnose` gives them."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from relaygate.core.clock import parse_time
from relaygate.core.errors import InvalidInput
from relaygate.services.operate.usage import UsageFilter
from relaygate.services.support.diagnose import SupportDesk
from relaygate.services.support.stats import desk_summary
from relaygate.web.console.context import Ctx, Services, page

WINDOW_MS = 10 * 60 * 1000


def routes(svc: Services) -> list[Route]:
    gw = svc.gw
    desk = SupportDesk(gw.engine, gw.settings)

    @page(svc, "support")
    async def support(ctx: Ctx) -> Response:
        q = ctx.q("q")
        reply_lang = ctx.q("reply", ctx.lang)
        result = candidates = None
        if q:
            result = (await desk.diagnose(q, ctx.lang, reply_lang if reply_lang in ("en", "zh-CN") else "en")).view()
        elif ctx.q("at") or ctx.q("model") or ctx.q("status"):
            try:
                at = parse_time(ctx.q("at")) if ctx.q("at") else None
            except ValueError:
                raise InvalidInput("Time: ISO (2026-01-31T10:00) or relative (2h).",
                                   "时间：ISO（2026-01-31T10:00）或相对时间（2h）。") from None
            status = ctx.q("status")
            flt = UsageFilter(model=ctx.q("model") or None, status=int(status) if status.isdigit() else None,
                              since_ms=at - WINDOW_MS if at else None, until_ms=at + WINDOW_MS if at else None)
            candidates = await gw.usage_query.search(flt, 20)
        stats = await desk_summary(gw.engine, days=7)
        template = "support_result.html" if ctx.request.headers.get("hx-request") else "support.html"
        return ctx.render(template, title_key="nav.support", q=q, result=result, candidates=candidates,
                          reply_lang=reply_lang, stats=stats)

    return [Route("/console/support", support, methods=["GET"])]
