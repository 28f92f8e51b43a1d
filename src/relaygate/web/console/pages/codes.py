"""Redemption codes, for operators: create a batch (amount, count, expiry, uses) and export it as CSV, list codes
(masked) by state and batch, disable an unused one. The rules live in ``operate/codes.py``; the CLI
(``relaygate codes``) and the API (``/api/codes``) do the same. The full codes are shown (or downloaded) once,
when the batch is made; only their hashes are stored, and the audit log names the batch, never a code."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from relaygate.core.clock import now_ms, parse_future
from relaygate.core.errors import InvalidInput
from relaygate.core.money import MoneyError, parse_amount
from relaygate.services.operate.codes import RedemptionCodes, batch_csv
from relaygate.web.console.context import Ctx, Services, page


def routes(svc: Services) -> list[Route]:
    codes = RedemptionCodes(svc.gw.engine, svc.gw.settings.currency)

    async def codes_page(ctx: Ctx, status: int = 200, error: str | None = None,
                         made: dict[str, object] | None = None) -> Response:
        state = ctx.q("status") or None
        rows = await codes.list_codes(state if state in ("unused", "used", "disabled") else None,
                                      ctx.q("batch") or None, limit=300)
        return ctx.render("codes.html", status=status, title_key="nav.codes", rows=rows, error=error, made=made,
                          form=ctx.form, state=state or "")

    @page(svc, "read")
    async def listing(ctx: Ctx) -> Response:
        return await codes_page(ctx)

    @page(svc, "money")
    async def create(ctx: Ctx) -> Response:
        try:
            try:
                amount = parse_amount(ctx.f("amount"))
            except MoneyError:
                raise InvalidInput(f"'{ctx.f('amount')}' is not an amount.",
                                   f"'{ctx.f('amount')}' 不是有效金额。") from None
            count_text, uses_text = ctx.f("count") or "1", ctx.f("uses") or "1"
            if not count_text.isdigit() or not uses_text.isdigit():
                raise InvalidInput("The count and the uses are whole numbers.", "数量和可用次数必须是整数。")
            expires = None
            if ctx.f("expires"):
                try:
                    expires = parse_future(ctx.f("expires"))
                except ValueError:
                    raise InvalidInput("Expiry: 30d, 12h or a date such as 2026-12-31.",
                                       "过期时间：30d、12h 或日期（如 2026-12-31）。") from None
                if expires <= now_ms():
                    raise InvalidInput("The expiry is in the past.", "过期时间早于当前时间。")
            made = await codes.create_batch(ctx.f("name"), amount, int(count_text), expires, ctx.actor,
                                            uses=int(uses_text))
        except InvalidInput as exc:
            return await codes_page(ctx, exc.status, exc.message(ctx.lang))
        await ctx.audit("codes.create", made["batch"], None, {k: made[k] for k in ("name", "count", "uses", "amount",
                                                                                   "expires_at")})
        if ctx.f("export") == "csv":
            return Response(batch_csv(made), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": f'attachment; filename="codes-{made["batch"]}.csv"',
                                     "Cache-Control": "no-store"})
        ctx.form = {}
        response = await codes_page(ctx, 201, made=made)
        response.headers["Cache-Control"] = "no-store"
        return response

    @page(svc, "money")
    async def disable(ctx: Ctx) -> Response:
        view = await codes.disable(ctx.request.path_params["id"])
        await ctx.audit("codes.disable", view["id"], {"status": "unused"}, {"status": view["status"]})
        return RedirectResponse("/console/codes", status_code=303)

    return [Route("/console/codes", listing, methods=["GET"]), Route("/console/codes", create, methods=["POST"]),
            Route("/console/codes/{id}/disable", disable, methods=["POST"])]
