"""Usage records: filters, keyset pages, one request's page, and a CSV export that streams."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from relaygate.core.clock import parse_time
from relaygate.core.errors import InvalidInput
from relaygate.core.money import plain_amount
from relaygate.services.operate.usage import UsageFilter
from relaygate.web.console.context import Ctx, Services, page

CSV_FIELDS = ("time", "request_id", "key_id", "masked_key", "owner_id", "group_name", "client", "client_version",
              "requested_model", "upstream_model", "channel_id", "attempts", "status", "error_code", "prompt_tokens",
              "completion_tokens", "cached_tokens", "stream", "latency_ms", "ttft_ms", "cost", "route")


def _int(text: str, what: str) -> int | None:
    if not text:
        return None
    if not text.lstrip("-").isdigit():
        raise InvalidInput(f"{what} must be a number.", f"{what} 必须是数字。")
    return int(text)


def routes(svc: Services) -> list[Route]:
    gw = svc.gw

    async def filter_of(ctx: Ctx) -> UsageFilter:
        key = ctx.q("key")
        owner = ctx.q("owner")
        owner_id = None
        if owner:
            owner_id = next((o["id"] for o in await gw.accounts.list_owners() if owner in (o["id"], o["name"])),
                            owner)
        masked = key.replace("...", "…") if key and not key.startswith("key_") else None
        since, until = ctx.q("since"), ctx.q("until")
        try:
            since_ms = parse_time(since) if since else None
            until_ms = parse_time(until) if until else None
        except ValueError:
            raise InvalidInput("Times: ISO (2026-01-31T10:00) or relative (15m, 2h, 7d).",
                               "时间格式：ISO（2026-01-31T10:00）或相对时间（15m、2h、7d）。") from None
        return UsageFilter(key_id=key if key.startswith("key_") else None, owner_id=owner_id,
                           model=ctx.q("model") or None, status=_int(ctx.q("status"), "status"),
                           errors_only=ctx.q("errors") == "1", error_code=ctx.q("error_code") or None,
                           request_id=ctx.q("request_id") or None, since_ms=since_ms, until_ms=until_ms,
                           channel_id=_int(ctx.q("channel"), "channel"), client=ctx.q("client") or None,
                           masked_key=masked)

    @page(svc)
    async def usage(ctx: Ctx) -> Response:
        flt = await filter_of(ctx)
        limit = 50
        rows = await gw.usage_query.search(flt, limit, _int(ctx.q("before"), "before"))
        query = {k: v for k, v in ctx.request.query_params.items() if k != "before" and v}
        next_before = rows[-1]["id"] if len(rows) == limit else None
        template = "usage_rows.html" if ctx.request.headers.get("hx-request") and ctx.q("part") else "usage.html"
        return ctx.render(template, title_key="nav.usage", rows=rows, query=query, next_before=next_before)

    @page(svc)
    async def export(ctx: Ctx) -> Response:
        flt = await filter_of(ctx)

        async def lines() -> AsyncIterator[str]:
            buf = io.StringIO()
            writer = csv.writer(buf)
            writer.writerow(CSV_FIELDS)
            async for chunk in gw.usage_query.stream(flt):
                for r in chunk:
                    writer.writerow([plain_amount(r["cost"]) if f == "cost" else r.get(f) for f in CSV_FIELDS])
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
            if buf.tell():
                yield buf.getvalue()

        await ctx.audit("usage.export", None, None, {k: v for k, v in ctx.request.query_params.items() if v})
        return StreamingResponse(lines(), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": 'attachment; filename="usage.csv"'})

    @page(svc)
    async def request(ctx: Ctx) -> Response:
        rid = ctx.request.path_params["rid"]
        rows = await gw.usage_query.search(UsageFilter(request_id=rid), 1)
        if not rows:
            raise InvalidInput(f"No usage record for request '{rid}'.", f"找不到请求 '{rid}' 的使用记录。",
                               status=404)
        rec = rows[0]
        names = {c["id"]: c["name"] for c in await gw.routing.list_channels()}
        return ctx.render("request.html", title_key="nav.usage", r=rec, channel_names=names,
                          attempts=(rec.get("detail") or {}).get("attempts", []) if isinstance(rec.get("detail"),
                                                                                                 dict) else [])

    return [Route("/console/usage", usage, methods=["GET"]),
            Route("/console/usage/export.csv", export, methods=["GET"]),
            Route("/console/requests/{rid}", request, methods=["GET"])]
