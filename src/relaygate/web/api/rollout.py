"""Admin REST API for the gray rollout: legacy channel, batches and their moves, hand-overs, guard, report."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field

from relaygate.app import Gateway
from relaygate.core.clock import parse_future
from relaygate.core.errors import InvalidInput, prefers_chinese
from relaygate.services.rollout.model import duration_seconds
from relaygate.services.rollout.service import Rollout, write_report

_BY = Field(None, description="Who does it (recorded in the batch history); default 'admin'.")


class LegacyIn(BaseModel):
    base_url: str | None = Field(None, description="The old One API / New API root, e.g. http://old:3000.")
    unknown_keys: str | None = Field(None, description="legacy (forward keys relaygate does not know) or reject.")
    source: str | None = Field(None, description="The old database (SQLite path, mysql://, postgresql://); "
                                                 "'' removes it.")
    logs_source: str | None = Field(None, description="The old logs database when LOG_SQL_DSN was set.")
    write_old: bool | None = Field(None, description="Allow hand-overs to change the old users.quota.")
    guard_seconds: float | None = Field(None, description="How often the guard compares error rates.")
    by: str | None = _BY


class BatchIn(BaseModel):
    name: str
    owners: list[str] | None = Field(None, description="Owner ids or names.")
    keys: list[str] | None = Field(None, description="Key ids: their owners join (with all their keys).")
    environments: list[str] | None = Field(None, description="Owners whose imported keys are all in these.")
    percent: float | None = Field(None, description="A stable share of owners (hash of the owner id).")
    rest: bool = Field(False, description="Every owner no earlier batch takes.")
    switch_at: str | None = Field(None, description="Planned switch time: ISO, or relative such as 2d.")
    rollback_deadline: str | None = Field(None, description="Fixed rollback deadline: ISO or relative.")
    rollback_window: str | None = Field(None, description="Or a window from the first switch, e.g. 7d.")
    conditions: list[str] | None = Field(None, description="e.g. ['5xx>+2%', '401>3x', 'timeout>5%'].")
    window: str = Field("15m", description="The guard compares this much recent traffic.")
    min_requests: int = 20
    baseline_days: int = 7
    auto_rollback: bool = True
    description: str | None = None
    by: str | None = _BY


class MoveIn(BaseModel):
    reason: str = Field(..., description="Why (recorded in the batch history).")
    by: str | None = _BY
    write_old: bool | None = Field(None, description="Override the legacy setting for this move.")
    handover: bool = Field(True, description="Switch only: false switches without a balance hand-over.")
    freeze: bool | None = Field(None, description="Switch only: set the old quota to 0 (default: with write_old; "
                                                  "without it, a pending change to make by hand).")


class ConfirmIn(BaseModel):
    owner: str | None = Field(None, description="One owner id; default every open change of the batch.")
    applied: bool = Field(True, description="false: the change was NOT made in the old system.")
    by: str | None = _BY


class DisputeIn(BaseModel):
    owner: str
    note: str
    batch: str | None = None
    by: str | None = _BY


class ResolveIn(BaseModel):
    resolution: str
    by: str | None = _BY


class ItemIn(BaseModel):
    item: str
    owner: str = Field(..., description="Who will do it.")
    kind: str = Field("other", description="docs, screenshots, macros, base_url or other.")


class AssignIn(BaseModel):
    owner: str = Field(..., description="Who will do it.")


class DoneIn(BaseModel):
    done: bool = True
    note: str | None = None
    owner: str | None = None
    by: str | None = _BY


def _who(by: str | None) -> str:
    return f"api:{by or 'admin'}"


def _lang(request: Request, lang: str | None) -> str:
    if lang:
        return "zh-CN" if lang.lower().startswith("zh") else "en"
    return "zh-CN" if prefers_chinese(request.headers.get("accept-language")) else "en"


class DocumentIn(BaseModel):
    kind: str = Field(..., description="inventory, plan or import.")
    body: dict[str, Any] = Field(..., description="The document as `migrate inspect/plan/import --json` gives it.")
    by: str | None = _BY


def add_rollout_routes(app: FastAPI, gw: Gateway, auth: list[Any]) -> None:
    from relaygate.services.migration import documents

    @app.post("/api/migration/documents", dependencies=auth, status_code=201)
    async def record_document(body: DocumentIn) -> dict[str, Any]:
        """Keep a migration document for the console (`migrate verify` sends the plan with its results)."""
        return {"id": await documents.record(gw.engine, body.kind, body.body, _who(body.by))}

    @app.get("/api/migration/documents/{kind}", dependencies=auth)
    async def latest_document(kind: str) -> dict[str, Any]:
        """The newest document of a kind (inventory, plan or import)."""
        doc = await documents.latest(gw.engine, kind)
        if doc is None:
            raise InvalidInput(f"No {kind} document has been recorded.", f"尚未记录 {kind} 文档。", status=404)
        return doc

    def ro() -> Rollout:
        if gw.rollout is None:
            raise InvalidInput("The gateway is still starting.", "网关仍在启动中。", status=503)
        return gw.rollout

    @app.get("/api/rollout/legacy", dependencies=auth)
    async def legacy() -> dict[str, Any]:
        """The old entry, its database, and how many imported owners each side serves."""
        return await ro().planner.legacy()

    @app.put("/api/rollout/legacy", dependencies=auth)
    async def set_legacy(body: LegacyIn) -> dict[str, Any]:
        view = await ro().planner.set_legacy(_who(body.by), body.base_url, body.unknown_keys, body.source,
                                             body.logs_source, body.write_old, body.guard_seconds)
        await ro().routing.reload()
        return view

    @app.delete("/api/rollout/legacy", dependencies=auth)
    async def retire_legacy(force: bool = False, by: str | None = None) -> dict[str, Any]:
        """Retire the old entry: every key is served natively from now on."""
        view = await ro().planner.retire_legacy(_who(by), force)
        await ro().routing.reload()
        return view

    @app.get("/api/rollout/batches", dependencies=auth)
    async def batches() -> list[dict[str, Any]]:
        return await ro().planner.status()

    @app.post("/api/rollout/batches", dependencies=auth, status_code=201)
    async def plan(body: BatchIn) -> dict[str, Any]:
        """Plan a batch (or change a planned one)."""
        view = await ro().planner.plan(
            body.name, _who(body.by), owners=body.owners, keys=body.keys, environments=body.environments,
            percent=body.percent, rest=body.rest,
            switch_at=parse_future(body.switch_at) if body.switch_at else None,
            rollback_deadline=parse_future(body.rollback_deadline) if body.rollback_deadline else None,
            rollback_window_ms=duration_seconds(body.rollback_window) * 1000 if body.rollback_window else None,
            conditions=body.conditions, window_seconds=duration_seconds(body.window),
            min_requests=body.min_requests, baseline_days=body.baseline_days, auto_rollback=body.auto_rollback,
            description=body.description)
        await ro().routing.reload()
        return view

    @app.get("/api/rollout/batches/{name}", dependencies=auth)
    async def show(name: str) -> dict[str, Any]:
        return await ro().planner.show(name)

    @app.get("/api/rollout/batches/{name}/history", dependencies=auth)
    async def history(name: str) -> list[dict[str, Any]]:
        return await ro().planner.history(name)

    @app.post("/api/rollout/batches/{name}/switch", dependencies=auth)
    async def switch(name: str, body: MoveIn) -> dict[str, Any]:
        """Serve the batch natively; hand its balances over (sync, and freeze with write_old)."""
        return await ro().mover.switch(name, _who(body.by), body.reason, body.write_old, body.handover,
                                       body.freeze)

    @app.post("/api/rollout/batches/{name}/observe", dependencies=auth)
    async def observe(name: str, body: MoveIn) -> dict[str, Any]:
        return await ro().mover.observe(name, _who(body.by), body.reason)

    @app.post("/api/rollout/batches/{name}/rollback", dependencies=auth)
    async def rollback(name: str, body: MoveIn) -> dict[str, Any]:
        """Back to the old entry at once (refused after the rollback deadline); balances handed back."""
        return await ro().mover.rollback(name, _who(body.by), body.reason, body.write_old)

    @app.post("/api/rollout/batches/{name}/complete", dependencies=auth)
    async def complete(name: str, body: MoveIn) -> dict[str, Any]:
        return await ro().mover.complete(name, _who(body.by), body.reason)

    @app.post("/api/rollout/batches/{name}/sync", dependencies=auth)
    async def sync(name: str, by: str | None = None, write_old: bool | None = None) -> dict[str, Any]:
        """Book the old system's movements now (and redo the give-back of a rolled-back batch)."""
        return await ro().mover.sync(name, _who(by), write_old)

    @app.get("/api/rollout/handovers", dependencies=auth)
    async def handovers(batch: str | None = None, open_only: bool = False) -> list[dict[str, Any]]:
        return await ro().handovers(batch, open_only)

    @app.post("/api/rollout/batches/{name}/handover/confirm", dependencies=auth)
    async def confirm(name: str, body: ConfirmIn) -> dict[str, Any]:
        """The operator made (applied=true) or did not make the pending old-quota changes by hand."""
        return await ro().mover.confirm(name, body.owner, body.applied, _who(body.by))

    @app.post("/api/rollout/guard/check", dependencies=auth)
    async def guard_check() -> list[dict[str, Any]]:
        """Run the guard now: every observed batch's rates against its baseline (and act on trips).

        Usage records still buffered in this process are written first, so the check sees every
        request answered so far."""
        await gw.usage.flush()
        return await ro().guard.evaluate_all(gw.session)

    @app.get("/api/rollout/report", dependencies=auth, response_model=None)
    async def report(request: Request, format: str = Query("json", pattern="^(json|md)$"),
                     lang: str | None = None, days: int = Query(30, ge=1, le=366)) -> Any:
        """The report as JSON or Markdown; charts at /api/rollout/report/charts/{name}.svg."""
        if format == "json":
            return await ro().report(days)
        text, _ = await write_report(ro(), "md", None, _lang(request, lang), days)
        return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")

    @app.get("/api/rollout/report/charts/{name}.svg", dependencies=auth)
    async def chart(name: str, days: int = Query(30, ge=1, le=366)) -> Response:
        """error_rates, residual_traffic or owner_share as an SVG image."""
        from relaygate.services.rollout import charts

        draw = {"error_rates": charts.error_rates, "residual_traffic": charts.residual_traffic,
                "owner_share": charts.owner_share}.get(name)
        if draw is None:
            raise InvalidInput(f"No chart '{name}'.", f"没有图表 '{name}'。", status=404)
        data = await ro().report(days)
        with tempfile.TemporaryDirectory() as folder:
            path = draw(data, Path(folder) / f"{name}.svg")
            if path is None:
                raise InvalidInput("Nothing to draw yet.", "暂无可绘制的数据。", status=404)
            return Response(path.read_bytes(), media_type="image/svg+xml")

    @app.get("/api/rollout/disputes", dependencies=auth)
    async def disputes() -> list[dict[str, Any]]:
        return await ro().evidence.disputes()

    @app.post("/api/rollout/disputes", dependencies=auth, status_code=201)
    async def add_dispute(body: DisputeIn) -> dict[str, Any]:
        return await ro().evidence.add_dispute(body.owner, body.note, _who(body.by), body.batch)

    @app.post("/api/rollout/disputes/{ident}/resolve", dependencies=auth)
    async def resolve_dispute(ident: int, body: ResolveIn) -> dict[str, Any]:
        return await ro().evidence.resolve_dispute(ident, body.resolution, _who(body.by))

    @app.get("/api/rollout/checklist", dependencies=auth)
    async def checklist() -> list[dict[str, Any]]:
        return await ro().evidence.checklist()

    @app.post("/api/rollout/checklist", dependencies=auth, status_code=201)
    async def add_item(body: ItemIn) -> dict[str, Any]:
        return await ro().evidence.add_item(body.item, body.owner, body.kind)

    @app.post("/api/rollout/checklist/{ident}/done", dependencies=auth)
    async def mark_item(ident: int, body: DoneIn) -> dict[str, Any]:
        return await ro().evidence.mark(ident, _who(body.by), body.done, body.note, body.owner)

    @app.post("/api/rollout/checklist/{ident}/assign", dependencies=auth)
    async def assign_item(ident: int, body: AssignIn) -> dict[str, Any]:
        return await ro().evidence.assign(ident, body.owner)
