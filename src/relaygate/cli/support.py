"""`relaygate support diagnose`, `relaygate notices render` and `relaygate stats`: thin views over services/support."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from relaygate.cli.common import console, emit, run_with_engine, settings_from
from relaygate.cli.helpers import json_option

if TYPE_CHECKING:  # the services (and SQLAlchemy) load when a command runs, not for --help
    from sqlalchemy.ext.asyncio import AsyncEngine

    from relaygate.services.notices.plan import MigrationPlan
    from relaygate.services.support.diagnose import Diagnosis

support_app = typer.Typer(help="Answer support tickets from safe fields: never a full key, never a prompt.",
                          no_args_is_help=True)
notices_app = typer.Typer(help="Client-ready notices: announcement, per-client emails, FAQ, replies, checklist.",
                          no_args_is_help=True)
stats_app = typer.Typer(help="Errors per class per day and the most repeated codes per client and owner.",
                        subcommand_metavar="")

_TEXT: dict[str, tuple[str, str]] = {
    "title": ("Diagnosis of {query} (found by {found})", "诊断 {query}（按{found}找到）"),
    "evidence": ("Evidence (safe fields only)", "证据（仅安全字段）"),
    "attempts": ("Upstream attempts", "上游尝试"),
    "key": ("Key", "密钥"),
    "recent": ("Last {days} days: {total} request(s); errors: {errors}",
               "最近 {days} 天：{total} 个请求；错误：{errors}"),
    "cause": ("Likely cause", "可能原因"),
    "action": ("Next action", "下一步"),
    "reply": ("Reply draft ({lang})", "回复草稿（{lang}）"),
    "no_reply": ("No reply drafted: the request did not fail.", "未生成回复：该请求没有失败。"),
    "written": ("{count} files written to {out} ({lang}).", "已写入 {count} 个文件到 {out}（{lang}）。"),
    "todo": ("Launch checklist items still open:", "上线检查清单中尚未完成的项："),
    "no_base": ("RELAYGATE_PUBLIC_BASE_URL is not set and the plan has no new_base_url: the notices use {url}.",
                "未设置 RELAYGATE_PUBLIC_BASE_URL，迁移计划中也没有 new_base_url：通知中使用的是 {url}。"),
    "per_day": ("Errors per day (UTC{offset})", "每日错误（UTC{offset}）"),
    "by_client": ("Most repeated error codes per client", "各客户端重复最多的错误码"),
    "by_owner": ("Most repeated error codes per owner", "各负责人重复最多的错误码"),
    "mistakes": ("Base-URL mistakes by kind", "Base URL 错误类型"),
    "faq": ("FAQ entries to write next", "接下来应写的常见问题"),
    "none": ("No errors in the last {days} days.", "最近 {days} 天没有错误。"),
    "task": ("Task", "任务"),
    "money": ("Money: held {hold}, charged {charged}, refunded {refunded}, pre-charged in New API {prepaid}",
              "费用：预扣 {hold}，收费 {charged}，退还 {refunded}，New API 预扣 {prepaid}"),
    "deliveries": ("Callback deliveries", "回调投递"),
}
_FOUND_ZH = {"request": "请求 ID", "key": "密钥", "masked_key": "脱敏密钥", "task": "任务 ID"}
TASK_FIELDS = ("task_id", "source_id", "state", "progress", "model", "owner", "masked_key", "channel",
               "upstream_task_id", "error_code", "error_message", "download_state", "result_expires_at",
               "expires_at")


def _t(key: str, **params: Any) -> str:
    en, zh = _TEXT[key]
    return (zh if settings_from().lang_code() == "zh-CN" else en).format(**params)


def _zh() -> bool:
    return settings_from().lang_code() == "zh-CN"


def _plan(path: Path | None) -> MigrationPlan:
    from relaygate.services.notices.plan import MigrationPlan, load_plan

    return load_plan(path) if path is not None else MigrationPlan()


def _say(text: str, style: str | None = None) -> None:
    console.print(text, style=style, markup=False, highlight=False, soft_wrap=True)


@support_app.command("diagnose")
def diagnose(ident: str = typer.Argument(..., help="Request id (req_…), task id (task_…, or the id New API gave it), "
                                                   "key id (key_…) or masked key (sk-abcd…wxyz)."),
             reply: str = typer.Option(None, "--reply", help="Draft the ticket answer in zh-CN or en."),
             plan: Path = typer.Option(None, "--plan", help="Migration plan YAML (old base URL, model mapping)."),
             old_host: list[str] = typer.Option([], "--old-host", help="Host of the old entry (repeatable)."),
             days: int = typer.Option(7, min=1, max=365, help="How far back to look for a key's requests."),
             templates: Path = typer.Option(None, "--templates", help="Folder overriding reply templates."),
             as_json: bool = json_option()) -> None:
    """Safe evidence, likely cause and next action for one request, task, key or masked key."""
    from relaygate.services.notices.render import lang_code
    from relaygate.services.support.diagnose import SupportDesk

    settings = settings_from()

    async def go(engine: AsyncEngine) -> tuple[Diagnosis, str | None]:  # bad input: InvalidInput, exit code 2
        reply_lang = lang_code(reply) if reply else None
        return await SupportDesk(engine, settings).diagnose(ident, settings.lang_code(), reply_lang, _plan(plan),
                                                            old_host, days, templates), reply_lang

    result, reply_lang = run_with_engine(go)
    if as_json:
        emit(result.view(), [], True)
        return
    found = _FOUND_ZH.get(result.found, result.found) if _zh() else result.found.replace("_", " ")
    console.rule(_t("title", query=result.query, found=found))
    for warning in result.warnings:
        _say("⚠ " + warning, "bold red")
    if result.task:
        from relaygate.core.money import format_amount

        task = result.task
        emit([{"field": k, "value": task.get(k)} for k in TASK_FIELDS if task.get(k) not in (None, "")],
             ["field", "value"], False, _t("task"))
        cur = settings.currency
        _say(_t("money", **{k: format_amount(task[k], cur) for k in ("hold", "charged", "refunded", "prepaid")}))
        if task["deliveries"]:
            emit(task["deliveries"], ["attempt", "host", "status", "error", "at"], False, _t("deliveries"))
    if result.evidence:
        rows = [{"field": k, "value": v} for k, v in result.evidence.items() if k != "attempts" and v not in (None, "")]
        emit(rows, ["field", "value"], False, _t("evidence"))
        if result.evidence.get("attempts"):
            emit(result.evidence["attempts"], ["channel_id", "channel", "status", "error", "ms"], False,
                 _t("attempts"))
    if result.key:
        key = result.key
        emit([{"field": k, "value": key.get(k)} for k in ("id", "masked", "name", "owner_id", "group", "environment",
                                                           "enabled", "disabled_reason", "expires_at",
                                                           "allowed_models")], ["field", "value"], False, _t("key"))
    errors = ", ".join(f"{c}×{n}" for c, n in result.recent["errors"].items()) or "-"
    _say(_t("recent", days=days, total=result.recent["total"], errors=errors))
    _say(f"{_t('cause')}: {result.cause}", "bold")
    _say(f"{_t('action')}: {result.action}", "green")
    if reply_lang:
        console.rule(_t("reply", lang=reply_lang))
        _say(result.reply or _t("no_reply"))


@notices_app.command("render")
def notices_render(lang: str = typer.Option(..., "--lang", help="zh-CN or en."),
                   out: Path = typer.Option(..., "--out", help="Folder to write the notices into."),
                   plan: Path = typer.Option(None, "--plan", help="Migration plan YAML (see docs/support.md)."),
                   templates: Path = typer.Option(None, "--templates", help="Folder with templates overriding "
                                                  "the built-in ones (same names, optionally under <lang>/)."),
                   as_json: bool = json_option()) -> None:
    """Write the announcement, one email per client, the FAQ, reply templates and a checklist (.md and .html)."""
    from relaygate.services.notices.context import gather
    from relaygate.services.notices.render import lang_code, render_notices, write_notices

    settings = settings_from()

    async def go(engine: AsyncEngine) -> tuple[list[Path], Any, MigrationPlan, str]:
        code = lang_code(lang)  # bad input raises InvalidInput: printed, exit code 2
        migration = _plan(plan)
        live = await gather(engine, settings, migration)
        return write_notices(render_notices(live, code, templates), out), live, migration, code

    written, live, migration, code = run_with_engine(go)
    open_items = [c.text(code) for c in live.checks if not c.ok]
    if as_json:
        emit({"written": [str(p) for p in written], "base_url": live.forms.v1, "open_checks": open_items}, [], True)
        return
    if not (settings.public_base_url or migration.new_base_url):
        _say(_t("no_base", url=live.forms.v1), "yellow")
    _say(_t("written", count=len(written), out=out, lang=code), "green")
    if open_items:
        _say(_t("todo"), "yellow")
        for item in open_items:
            _say(f"  - {item}")


def _bar(n: int, most: int, width: int = 30) -> str:
    return "█" * max(1 if n else 0, round(width * n / most)) if most else ""


@stats_app.callback(invoke_without_command=True)
def stats(days: int = typer.Option(7, min=1, max=366, help="Days to cover, today included."),
          utc_offset: float = typer.Option(0.0, "--utc-offset", help="Hours east of UTC for day boundaries (8 "
                                           "for China)."),
          top: int = typer.Option(10, min=1, max=100, help="Rows per ranking."),
          as_json: bool = json_option()) -> None:
    """Errors per class per day, the codes repeated most per client and per owner, and the FAQ to write next."""
    from rich.table import Table

    from relaygate.services.support.stats import error_stats

    data = run_with_engine(lambda engine: error_stats(engine, days, utc_offset, top))
    if as_json:
        emit(data, [], True)
        return
    zh = _zh()
    label = {k: v["zh" if zh else "en"] for k, v in data["classes"].items()}
    table = Table(title=_t("per_day", offset=f"{utc_offset:+g}" if utc_offset else ""))
    if zh:
        from relaygate.cli.i18n import header
    for col in ("day", "requests", "errors", "", "by class"):
        table.add_column(header(col) if zh and col else col)
    most = max((d["errors"] for d in data["per_day"]), default=0)
    for d in data["per_day"]:
        classes = ", ".join(f"{label.get(c, c)} {n}" for c, n in d["by_class"].items())
        table.add_row(d["day"], str(d["requests"]), str(d["errors"]), _bar(d["errors"], most), classes or "-")
    console.print(table)
    if not data["errors"]:
        _say(_t("none", days=days), "green")
        return
    emit(data["by_client"], ["client", "code", "count"], False, _t("by_client"))
    emit([{**r, "owner": r["owner"] or r["owner_id"] or "-"} for r in data["by_owner"]], ["owner", "code", "count"],
         False, _t("by_owner"))
    if data["mistakes"]:
        emit(data["mistakes"], ["mistake", "count"], False, _t("mistakes"))
    _say(_t("faq"), "bold")
    for i, item in enumerate(data["faq_next"], 1):
        _say(f"{i:>2}. {item['title_zh' if zh else 'title_en']}  ({item['code']}, ×{item['count']})")


COMMANDS = (("support", support_app), ("notices", notices_app), ("stats", stats_app))
