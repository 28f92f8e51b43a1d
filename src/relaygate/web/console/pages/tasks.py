"""Media tasks: a list with filters (state, model, owner, key, kind, id, time) and one task's page with every
support field: ids, state, progress, the upstream's status, callback deliveries, the money and its ledger
entries; never the upstream's key or result URL (services/operate/tasks.py decides what is shown)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from relaygate.core.clock import parse_time
from relaygate.core.errors import InvalidInput
from relaygate.services.operate.tasks import STATES, TaskDesk, TaskFilter
from relaygate.services.support.tasks import verdict
from relaygate.web.console.context import Ctx, Services, page


def routes(svc: Services) -> list[Route]:
    gw = svc.gw
    desk = TaskDesk(gw.engine)

    async def filter_of(ctx: Ctx) -> TaskFilter:
        state = ctx.q("state")
        if state and state not in STATES:
            raise InvalidInput(f"State: one of {', '.join(STATES)}.", f"状态必须是 {', '.join(STATES)} 之一。")
        owner = ctx.q("owner")
        owner_id = None
        if owner:
            owner_id = next((o["id"] for o in await gw.accounts.list_owners() if owner in (o["id"], o["name"])),
                            owner)
        try:
            since = parse_time(ctx.q("since")) if ctx.q("since") else None
            until = parse_time(ctx.q("until")) if ctx.q("until") else None
        except ValueError:
            raise InvalidInput("Times: ISO (2026-01-31T10:00) or relative (15m, 2h, 7d).",
                               "时间格式：ISO（2026-01-31T10:00）或相对时间（15m、2h、7d）。") from None
        key = ctx.q("key").replace("...", "…")
        imported = {"1": True, "0": False}.get(ctx.q("imported"))
        return TaskFilter(state=state or None, model=ctx.q("model") or None, owner_id=owner_id, key=key or None,
                          kind=ctx.q("kind") or None, search=ctx.q("q") or None, since_ms=since, until_ms=until,
                          imported=imported)

    @page(svc)
    async def tasks(ctx: Ctx) -> Response:
        rows = await desk.search(await filter_of(ctx), 50, ctx.q("before") or None)
        query = {k: v for k, v in ctx.request.query_params.items() if k != "before" and v}
        names = {o["id"]: o["name"] for o in await gw.accounts.list_owners()}
        return ctx.render("tasks.html", title_key="nav.tasks", rows=rows, query=query, states=STATES,
                          owners=names, next_before=rows[-1]["cursor"] if len(rows) == 50 else None)

    @page(svc)
    async def task(ctx: Ctx) -> Response:
        tid = ctx.request.path_params["tid"]
        view = await desk.detail(tid)
        if view is None:
            raise InvalidInput(f"No media task '{tid}'.", f"找不到媒体任务 '{tid}'。", status=404)
        rule, cause, action = verdict(view, gw.settings.currency, ctx.lang)
        return ctx.render("task.html", title_key="nav.tasks", k=view, rule=rule, cause=cause, action=action)

    return [Route("/console/tasks", tasks, methods=["GET"]), Route("/console/tasks/{tid}", task, methods=["GET"])]
