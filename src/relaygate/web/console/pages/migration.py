"""Migration off One API / New API: the old system, its inventory, the mapping table with verification
results, the import report, and the notices previewed per language and client (downloadable).

Documents come from ``services/migration/documents`` (what `migrate inspect --record / import --apply /
verify` kept); the reports are the CLI's own Markdown (``report_md``), the notices ``render_notices``.
"""

from __future__ import annotations

import orjson
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from relaygate.core.errors import InvalidInput
from relaygate.services.migration import documents
from relaygate.services.migration.dsn import mask_dsn
from relaygate.services.migration.inventory_job import InventoryJobs
from relaygate.services.migration.report_md import import_markdown, inventory_markdown
from relaygate.services.notices import preview
from relaygate.services.notices.clients import EMAIL_CLIENTS
from relaygate.services.notices.markdown import to_html
from relaygate.services.notices.render import LANGS as NOTICE_LANGS
from relaygate.services.rollout.service import Rollout
from relaygate.web.console.context import Ctx, Services, page

CLASSES = ("same", "substitute", "downgrade", "unsupported")
RESULTS = ("pass", "fail", "skipped", "not run")


def _download(body: bytes | str, name: str, ctype: str) -> Response:
    data = body.encode() if isinstance(body, str) else body
    return Response(data, media_type=ctype, headers={"content-disposition": f'attachment; filename="{name}"'})


def routes(svc: Services) -> list[Route]:
    gw = svc.gw
    jobs = InventoryJobs(gw.engine, gw.settings)
    previews = preview.Previews()

    def rollout() -> Rollout:
        assert gw.rollout is not None
        return gw.rollout

    @page(svc)
    async def overview(ctx: Ctx) -> Response:
        inventory = await documents.latest(gw.engine, "inventory")
        plan = await documents.latest(gw.engine, "plan")
        imported = await documents.latest(gw.engine, "import")
        cls, result = ctx.q("class"), ctx.q("result")
        if cls not in CLASSES:
            cls = ""
        if result not in RESULTS:
            result = ""
        body = (plan or {}).get("body") or {}
        try:
            old_db: str | None = mask_dsn((await rollout().planner.old_database())[0])
        except InvalidInput:
            old_db = None
        return ctx.render(
            "migration.html", title_key="nav.migration", legacy=await rollout().planner.legacy(), old_db=old_db,
            inventory=inventory, inventory_html=to_html(inventory_markdown(inventory["body"], ctx.lang))
            if inventory else "", plan=plan, rows=documents.mapping_rows(body, cls, result),
            summary=documents.mapping_summary(body), verification=body.get("verification") or {},
            imported=imported, import_html=to_html(import_markdown(imported["body"], ctx.lang)) if imported else "",
            history=await documents.history(gw.engine), run=jobs.current.view() if jobs.current else None,
            cls=cls, result=result, classes=CLASSES, results=RESULTS)

    @page(svc)
    async def progress(ctx: Ctx) -> Response:
        return ctx.render("migration_progress.html", run=jobs.current.view() if jobs.current else None)

    @page(svc, "rollout")
    async def take_inventory(ctx: Ctx) -> Response:
        dsn, logs_dsn = await rollout().planner.old_database()
        await jobs.start(f"console:{ctx.actor}", dsn, logs_dsn)
        await ctx.audit("migration.inventory", None, after={"source": mask_dsn(dsn)})
        return RedirectResponse("/console/migration#inventory", status_code=303)

    @page(svc)
    async def download(ctx: Ctx) -> Response:
        kind, fmt = ctx.request.path_params["kind"], ctx.request.path_params["fmt"]
        if kind not in documents.KINDS or fmt not in ("md", "json"):
            raise InvalidInput("Unknown download.", "未知的下载。", status=404)
        doc = await documents.latest(gw.engine, kind)
        if doc is None:
            raise InvalidInput(f"No {kind} has been recorded yet.", f"尚未记录{kind}。", status=404)
        if fmt == "json":
            return _download(orjson.dumps(doc["body"], option=orjson.OPT_INDENT_2), f"{kind}.json",
                             "application/json")
        render = {"inventory": inventory_markdown, "import": import_markdown}.get(kind)
        if render is None:
            raise InvalidInput("The plan downloads as JSON.", "迁移计划仅提供 JSON 下载。", status=404)
        return _download(render(doc["body"], ctx.lang), f"{kind}-{ctx.lang}.md", "text/markdown; charset=utf-8")

    @page(svc)
    async def notices(ctx: Ctx) -> Response:
        lang = ctx.q("lang", ctx.lang)
        if lang not in NOTICE_LANGS:
            lang = ctx.lang
        names = preview.notice_names()
        name = ctx.q("doc", names[0])
        if name not in names:
            name = names[0]
        live = await preview.live_for_preview(gw.engine, gw.settings)
        markdown = previews.render(live, lang, name)
        clients = {f"emails/{c.id}.md": c.label(ctx.lang) for c in EMAIL_CLIENTS}
        return ctx.render("migration_notices.html", title_key="mig.notices", notice_lang=lang, names=names,
                          name=name, clients=clients, markdown=markdown, html=to_html(markdown),
                          checks=[(c.ok, c.text(ctx.lang)) for c in live.checks], mapping=live.mapping,
                          notice_langs=NOTICE_LANGS)

    @page(svc)
    async def notices_zip(ctx: Ctx) -> Response:
        lang = ctx.q("lang", ctx.lang)
        if lang not in NOTICE_LANGS:
            raise InvalidInput(f"Unknown language '{lang}'; use en or zh-CN.",
                               f"未知语言 '{lang}'；请使用 en 或 zh-CN。")
        live = await preview.live_for_preview(gw.engine, gw.settings)
        name = ctx.q("doc")
        if name:
            return _download(previews.render(live, lang, name), f"{lang}-{name.replace('/', '-')}",
                             "text/markdown; charset=utf-8")
        return _download(preview.bundle(preview.render_all(live, lang), lang), f"notices-{lang}.zip",
                         "application/zip")

    return [Route("/console/migration", overview, methods=["GET"]),
            Route("/console/migration/inventory", take_inventory, methods=["POST"]),
            Route("/console/migration/inventory/progress", progress, methods=["GET"]),
            Route("/console/migration/notices", notices, methods=["GET"]),
            Route("/console/migration/notices/download", notices_zip, methods=["GET"]),
            Route("/console/migration/{kind}.{fmt}", download, methods=["GET"])]
