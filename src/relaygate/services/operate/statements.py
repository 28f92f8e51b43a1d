"""Statements that explain a balance: opening, every top-up and adjustment, usage by day/model/key, closing."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import iso, now_ms
from relaygate.core.errors import InvalidInput
from relaygate.core.money import format_amount, plain_amount
from relaygate.services.operate.accounts import AccountsAdmin
from relaygate.store import tables as t
from relaygate.store.holds import OpenHold, stale_holds
from relaygate.store.ledger_repo import check_balances
from relaygate.store.spool import Unreplayed, unreplayed
from relaygate.store.wide import dumps as wide_dumps
from relaygate.store.wide import wide_sum

L = t.ledger_entries
U = t.usage_records


async def build_statement(engine: AsyncEngine, subject: str, from_ms: int | None, to_ms: int | None,
                          currency: str) -> dict[str, Any]:
    """Statement of an owner (id or name) or of a key (id or masked form), reconciled to the entry."""
    to_ms = to_ms or now_ms() + 1
    from_ms = from_ms or 0
    accounts = AccountsAdmin(engine)
    async with engine.connect() as conn:
        key_id = None
        try:
            owner = await accounts.resolve_owner(conn, subject)
        except InvalidInput:
            try:
                key = await accounts.resolve_key(conn, subject)
            except InvalidInput:
                raise InvalidInput(f"No owner or key '{subject}'.", f"找不到负责人或密钥 '{subject}'。",
                                   status=404) from None
            key_id = key.id
            owner = await accounts.resolve_owner(conn, key.owner_id)
        scope = [L.c.owner_id == owner.id] + ([L.c.key_id == key_id] if key_id else [])
        opening = int((await conn.execute(select(func.coalesce(wide_sum(L.c.amount), 0)).where(
            *scope, L.c.created_at < from_ms))).scalar() or 0)
        closing_check = int((await conn.execute(select(func.coalesce(wide_sum(L.c.amount), 0)).where(
            *scope, L.c.created_at < to_ms))).scalar() or 0)
        held = int((await conn.execute(select(func.coalesce(func.sum(L.c.held), 0)).where(
            *scope, L.c.created_at < to_ms))).scalar() or 0)
        movements = []
        usage: dict[tuple[str, str, str], dict[str, int]] = defaultdict(lambda: {"requests": 0, "amount": 0})
        total_in_range = 0
        result = await conn.stream(select(L).where(*scope, L.c.created_at >= from_ms, L.c.created_at < to_ms)
                                   .order_by(L.c.created_at, L.c.id))
        async for row in result:
            total_in_range += int(row.amount)
            if row.kind == "settle":
                day = datetime.fromtimestamp(row.created_at / 1000, tz=UTC).strftime("%Y-%m-%d")
                cell = usage[(day, row.model or "-", row.key_id or "-")]
                cell["requests"] += 1
                cell["amount"] += int(row.amount)
            elif row.kind not in ("hold", "release"):
                movements.append({"time": iso(row.created_at), "kind": row.kind, "amount": int(row.amount),
                                  "reason": row.reason, "actor": row.actor, "ref": row.ref})
        tokens: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
        units: dict[tuple[str, str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        tasks: dict[str, tuple[str, str, str]] = {}  # a video task's id -> its cell (units known at its end)
        uscope = [U.c.owner_id == owner.id] + ([U.c.key_id == key_id] if key_id else [])
        result = await conn.stream(select(U.c.ts, U.c.requested_model, U.c.key_id, U.c.prompt_tokens,
                                          U.c.completion_tokens, U.c.detail).where(
            *uscope, U.c.ts >= from_ms, U.c.ts < to_ms, U.c.cost != 0))
        async for row in result:
            day = datetime.fromtimestamp(row.ts / 1000, tz=UTC).strftime("%Y-%m-%d")
            where = (day, row.requested_model or "-", row.key_id or "-")
            cell2 = tokens[where]
            cell2[0] += int(row.prompt_tokens)
            cell2[1] += int(row.completion_tokens)
            media = (row.detail or {}).get("media") if isinstance(row.detail, dict) else None
            if isinstance(media, dict) and media.get("unit"):
                if row.detail.get("task_id"):
                    tasks[str(row.detail["task_id"])] = where
                else:
                    units[where][str(media["unit"])] += int(media.get("count") or 0)
        ids = sorted(tasks)
        for i in range(0, len(ids), 500):
            for task in await conn.execute(select(t.media_tasks.c.id, t.media_tasks.c.units).where(
                    t.media_tasks.c.id.in_(ids[i:i + 500]))):
                if task.units and task.units.get("unit"):
                    units[tasks[task.id]][str(task.units["unit"])] += int(task.units.get("count") or 0)
    closing = opening + total_in_range
    lines = [{"day": d, "model": m, "key_id": k, "requests": v["requests"], "amount": v["amount"],
              "prompt_tokens": tokens.get((d, m, k), [0, 0])[0],
              "completion_tokens": tokens.get((d, m, k), [0, 0])[1],
              "units": dict(units.get((d, m, k), {}))} for (d, m, k), v in sorted(usage.items())]
    return {"owner_id": owner.id, "owner": owner.name, "key_id": key_id, "currency": currency,
            "from": iso(from_ms) if from_ms else None, "to": iso(to_ms), "opening_balance": opening,
            "movements": movements, "usage": lines, "usage_total": sum(x["amount"] for x in lines),
            "holds_in_flight": held, "closing_balance": closing, "reconciles": closing == closing_check}


UNIT_NAMES = {"image": ("image(s)", "张图片"), "second": ("second(s)", "秒"), "mchars": ("character(s)", "个字符"),
              "mtokens": ("output token(s)", "个输出 token"), "call": ("call(s)", "次调用")}


def units_text(units: dict[str, int] | None, lang: str) -> str:
    """Media units of a usage line with their unit: "3 image(s), 8 second(s)" (what the prices are per)."""
    pick = 1 if lang.startswith("zh") else 0
    return ", ".join(f"{count} {UNIT_NAMES.get(unit, (unit, unit))[pick]}"
                     for unit, count in sorted((units or {}).items()))


def render_statement(st: dict[str, Any], fmt: str, lang: str = "en") -> str:
    cur = st["currency"]
    def money(nanos: int) -> str:
        return format_amount(nanos, cur)

    if fmt == "json":
        doc = {**st, "amounts_in": cur, "amount_unit": "exact decimal strings"}
        for field in ("opening_balance", "holds_in_flight", "closing_balance", "usage_total"):
            doc[field] = plain_amount(st[field])
        doc["movements"] = [{**m, "amount": plain_amount(m["amount"])} for m in st["movements"]]
        doc["usage"] = [{**u, "amount": plain_amount(u["amount"])} for u in st["usage"]]
        return wide_dumps(doc, indent=True)
    if fmt == "csv":
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(["section", "time_or_day", "kind_or_model", "key_id", "requests", "prompt_tokens",
                    "completion_tokens", "amount", "reason", "actor", "media_units"])
        w.writerow(["opening", st["from"] or "", "", "", "", "", "", plain_amount(st["opening_balance"]), "", ""])
        for m in st["movements"]:
            w.writerow(["movement", m["time"], m["kind"], "", "", "", "", plain_amount(m["amount"]), m["reason"],
                        m["actor"]])
        for u in st["usage"]:
            w.writerow(["usage", u["day"], u["model"], u["key_id"], u["requests"], u["prompt_tokens"],
                        u["completion_tokens"], plain_amount(u["amount"]), "", "", units_text(u.get("units"), "en")])
        w.writerow(["closing", st["to"], "", "", "", "", "", plain_amount(st["closing_balance"]), "", ""])
        w.writerow(["holds_in_flight", "", "", "", "", "", "", plain_amount(st["holds_in_flight"]), "", ""])
        return out.getvalue()
    zh = lang.startswith("zh")
    title = "余额对账单" if zh else "Balance statement"
    who = st["owner"] + (f" / {st['key_id']}" if st["key_id"] else "")
    lines = [f"# {title}: {who}", "",
             f"{'期间' if zh else 'Period'}: {st['from'] or ('开始' if zh else 'beginning')} → {st['to']}", "",
             f"| {'项目' if zh else 'item'} | {'金额' if zh else 'amount'} |", "|---|---:|",
             f"| {'期初余额' if zh else 'Opening balance'} | {money(st['opening_balance'])} |"]
    for m in st["movements"]:
        lines.append(f"| {m['time']} {m['kind']}: {m['reason'] or ''} ({m['actor'] or ''}) | {money(m['amount'])} |")
    lines.append(f"| {'用量合计' if zh else 'Usage'} | {money(st['usage_total'])} |")
    lines.append(f"| **{'期末余额' if zh else 'Closing balance'}** | **{money(st['closing_balance'])}** |")
    lines.append(f"| {'处理中的预留' if zh else 'Held for requests in flight'} | {money(st['holds_in_flight'])} |")
    lines += ["", f"## {'按日、模型、密钥的用量' if zh else 'Usage by day, model and key'}", "",
              f"| {'日期' if zh else 'day'} | {'模型' if zh else 'model'} | key | {'请求' if zh else 'requests'} | "
              f"{'输入 tokens' if zh else 'prompt tokens'} | {'输出 tokens' if zh else 'completion tokens'} | "
              f"{'媒体用量' if zh else 'media units'} | {'金额' if zh else 'amount'} |",
              "|---|---|---|---:|---:|---:|---|---:|"]
    for u in st["usage"]:
        lines.append(f"| {u['day']} | {u['model']} | {u['key_id']} | {u['requests']} | {u['prompt_tokens']} | "
                     f"{u['completion_tokens']} | {units_text(u.get('units'), lang) or '—'} | {money(u['amount'])} |")
    ok = "✓" if st["reconciles"] else "✗"
    lines += ["", (f"{ok} 期初余额 + 期间变动 = 期末余额，与账目逐条相符。" if zh else
                   f"{ok} Opening balance + movements + usage = closing balance, entry for entry.")]
    return "\n".join(lines) + "\n"


async def balance_check(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        return await check_balances(conn)


async def stale_holds_check(engine: AsyncEngine, spool_dir: Path | None, stale_after_seconds: float) -> list[OpenHold]:
    """Holds no running request owns (their process is gone): money held for nothing."""
    async with engine.connect() as conn:
        return await stale_holds(conn, stale_after_ms=int(stale_after_seconds * 1000), spool_dir=spool_dir)


def journals_check(spool_dir: Path) -> list[Unreplayed]:
    """Journals of gateway processes that died and were not replayed yet: usage and charges the database
    lacks until a gateway starts (store/spool.py)."""
    return unreplayed(spool_dir)
