"""Rollout batches: state, guard conditions, history; switch / rollback / complete with reason and confirmation,
refused exactly where the CLI refuses (the rules are in services/rollout)."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from relaygate.core.errors import InvalidInput
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
        return ctx.render("rollout.html", title_key="nav.rollout", batches=await rollout().planner.status(),
                          legacy=await rollout().planner.legacy())

    @page(svc)
    async def batch(ctx: Ctx) -> Response:
        view = await rollout().planner.show(ctx.request.path_params["name"])
        return ctx.render("batch.html", title_key="nav.rollout", b=view, moves=MOVES, done=ctx.q("done"))

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

    return [Route("/console/rollout", batches, methods=["GET"]),
            Route("/console/rollout/{name}", batch, methods=["GET"]),
            Route("/console/rollout/{name}/{action}", move, methods=["POST"])]
