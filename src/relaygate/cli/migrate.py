"""`relaygate migrate`: inventory, plan, import and verification of a move off One API / New API."""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
import typer
from rich.console import Console

from relaygate.cli.common import emit, run_with_engine, settings_from
from relaygate.core.errors import InvalidInput

if TYPE_CHECKING:  # what a command needs loads when it runs: `relaygate migrate …` starts fast
    from rich.progress import Progress

T = TypeVar("T")
migrate_app = typer.Typer(help="Move a running One API or New API onto relaygate: inspect, plan, import, verify. "
                               "(从 One API / New API 迁移：盘点、计划、导入、验证)", no_args_is_help=True)
err = Console(stderr=True)

MESSAGES: dict[str, tuple[str, str]] = {
    "written": ("{what} written to {path}.", "{what}已写入 {path}。"),
    "inventory": ("Inventory", "盘点报告"), "plan": ("Plan", "迁移计划"), "report": ("Import report", "导入报告"),
    "plan.summary": ("{models} models ({classes}); {channels} channels ({enabled} enabled); {groups} groups. "
                     "Review the file, then: relaygate migrate import --plan {path}",
                     "{models} 个模型（{classes}）；{channels} 个渠道（{enabled} 个启用）；{groups} 个分组。"
                     "请审阅该文件，然后运行：relaygate migrate import --plan {path}"),
    "dry": ("Dry run: nothing was written. Run again with --apply to write these changes.",
            "试运行：未写入任何数据。确认无误后加 --apply 重新运行。"),
    "applied": ("Import applied in {seconds} s; running it again updates, never duplicates.",
                "导入完成，用时 {seconds} 秒；再次运行只会更新，不会重复。"),
    "verified": ("Verification: {summary}. Results written into {path}.", "验证结果：{summary}。已写回 {path}。"),
    "format": ("Unknown format '{value}'; use md or json.", "未知格式 '{value}'；请使用 md 或 json。"),
    "now": ("--now '{value}' is not a time: give unix seconds or an ISO date/time such as 2026-06-01T12:00:00Z.",
            "--now '{value}' 不是时间：请给出 Unix 秒数或 ISO 日期时间，例如 2026-06-01T12:00:00Z。"),
    "dry.empty": ("Dry run against an empty target ({where}): every record would be created; nothing was written "
                  "and no database was created.",
                  "试运行的目标库为空（{where}）：所有记录都将新建；未写入任何数据，也未创建数据库。"),
    "token": ("Give the admin token with --admin-token or RELAYGATE_ADMIN_TOKEN.",
              "请用 --admin-token 或环境变量 RELAYGATE_ADMIN_TOKEN 提供管理令牌。"),
    "error": ("Error: {message}", "错误：{message}"),
    "statuses": ("{count} imported key(s) now answer refusals with {mode} status codes (codes and messages are "
                 "relaygate's either way); workers pick it up within a second.",
                 "{count} 个导入的密钥现在按 {mode} 状态码返回拒绝（错误代码和消息始终是 relaygate 的）；"
                 "各工作进程约一秒内生效。"),
}


def say(key: str, **params: Any) -> str:
    en, zh = MESSAGES[key]
    return (zh if settings_from().lang_code() == "zh-CN" else en).format(**params)


def _lang() -> str:
    return settings_from().lang_code()


class Bars:
    """Rich progress bars on stderr (stdout stays clean for --format json)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: Any = None

    def start(self, step: str, total: int | None = None) -> None:
        self.task = self.progress.add_task(step, total=total)

    def advance(self, n: int = 1) -> None:
        if self.task is not None:
            self.progress.advance(self.task, n)

    def finish(self) -> None:
        if self.task is not None:
            task = self.progress.tasks[-1]
            self.progress.update(self.task, total=task.completed, completed=task.completed)
        self.task = None


def _bars() -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=False, disable=not err.is_terminal and not os.environ.get("RELAYGATE_BARS"))


def _run(fn: Callable[[], Awaitable[T]]) -> T:
    from relaygate.cli.common import run_db

    return run_db(settings_from(), fn)


def _write(text: str, output: Path | None, what: str) -> None:
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    output.write_text(text, encoding="utf-8")
    err.print(say("written", what=say(what), path=str(output)), markup=False, highlight=False)


def _units() -> Any:
    from fractions import Fraction

    from relaygate.services.migration.units import Units

    settings = settings_from()
    return Units(Fraction(500000), Fraction(settings.usd_rate), settings.currency)


SOURCE = typer.Option(..., "--source", help="The One API / New API database: a SQLite path, mysql://user:pass@host/db "
                                           "(or One API's user:pass@tcp(host:3306)/db), postgresql://… Read-only.")
LOGS = typer.Option(None, "--logs-source", help="Where the logs table lives when LOG_SQL_DSN was set.")
FROM = typer.Option(None, "--from", help="oneapi or newapi (default: detected from the schema).")


@migrate_app.command("inspect")
def inspect_cmd(source: str = SOURCE, logs_source: str = LOGS, kind: str = FROM,
                fmt: str = typer.Option("md", "--format", help="md (for people) or json (for tools)."),
                output: Path = typer.Option(None, "-o", "--output", help="Write to this file instead of stdout."),
                days: int = typer.Option(30, help="Days of logs for callers and error figures."),
                limit: int = typer.Option(200, help="Rows per listing (tokens, users, callers); 0 lists all."),
                now: str = typer.Option(None, "--now", help="Report as of this time (unix seconds or ISO 8601): "
                                                            "token states and the log window, for reproducible "
                                                            "reports. Default: the current time."),
                record: bool = typer.Option(False, "--record", help="Also keep it in relaygate's database: the "
                                                                    "console's migration page shows it.")) -> None:
    """Read-only inventory: channels, models, groups, tokens and their real state, balances, callers, errors."""
    if fmt not in ("md", "json"):
        err.print(say("format", value=fmt), style="red")
        raise typer.Exit(2)
    now_s = _moment(now) if now else None
    from relaygate.services.migration.inventory import inspect_source
    from relaygate.services.migration.report_md import inventory_markdown
    from relaygate.services.migration.source import Source

    async def go() -> dict[str, Any]:
        src = await Source.open(source, logs_source, kind)
        try:
            with _bars() as bars:
                return await inspect_source(src, _units(), days=days, limit=limit, progress=Bars(bars),
                                            now_s=now_s)
        finally:
            await src.close()

    inv = _run(go)
    if record:
        from relaygate.services.migration import documents

        run_with_engine(lambda engine: documents.record(engine, "inventory", inv, f"cli:{_login()}"))
    text = orjson.dumps(inv, option=orjson.OPT_INDENT_2).decode() if fmt == "json" else inventory_markdown(inv, _lang())
    _write(text, output, "inventory")


@migrate_app.command("plan")
def plan_cmd(source: str = SOURCE, logs_source: str = LOGS, kind: str = FROM,
             output: Path = typer.Option(Path("migration-plan.yaml"), "-o", "--output", help="The plan file."),
             tag: str = typer.Option(None, help="Short id of this source in imported ids (default oa / na)."),
             as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON.")) -> None:
    """Write the plan to review: model mapping table, channel types, groups, unit conversion."""
    from relaygate.providers import protocols
    from relaygate.services.migration.plan import build_plan, save_plan
    from relaygate.services.migration.source import Source

    async def go() -> dict[str, Any]:
        src = await Source.open(source, logs_source, kind)
        try:
            return await build_plan(src, _units(), protocols(), tag)
        finally:
            await src.close()

    plan = _run(go)
    save_plan(plan, output)
    classes: dict[str, int] = {}
    for m in plan["models"]:
        classes[m["class"]] = classes.get(m["class"], 0) + 1
    summary = {"path": str(output), "models": len(plan["models"]), "classes": classes,
               "channels": len(plan["channels"]), "enabled": sum(1 for c in plan["channels"] if c["enabled"]),
               "groups": len([g for g in plan["groups"] if g.get("target")])}
    if as_json:
        emit(summary, [], True)
        return
    emit(plan["models"], ["old_name", "new_name", "upstream", "tasks", "class", "risk"], False)
    err.print(say("plan.summary", **{**summary, "classes": ", ".join(f"{k} {v}" for k, v in classes.items())}),
              markup=False, highlight=False)


@migrate_app.command("import")
def import_cmd(plan: Path = typer.Option(..., "--plan", help="The reviewed plan file."),
               apply: bool = typer.Option(False, "--apply", help="Write (default: a dry run showing the diff)."),
               source: str = typer.Option(None, "--source", help="Override the plan's source address."),
               logs_source: str = LOGS,
               report: Path = typer.Option(None, "--report", help="Also write the Markdown report to this file."),
               as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")) -> None:
    """Import into this relaygate's database: owners, balances, keys, channels, prices, admin tokens."""
    from relaygate.providers import protocols
    from relaygate.services.migration.importer import run_import
    from relaygate.services.migration.plan import load_plan
    from relaygate.services.migration.report_md import import_markdown

    doc = _checked(lambda: load_plan(plan))

    async def go(engine: Any) -> dict[str, Any]:
        with _bars() as bars:
            return await run_import(doc, engine, settings_from(), protocols(), apply=apply, progress=Bars(bars),
                                    source_dsn=source, logs_dsn=logs_source, actor=f"cli:{_login()}")

    rep = run_with_engine(go) if apply else _dry_run(go)
    md = import_markdown(rep, _lang())
    if report is not None:
        report.write_text(md, encoding="utf-8")
        err.print(say("written", what=say("report"), path=str(report)), markup=False, highlight=False)
    if as_json:
        emit(rep, [], True)
    else:
        sys.stdout.write(md + "\n")
    err.print(say("dry") if rep["dry_run"] else say("applied", seconds=rep["seconds"]),
              style="yellow" if rep["dry_run"] else "green", markup=False, highlight=False)


@migrate_app.command("verify")
def verify_cmd(plan: Path = typer.Option(..., "--plan", help="The plan whose mapping table gets the results."),
               gateway: str = typer.Option(None, "--gateway", help="relaygate's URL (default: this host and port)."),
               admin_token: str = typer.Option(None, "--admin-token", envvar="RELAYGATE_ADMIN_TOKEN",
                                               help="An admin token (RELAYGATE_ADMIN_TOKEN)."),
               models: str = typer.Option(None, "--models", help="Only these models (comma-separated)."),
               output: Path = typer.Option(None, "-o", "--output", help="Write the plan here (default: in place)."),
               as_json: bool = typer.Option(False, "--json", help="Print the results as JSON.")) -> None:
    """Probe every mapped model through relaygate (normal, stream, 402, 429, 404); results go into the plan."""
    if not admin_token:
        err.print(say("token"), style="red")
        raise typer.Exit(2)
    from relaygate.services.migration.plan import load_plan, save_plan
    from relaygate.services.migration.report_md import verify_markdown
    from relaygate.services.migration.verify import verify
    doc = _checked(lambda: load_plan(plan))
    settings = settings_from()
    url = gateway or settings.public_base_url or f"http://{settings.host}:{settings.port}"
    wanted = [m.strip() for m in models.split(",") if m.strip()] if models else None

    async def go() -> dict[str, Any]:
        with _bars() as bars:
            return await verify(doc, url, admin_token, wanted, progress=Bars(bars))

    result = _run(go)
    target = output or plan
    save_plan(doc, target)
    if as_json:
        emit(result, [], True)
    else:
        sys.stdout.write(verify_markdown(result, _lang()) + "\n")
    err.print(say("verified", summary=result["summary_text"], path=str(target)), markup=False, highlight=False)


@migrate_app.command("statuses")
def statuses_cmd(mode: str = typer.Argument(..., help="source (the old system's HTTP status codes) or relaygate "
                                                       "(relaygate's own).")) -> None:
    """Switch the HTTP status of refusals to imported keys: source (One API / New API's) or relaygate's."""
    from relaygate.core.compat import check_status_mode

    _checked(lambda: check_status_mode(mode))  # before the database is opened
    from relaygate.services.migration.import_rules import set_statuses

    async def go(engine: Any) -> int:
        return await set_statuses(engine, mode)

    try:
        count = run_with_engine(go)
    except InvalidInput as exc:
        err.print(say("error", message=exc.message(_lang())), style="red", markup=False, highlight=False,
                  soft_wrap=True)  # one line, whatever the length of a path in it
        raise typer.Exit(2) from None
    err.print(say("statuses", count=count, mode=mode), markup=False, highlight=False)


def _login() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:
        return "cli"


def _moment(value: str) -> int:
    """Unix seconds from ``--now``: an integer, or an ISO 8601 date/time (UTC unless it says otherwise)."""
    from datetime import UTC, datetime

    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        err.print(say("now", value=value), style="red", markup=False, highlight=False)
        raise typer.Exit(2) from None
    return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp())


def _dry_run(fn: Callable[[Any], Awaitable[T]]) -> T:
    """A dry run reads the target and writes nothing: no schema upgrade, and no database is created. A
    target that does not exist yet (or is empty) is stood in for by an empty in-memory one."""
    import tempfile

    from alembic.script import ScriptDirectory
    from sqlalchemy.exc import DBAPIError

    from relaygate.store.db import MIGRATIONS, current_revision, make_engine, upgrade

    settings = settings_from()
    url = settings.database_url
    path = _sqlite_file(url)
    where = url.rpartition("@")[2]

    async def go(scratch: str) -> T:
        engine = None
        if path is None or (path.exists() and path.stat().st_size > 0):
            engine = make_engine(url)
            try:
                revision = await current_revision(engine)
            except DBAPIError as exc:  # a server database that does not exist yet is an empty target
                await engine.dispose()
                if not _missing_database(exc):
                    detail = str(exc.orig or exc).splitlines()[0][:300]
                    raise InvalidInput(f"Cannot open the target database ({where}): {detail}",
                                       f"无法打开目标库（{where}）：{detail}") from None
                revision = None
            if revision is None:
                await engine.dispose()
                engine = None
            elif revision != ScriptDirectory(str(MIGRATIONS)).get_current_head():
                await engine.dispose()
                raise InvalidInput(f"The target database ({where}) is at schema revision {revision}; run "
                                   "`relaygate db upgrade` first (a dry run changes nothing, not even the schema).",
                                   f"目标库（{where}）的结构版本为 {revision}；请先运行 `relaygate db upgrade`"
                                   "（试运行不做任何修改，结构也不改）。")
        if engine is None:
            err.print(say("dry.empty", where=where), style="yellow", markup=False, highlight=False)
            engine = make_engine(f"sqlite+aiosqlite:///{scratch}/empty.db")
            await upgrade(engine)
        try:
            return await fn(engine)
        finally:
            await engine.dispose()

    with tempfile.TemporaryDirectory(prefix="relaygate-dry-run-") as scratch:
        return _run(lambda: go(scratch))


def _missing_database(exc: Exception) -> bool:
    """PostgreSQL's 'database … does not exist' (3D000) or MySQL's 'Unknown database' (1049)."""
    orig = getattr(exc, "orig", None)
    text = str(orig or exc)
    return getattr(orig, "sqlstate", None) == "3D000" or "1049" in text.split(",")[0] or (
        "database" in text and "does not exist" in text)


def _sqlite_file(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    return Path(parsed.database) if parsed.database and parsed.database != ":memory:" else None


def _checked(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except InvalidInput as exc:
        err.print(say("error", message=exc.message(_lang())), style="red", markup=False, highlight=False,
                  soft_wrap=True)  # one line, whatever the length of a path in it
        raise typer.Exit(2) from None
