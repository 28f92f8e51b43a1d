"""Balances: owners' balances, top-up and adjust with a reason (confirmed first), statements as page, CSV, Markdown."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from relaygate.core.clock import parse_time
from relaygate.core.errors import InvalidInput
from relaygate.core.money import MoneyError, format_amount, parse_amount
from relaygate.services.operate.balance_views import balances
from relaygate.services.operate.statements import balance_check, build_statement, render_statement
from relaygate.web.console.context import Ctx, Services, page


def _amount(text: str) -> int:
    try:
        return parse_amount(text)
    except (MoneyError, ValueError, ArithmeticError):
        raise InvalidInput(f"'{text}' is not an amount (e.g. 10 or 2.50).",
                           f"'{text}' 不是有效金额（例如 10 或 2.50）。") from None


def routes(svc: Services) -> list[Route]:
    gw = svc.gw
    cur = gw.settings.currency

    async def statement_of(ctx: Ctx) -> dict[str, object]:
        since, until = ctx.q("from"), ctx.q("to")
        return await build_statement(gw.engine, ctx.request.path_params["owner"],
                                     parse_time(since) if since else None, parse_time(until) if until else None,
                                     cur)

    @page(svc)
    async def listing(ctx: Ctx) -> Response:
        problems = await balance_check(gw.engine) if ctx.q("check") == "1" else None  # reads the whole ledger
        return ctx.render("balances.html", title_key="nav.balances", rows=await balances(gw.engine, cur),
                          problems=problems)

    @page(svc)
    async def owner(ctx: Ctx) -> Response:
        st = await statement_of(ctx)
        row = (await balances(gw.engine, cur, str(st["owner_id"])))[0]
        return ctx.render("balance.html", title_key="nav.balances", st=st, row=row, done=ctx.q("done"))

    @page(svc)
    async def download(ctx: Ctx) -> Response:
        fmt = ctx.request.path_params["fmt"]
        if fmt not in ("csv", "md"):
            raise InvalidInput("Statements download as csv or md.", "对账单可下载为 csv 或 md。", status=404)
        st = await statement_of(ctx)
        body = render_statement(st, fmt, ctx.lang)
        name = f"statement-{st['owner']}.{fmt}".replace('"', "")
        media = "text/csv; charset=utf-8" if fmt == "csv" else "text/markdown; charset=utf-8"
        return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @page(svc, "money")
    async def change(ctx: Ctx) -> Response:
        ident = ctx.request.path_params["owner"]
        kind = ctx.f("kind", "topup")
        if kind not in ("topup", "adjustment"):
            raise InvalidInput("Choose a top-up or an adjustment.", "请选择充值或调整。")
        amount = _amount(ctx.f("amount"))
        reason = ctx.f("reason")
        if not reason:
            raise InvalidInput("Every balance change needs a reason.", "每次余额变动都需要原因。")
        before = (await balances(gw.engine, cur, ident))
        if not before:
            raise InvalidInput(f"No owner '{ident}'.", f"找不到负责人 '{ident}'。", status=404)
        if ctx.f("confirmed") != "1":
            return ctx.render("balance_confirm.html", title_key="nav.balances", row=before[0], kind=kind,
                              amount=ctx.f("amount"), amount_text=format_amount(amount, cur), reason=reason,
                              ref=ctx.f("ref"),
                              after_text=format_amount(before[0]["balance"] + amount, cur))
        done = await gw.ledger.record(before[0]["owner_id"], kind, amount, reason, f"console:{ctx.actor}",
                                      ctx.f("ref") or None)
        after = (await balances(gw.engine, cur, ident))[0]
        await ctx.audit(f"balance.{kind}", before[0]["owner"], {"balance": before[0]["balance_text"]},
                        {"balance": after["balance_text"], "amount": done["amount_text"], "reason": reason,
                         "ref": ctx.f("ref") or None})
        return RedirectResponse(f"/console/balances/{after['owner_id']}?done={kind}", status_code=303)

    return [Route("/console/balances", listing, methods=["GET"]),
            Route("/console/balances/{owner}", owner, methods=["GET"]),
            Route("/console/balances/{owner}/statement.{fmt}", download, methods=["GET"]),
            Route("/console/balances/{owner}/change", change, methods=["POST"])]
