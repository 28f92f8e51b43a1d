"""Rollout batches: state, failed hand-overs, the guard's conditions and verdicts, history; switch / rollback /
complete with reason and confirmation, refused exactly where the CLI refuses (the rules are in services/rollout);
the before/after report with the same figures and charts as `relaygate rollout report`."""

from __future__ import annotations

import orjson
from markupsafe import Markup
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from relaygate.core.clock import parse_future
from relaygate.core.errors import InvalidInput
from relaygate.services.rollout.charts import error_rates_svg, owner_share_svg, residual_traffic_svg
from relaygate.services.rollout.model import STATES, duration_seconds
from relaygate.services.rollout.report_md import render as report_markdown
from relaygate.services.rollout.service import Rollout
from relaygate.web.console.context import Ctx, Services, page

MOVES = ("switch", "rollback", "complete")


def routes(svc: Services) -> list[Route]:
    gw = svc.gw

    def rollout() -> Rollout:
        assert gw.rollout is not None
        return gw.rollout

    @page(svc)
    async def batches(ctx: Ctx) -> Response:
        ro = rollout()
        rows = await ro.planner.status()
        return ctx.render("rollout.html", title_key="nav.rollout", batches=rows, legacy=await ro.planner.legacy(),
                          failed=[(b["name"], owner, why) for b in rows for owner, why in b["failures"].items()],
                          verdicts=list((await ro.guard.verdicts()).values()), trips=await ro.guard.trips(20),
                          disputes=[d for d in await ro.evidence.disputes() if d["status"] == "open"])

    @page(svc)
    async def batch(ctx: Ctx) -> Response:
        ro = rollout()
        view = await ro.planner.show(ctx.request.path_params["name"])
        return ctx.render("batch.html", title_key="nav.rollout", b=view, moves=MOVES, done=ctx.q("done"),
                          verdict=(await ro.guard.verdicts()).get(view["name"]),
                          trips=[tr for tr in await ro.guard.trips(200) if tr["batch"] == view["name"]],
                          disputes=await ro.evidence.disputes(batch_id=view["id"]))

    @page(svc, "rollout")
    async def move(ctx: Ctx) -> Response:
        name, action = ctx.request.path_params["name"], ctx.request.path_params["action"]
        if action not in MOVES:
            raise InvalidInput(f"Unknown move '{action}'.", f"未知操作 '{action}'。", status=404)
        reason = ctx.f("reason")
        if not reason:
            raise InvalidInput("Every move needs a reason (kept in the batch history).",
                               "每次操作都需要原因（记入批次历史）。")
        if ctx.f("confirm") != "yes":
            raise InvalidInput("Tick the confirmation box to move the batch.", "请勾选确认框后再操作批次。")
        before = await rollout().planner.show(name)
        mover = rollout().mover
        actor = f"console:{ctx.actor}"
        result = await (mover.switch(name, actor, reason) if action == "switch" else
                        mover.rollback(name, actor, reason) if action == "rollback" else
                        mover.complete(name, actor, reason))
        after = await rollout().planner.show(name)
        await ctx.audit(f"rollout.{action}", name, {"state": before["state"]},
                        {"state": after["state"], "reason": reason, "result": result})
        return RedirectResponse(f"/console/rollout/{name}?done={action}", status_code=303)

    @page(svc, "rollout")
    async def guard_now(ctx: Ctx) -> Response:
        """`relaygate rollout guard`: judge every observed batch now (and act on trips, as the loop would)."""
        views = await rollout().guard.evaluate_all()
        await ctx.audit("rollout.guard", None, after={"batches": [
            {"batch": v["batch"], "state": v["state"], "tripped": [tr["condition"] for tr in v["tripped"]]}
            for v in views]})
        return RedirectResponse("/console/rollout#guard", status_code=303)

    def names(text: str) -> list[str] | None:
        found = [n.strip() for n in text.replace("\n", ",").split(",") if n.strip()]
        return found or None

    @page(svc, "rollout")
    async def plan(ctx: Ctx) -> Response:
        """`relaygate rollout plan`: add a batch, or change one still planned (the service says what is wrong)."""
        number = ctx.f("min_requests")
        percent = ctx.f("percent")
        try:
            min_requests = int(number) if number else 20
            share = float(percent) if percent else None
        except ValueError:
            raise InvalidInput("Minimum requests and percent are numbers.", "最少请求数和百分比须为数字。") from None
        view = await rollout().planner.plan(
            ctx.f("name"), f"console:{ctx.actor}", owners=names(ctx.f("owners")), keys=names(ctx.f("keys")),
            environments=names(ctx.f("environments")), percent=share, rest=ctx.f("rest") == "1",
            switch_at=parse_future(ctx.f("switch_at")) if ctx.f("switch_at") else None,
            rollback_deadline=parse_future(ctx.f("deadline")) if ctx.f("deadline") else None,
            rollback_window_ms=duration_seconds(ctx.f("rollback_window")) * 1000 if ctx.f("rollback_window") else None,
            conditions=names(ctx.f("conditions")), window_seconds=duration_seconds(ctx.f("window") or "15m"),
            min_requests=min_requests, auto_rollback=ctx.f("auto_rollback") == "1",
            description=ctx.f("description") or None)
        await ctx.audit("rollout.plan", view["name"], None, {k: view.get(k) for k in (
            "state", "selector", "conditions", "window_seconds", "min_requests", "auto_rollback", "switch_at",
            "rollback_deadline")})
        return RedirectResponse(f"/console/rollout/{view['name']}?done=plan", status_code=303)

    @page(svc, "rollout")
    async def dispute(ctx: Ctx) -> Response:
        """`relaygate rollout dispute add`: an owner's balance complaint, counted per batch in the report."""
        row = await rollout().evidence.add_dispute(ctx.f("owner"), ctx.f("note"), f"console:{ctx.actor}",
                                                   ctx.f("batch") or None)
        await ctx.audit("rollout.dispute", row["owner_id"], None, row)
        return RedirectResponse(f"/console/rollout/{row['batch']}#disputes" if row["batch"] else
                                "/console/rollout#disputes", status_code=303)

    @page(svc, "rollout")
    async def resolve(ctx: Ctx) -> Response:
        """`relaygate rollout dispute resolve`: how it was settled (with who), after a confirmation."""
        try:
            ident = int(ctx.request.path_params["id"])
        except ValueError:
            raise InvalidInput("No such dispute.", "找不到该争议。", status=404) from None
        if not ctx.f("resolution"):
            raise InvalidInput("Say how the dispute was settled.", "请说明争议如何解决。")
        if ctx.f("confirm") != "yes":
            raise InvalidInput("Tick the confirmation box to settle the dispute.", "请勾选确认框后再解决争议。")
        found = await rollout().evidence.disputes(ident=ident)
        before = found[0] if found else None
        row = await rollout().evidence.resolve_dispute(ident, ctx.f("resolution"), f"console:{ctx.actor}")
        await ctx.audit("rollout.dispute_resolve", str(ident), before, row)
        return RedirectResponse(f"/console/rollout/{row['batch']}#disputes" if row["batch"] else
                                "/console/rollout#disputes", status_code=303)

    @page(svc)
    async def report(ctx: Ctx) -> Response:
        days = 30
        data = await rollout().report(days, fresh=False)  # the rollup task keeps it seconds behind
        states = {s: ctx.t(f"ro.state.{s}") for s in STATES}
        charts = {name: Markup(svg) for name, svg in (
            ("error_rates", error_rates_svg(data, ctx.lang, states)),
            ("residual", residual_traffic_svg(data, ctx.lang)),
            ("owners", owner_share_svg(data, ctx.lang, states))) if svg}
        last = data["residual"]["last_24h"]
        total = last["native"] + last["legacy"]
        return ctx.render("rollout_report.html", title_key="ro.report", r=data, charts=charts, days=days,
                          request_share=last["native"] / total if total else None)

    @page(svc)
    async def report_download(ctx: Ctx) -> Response:
        fmt = ctx.request.path_params["fmt"]
        if fmt not in ("md", "json"):
            raise InvalidInput(f"Unknown format '{fmt}'; use md or json.", f"未知格式 '{fmt}'；请使用 md 或 json。",
                               status=404)
        data = await rollout().report(30, fresh=False)
        if fmt == "json":
            body = orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str)
            ctype = "application/json"
        else:
            body = report_markdown(data, ctx.lang, {}).encode()
            ctype = "text/markdown; charset=utf-8"
        return Response(body, media_type=ctype,
                        headers={"content-disposition": f'attachment; filename="rollout-report-{ctx.lang}.{fmt}"'})

    return [Route("/console/rollout", batches, methods=["GET"]),
            Route("/console/rollout/guard", guard_now, methods=["POST"]),
            Route("/console/rollout/plan", plan, methods=["POST"]),
            Route("/console/rollout/disputes", dispute, methods=["POST"]),
            Route("/console/rollout/disputes/{id}/resolve", resolve, methods=["POST"]),
            Route("/console/rollout/report", report, methods=["GET"]),
            Route("/console/rollout/report.{fmt:str}", report_download, methods=["GET"]),
            Route("/console/rollout/{name}", batch, methods=["GET"]),
            Route("/console/rollout/{name}/{action}", move, methods=["POST"])]
