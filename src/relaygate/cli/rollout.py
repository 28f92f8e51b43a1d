"""`relaygate rollout`: the old entry as a legacy channel, batches, switch / rollback / complete, guard, report."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from relaygate.cli.common import console, emit, run_with_engine, settings_from
from relaygate.cli.helpers import json_option, show
from relaygate.core.clock import parse_future

T = TypeVar("T")
rollout_app = typer.Typer(help="Gray rollout off One API / New API: the old entry keeps serving until each batch is "
                               "safe. (灰度切换：旧入口持续服务，直到每个批次安全切换)", no_args_is_help=True)
legacy_app = typer.Typer(help="The old entry as a legacy channel. (旧入口)", no_args_is_help=True)
handover_app = typer.Typer(help="Balance hand-over steps and pending old-quota changes. (余额交接)",
                           no_args_is_help=True)
dispute_app = typer.Typer(help="Balance disputes raised by owners. (余额争议)", no_args_is_help=True)
checklist_app = typer.Typer(help="Retiring the old entry: documents, screenshots, macros, base URL. (下线清单)",
                            no_args_is_help=True)
for _name, _sub in (("legacy", legacy_app), ("handover", handover_app), ("dispute", dispute_app),
                    ("checklist", checklist_app)):
    rollout_app.add_typer(_sub, name=_name)

MESSAGES: dict[str, tuple[str, str]] = {
    "moved": ("Batch '{batch}' is now {state} ({owners} owners; switches {switches}, rollbacks {rollbacks}; "
              "rollback deadline {deadline}).",
              "批次 '{batch}' 当前状态为 {state}（{owners} 个负责人；切换 {switches} 次，回滚 {rollbacks} 次；"
              "回滚截止 {deadline}）。"),
    "handover": ("Balance hand-over ({cause}): {owners} owners, old-system spend booked {booked}.",
                 "余额交接（{cause}）：{owners} 个负责人，记入旧系统消费 {booked}。"),
    "pending": ("{n} old-quota change(s) wait for you: make them in the old admin, then run "
                "relaygate rollout handover confirm {batch} (or --not-applied).",
                "有 {n} 项旧系统额度变更等待处理：请在旧系统后台完成后运行 relaygate rollout handover confirm {batch}"
                "（或加 --not-applied）。"),
    "failed": ("{n} old-quota write(s) FAILED; retry with: relaygate rollout sync {batch}",
               "有 {n} 项旧系统额度写入失败；请重试：relaygate rollout sync {batch}"),
    "skipped": ("{n} owner(s) skipped: {sample}", "跳过 {n} 个负责人：{sample}"),
    "notmoved": ("{n} owner(s) did NOT move; each stays where it was. Fix the cause, then run the same command "
                 "again: it finishes what is left.",
                 "有 {n} 个负责人未移动，均保持原状。请排除原因后再次执行同一命令，将完成剩余部分。"),
    "owner.failed": ("  {owner}: {why}", "  {owner}：{why}"),
    "refused": ("{n} change(s) refused after reading the old quota:", "读取旧额度后拒绝了 {n} 项变更："),
    "legacy": ("Old entry {url} ({state}); unknown keys: {unknown}; old database: {source}; write old quota: "
               "{write}; {legacy} imported owner(s) on the old entry, {native} native.",
               "旧入口 {url}（{state}）；未知密钥：{unknown}；旧数据库：{source}；写入旧额度：{write}；"
               "{legacy} 个导入负责人仍走旧入口，{native} 个已切换。"),
    "active": ("active", "启用"), "retired": ("retired", "已下线"), "yes": ("yes", "是"), "no": ("no", "否"),
    "none": ("none", "无"),
    "interrupted": ("its move was interrupted before it finished.", "其移动在完成前被中断。"),
    "confirmed": ("Recorded {state} for {n} owner(s) of batch '{batch}'.",
                  "已为批次 '{batch}' 的 {n} 个负责人记录 {state}。"),
    "written": ("Report written: {files}", "报告已写入：{files}"),
    "format": ("Unknown format '{value}'; use md or json.", "未知格式 '{value}'；请使用 md 或 json。"),
    "guard.none": ("No batch is being observed.", "当前没有处于观察中的批次。"),
    "guard.line": ("{batch} ({state}): {requests} requests after, baseline {baseline} ({source}); tripped: {tripped}",
                   "{batch}（{state}）：切换后 {requests} 个请求，基线 {baseline}（{source}）；触发：{tripped}"),
}


def say(key: str, **params: Any) -> str:
    en, zh = MESSAGES[key]
    return (zh if settings_from().lang_code() == "zh-CN" else en).format(**params)


def _line(key: str, style: str = "green", **params: Any) -> None:
    console.print(say(key, **params), style=style, markup=False, highlight=False, soft_wrap=True)


def _who(by: str | None) -> str:
    if by:
        return f"cli:{by}"
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


def _run(fn: Callable[[Any], Awaitable[T]]) -> T:
    from relaygate.services.rollout.service import Rollout

    return run_with_engine(lambda engine: fn(Rollout(engine, settings_from())))


BY = typer.Option(None, "--by", help="Who does it (recorded in the history); default the login name.")
REASON = typer.Option(..., "--reason", "-r", help="Why (recorded in the batch history).")
WRITE_OLD = typer.Option(None, "--write-old/--no-write-old",
                         help="Write the old users.quota (relative updates) instead of printing what to change; "
                              "default: the legacy setting.")


# --- the legacy channel --------------------------------------------------------------------------


def _legacy_out(view: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit(view, [], True)
    else:
        _legacy_line(view)


def _legacy_line(view: dict[str, Any]) -> None:
    _line("legacy", url=view["base_url"] or "-", state=say("active" if view["active"] else "retired"),
          unknown=view["unknown_keys"], source=view["source"] or say("none"),
          write=say("yes" if view["write_old"] else "no"), legacy=view["legacy_owners"], native=view["native_owners"])


@legacy_app.command("set")
def legacy_set(base_url: str = typer.Option(None, "--base-url", help="The old One API / New API root, e.g. "
                                                                     "http://old:3000 (without /v1)."),
               unknown_keys: str = typer.Option(None, "--unknown-keys", help="legacy (forward keys relaygate does "
                                                                             "not know) or reject (answer 401)."),
               source: str = typer.Option(None, "--source", help="The old database, read for hand-overs and logs "
                                                                 "('' removes it)."),
               logs_source: str = typer.Option(None, "--logs-source", help="Where its logs table lives "
                                                                           "(LOG_SQL_DSN)."),
               write_old: bool = typer.Option(None, "--write-old/--no-write-old",
                                              help="Allow hand-overs (and the guard) to change users.quota."),
               guard_seconds: float = typer.Option(None, "--guard-seconds", help="How often the guard checks."),
               by: str = BY, as_json: bool = json_option()) -> None:
    """Register (or change) the old entry: keys not switched yet are forwarded to it unchanged."""
    view = _run(lambda r: r.planner.set_legacy(_who(by), base_url, unknown_keys, source, logs_source, write_old,
                                               guard_seconds))
    _legacy_out(view, as_json)


@legacy_app.command("show")
def legacy_show(as_json: bool = json_option()) -> None:
    """The old entry, its database, and how many imported owners each side serves."""
    view = _run(lambda r: r.planner.legacy())
    _legacy_out(view, as_json)


@legacy_app.command("retire")
def legacy_retire(force: bool = typer.Option(False, "--force", help="Even with owners still on the old entry "
                                                                    "(no balance hand-over for them)."),
                  by: str = BY, as_json: bool = json_option()) -> None:
    """Remove the legacy channel: every key is served natively from now on."""
    view = _run(lambda r: r.planner.retire_legacy(_who(by), force))
    _legacy_out(view, as_json)


# --- batches ---------------------------------------------------------------------------------------


def _list(raw: str | None) -> list[str] | None:
    return None if raw is None else [p.strip() for p in raw.split(",") if p.strip()]


@rollout_app.command("plan")
def plan(name: str = typer.Argument(..., help="Batch name, e.g. internal-tests, scripts, users-5pct, production."),
         owners: str = typer.Option(None, "--owners", help="Owner ids or names, comma-separated."),
         keys: str = typer.Option(None, "--keys", help="Key ids: their owners join, with all their keys."),
         environments: str = typer.Option(None, "--environments", help="Owners whose imported keys are all in "
                                                                       "these environments (e.g. testing)."),
         percent: float = typer.Option(None, "--percent", help="A stable share of owners (hash of the owner id)."),
         rest: bool = typer.Option(False, "--rest", help="Every owner no earlier batch takes (e.g. production)."),
         switch_at: str = typer.Option(None, "--switch-at", help="Planned switch time: ISO or relative (2d)."),
         deadline: str = typer.Option(None, "--rollback-deadline", help="Fixed rollback deadline: ISO or relative."),
         window_after: str = typer.Option(None, "--rollback-window", help="Or a window from the first switch "
                                                                          "(default 7d)."),
         condition: list[str] = typer.Option(None, "--condition", "-c", help="Rollback condition, repeatable: "
                                             "5xx>+2% (points above baseline), 401>3x (times), timeout>5% (absolute)."),
         window: str = typer.Option("15m", "--window", help="How much recent traffic the guard compares."),
         min_requests: int = typer.Option(20, "--min-requests", help="Fewer requests than this: not judged yet."),
         baseline_days: int = typer.Option(7, "--baseline-days", help="Legacy-period days that form the baseline."),
         auto_rollback: bool = typer.Option(True, "--auto-rollback/--no-auto-rollback",
                                            help="Let the guard roll back when a condition trips."),
         description: str = typer.Option(None, "--description"), by: str = BY, as_json: bool = json_option()) -> None:
    """Plan a batch (or change one still planned): who, when, the rollback window and conditions."""
    from relaygate.services.rollout.model import duration_seconds

    view = _run(lambda r: r.planner.plan(
        name, _who(by), owners=_list(owners), keys=_list(keys), environments=_list(environments), percent=percent,
        rest=rest, switch_at=parse_future(switch_at) if switch_at else None,
        rollback_deadline=parse_future(deadline) if deadline else None,
        rollback_window_ms=duration_seconds(window_after) * 1000 if window_after else None,
        conditions=condition or None, window_seconds=duration_seconds(window), min_requests=min_requests,
        baseline_days=baseline_days, auto_rollback=auto_rollback, description=description))
    _show_batch(view, as_json)


def _show_batch(view: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit(view, [], True)
        return
    flat = {k: v for k, v in view.items() if k not in ("history", "members_sample")}
    show(flat, False, title=view["name"])
    if view.get("members_sample"):
        emit(view["members_sample"], ("owner_id", "name", "keys"), False)


@rollout_app.command("status")
def status(as_json: bool = json_option()) -> None:
    """Every batch: state, owners and keys, switch time, rollback deadline, conditions."""
    rows = _run(lambda r: r.planner.status())
    emit(rows, ("name", "state", "owners", "native", "not_moved", "failed", "keys", "owner_share", "switched_at",
                "rollback_deadline", "rollback_open", "switches", "rollbacks", "auto_rollback", "conditions"), as_json)
    if not as_json:
        for row in rows:
            for owner, why in row["failures"].items():
                _line("owner.failed", "red", owner=f"{row['name']} / {owner}", why=why)


@rollout_app.command("show")
def show_cmd(batch: str, as_json: bool = json_option()) -> None:
    """One batch with a sample of its owners and its history."""
    view = _run(lambda r: r.planner.show(batch))
    _show_batch(view, as_json)
    if not as_json:
        emit(view["history"], ("time", "from", "to", "actor", "reason"), False)


@rollout_app.command("history")
def history(batch: str, as_json: bool = json_option()) -> None:
    """Every transition of a batch: who, when, why."""
    emit(_run(lambda r: r.planner.history(batch)), ("time", "from", "to", "actor", "reason"), as_json)


def _moved(view: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit(view, [], True)
        return
    _line("moved", batch=view["batch"], state=view["state"], owners=view["owners"], switches=view["switches"],
          rollbacks=view["rollbacks"], deadline=view["rollback_deadline"] or "-")
    h = view.get("handover")
    if not h:
        return
    _line("handover", cause=h["cause"], owners=h["owners"], booked=h["booked_text"])
    if h["steps"]:
        emit(h["steps"], ("owner_id", "old_user_id", "old_quota", "booked_text", "old_delta", "state", "note"),
             False)
    writes = h.get("writes", {})
    if writes.get("pending"):
        _line("pending", "yellow", n=writes["pending"], batch=view["batch"])
    if writes.get("failed"):
        _line("failed", "red", n=writes["failed"], batch=view["batch"])
    if h["notes"]:
        sample = "; ".join(f"{o}: {why}" for o, why in list(h["notes"].items())[:3])
        _line("skipped", "yellow", n=len(h["notes"]), sample=sample)


def _exit_if_left(view: dict[str, Any], as_json: bool = False) -> None:
    """Name every owner that did not move (or whose hand-over failed), one sentence each; exit 1."""
    failed = dict((view.get("handover") or {}).get("failed") or {})
    for o in view.get("left") or []:
        failed.setdefault(o, (view.get("failures") or {}).get(o) or say("interrupted"))
    if not failed:
        return
    if as_json:  # the JSON said it all ("left", "failures", "handover.failed")
        raise typer.Exit(1)
    _line("notmoved", "red", n=len(failed))
    for owner, why in sorted(failed.items()):
        _line("owner.failed", "red", owner=owner, why=why)
    raise typer.Exit(1)


@rollout_app.command("switch")
def switch(batch: str, reason: str = REASON, by: str = BY, write_old: bool = WRITE_OLD,
           handover: bool = typer.Option(True, "--handover/--no-handover",
                                         help="--no-handover switches without booking the old system's spend."),
           freeze: bool = typer.Option(None, "--freeze/--no-freeze",
                                       help="Set the old quota to 0 (default: with --write-old; without it, a "
                                            "pending change you make by hand and confirm)."),
           as_json: bool = json_option()) -> None:
    """Serve a planned or rolled-back batch natively; hand its balances over."""
    view = _run(lambda r: r.mover.switch(batch, _who(by), reason, write_old, handover, freeze))
    _moved(view, as_json)
    _exit_if_left(view, as_json)


@rollout_app.command("observe")
def observe(batch: str, reason: str = REASON, by: str = BY, as_json: bool = json_option()) -> None:
    """Mark a switched batch as observed (the guard does it by itself once it has enough traffic)."""
    _moved(_run(lambda r: r.mover.observe(batch, _who(by), reason)), as_json)


@rollout_app.command("rollback")
def rollback(batch: str, reason: str = REASON, by: str = BY, write_old: bool = WRITE_OLD,
             as_json: bool = json_option()) -> None:
    """Send a batch back to the old entry at once (refused after its rollback deadline)."""
    view = _run(lambda r: r.mover.rollback(batch, _who(by), reason, write_old))
    _moved(view, as_json)
    _exit_if_left(view, as_json)


@rollout_app.command("complete")
def complete(batch: str, reason: str = REASON, by: str = BY, as_json: bool = json_option()) -> None:
    """Close a switched batch: no rollback any more; a last sync books residual old-entry spend."""
    view = _run(lambda r: r.mover.complete(batch, _who(by), reason))
    _moved(view, as_json)
    _exit_if_left(view, as_json)


@rollout_app.command("sync")
def sync(batch: str, by: str = BY, write_old: bool = WRITE_OLD, as_json: bool = json_option()) -> None:
    """Book the old system's movements now; for a rolled-back batch also (re)do the give-back."""
    view = _run(lambda r: r.mover.sync(batch, _who(by), write_old))
    _moved(view, as_json)
    _exit_if_left(view, as_json)


@rollout_app.command("guard")
def guard(as_json: bool = json_option()) -> None:
    """Run the guard once now: each observed batch's error rates against its baseline (acts on trips)."""
    views = _run(lambda r: r.guard.evaluate_all())
    if as_json:
        emit(views, [], True)
        return
    if not views:
        _line("guard.none", "yellow")
    for v in views:
        _line("guard.line", "red" if v["tripped"] else "green", batch=v["batch"], state=v["state"],
              requests=v["after"]["requests"], baseline=v["baseline"]["requests"], source=v["baseline"]["source"],
              tripped=", ".join(t["condition"] for t in v["tripped"]) or say("none"))


@rollout_app.command("report")
def report(fmt: str = typer.Option("md", "--format", help="md or json."),
           out: Path = typer.Option(None, "--out", help="Folder for report.md/json and the SVG charts."),
           days: int = typer.Option(30, "--days", help="Days of residual-traffic history.")) -> None:
    """Per batch: state, owners, error rates before/after, residual traffic, mapping hit rate, rollbacks,
    disputes; the retirement checklist. Charts as SVG with --out."""
    from relaygate.services.rollout.service import write_report

    if fmt not in ("md", "json"):
        console.print(say("format", value=fmt), style="red", markup=False)
        raise typer.Exit(2)
    lang = settings_from().lang_code()
    text, files = _run(lambda r: write_report(r, fmt, out, lang, days))
    if out is None:
        sys.stdout.write(text)
    else:
        _line("written", files=", ".join(str(f) for f in files))


# --- hand-overs, disputes, checklist ----------------------------------------------------------------


@handover_app.command("list")
def handover_list(batch: str = typer.Argument(None), open_only: bool = typer.Option(False, "--open",
                                                                                   help="Only pending, writing "
                                                                                        "or failed old-quota "
                                                                                        "changes."),
                  as_json: bool = json_option()) -> None:
    """Hand-over steps: syncs booked and old-quota changes, newest first."""
    emit(_run(lambda r: r.handovers(batch, open_only)),
         ("time", "owner_id", "cause", "kind", "old_quota", "old_delta", "amount", "state", "note"), as_json)


@handover_app.command("confirm")
def handover_confirm(batch: str, owner: str = typer.Option(None, "--owner", help="Only this owner id."),
                     not_applied: bool = typer.Option(False, "--not-applied",
                                                      help="The change was NOT made in the old system."),
                     by: str = BY, as_json: bool = json_option()) -> None:
    """Record that the pending old-quota changes were made by hand (or, with --not-applied, were not)."""
    view = _run(lambda r: r.mover.confirm(batch, owner, not not_applied, _who(by)))
    if as_json:
        emit(view, [], True)
    else:
        _line("confirmed", state=view["state"], n=len(view["owners"]), batch=view["batch"])
        if view["refused"]:
            _line("refused", "red", n=len(view["refused"]))
            for o, why in sorted(view["refused"].items()):
                _line("owner.failed", "red", owner=o, why=why)
    if view["refused"]:
        raise typer.Exit(1)


@dispute_app.command("add")
def dispute_add(owner: str = typer.Option(..., "--owner", help="Owner id or name."),
                note: str = typer.Option(..., "--note", help="What the owner says is wrong."),
                batch: str = typer.Option(None, "--batch", help="Default: the owner's batch."),
                by: str = BY, as_json: bool = json_option()) -> None:
    """Record a balance dispute (counted per batch in the report)."""
    show(_run(lambda r: r.evidence.add_dispute(owner, note, _who(by), batch)), as_json)


@dispute_app.command("list")
def dispute_list(as_json: bool = json_option()) -> None:
    emit(_run(lambda r: r.evidence.disputes()), ("id", "owner", "batch", "status", "note", "time", "resolution"),
         as_json)


@dispute_app.command("resolve")
def dispute_resolve(ident: int, resolution: str = typer.Option(..., "--note", help="How it was settled."),
                    by: str = BY, as_json: bool = json_option()) -> None:
    show(_run(lambda r: r.evidence.resolve_dispute(ident, resolution, _who(by))), as_json)


@checklist_app.command("add")
def checklist_add(item: str, owner: str = typer.Option(..., "--owner", help="Who will do it."),
                  kind: str = typer.Option("other", "--kind", help="docs, screenshots, macros, base_url or other."),
                  as_json: bool = json_option()) -> None:
    """Add an item to retire (an old document, a screenshot, a support macro, the old base URL)."""
    show(_run(lambda r: r.evidence.add_item(item, owner, kind)), as_json)


@checklist_app.command("done")
def checklist_done(ident: int, note: str = typer.Option(None, "--note"),
                   undo: bool = typer.Option(False, "--undo", help="Mark it not done again."),
                   owner: str = typer.Option(None, "--owner", help="Hand it to someone else."),
                   by: str = BY, as_json: bool = json_option()) -> None:
    """Mark a checklist item done (or not done with --undo)."""
    show(_run(lambda r: r.evidence.mark(ident, _who(by), not undo, note, owner)), as_json)


@checklist_app.command("assign")
def checklist_assign(ident: int, owner: str = typer.Option(..., "--owner", help="Who will do it."),
                     as_json: bool = json_option()) -> None:
    """Give a checklist item to someone."""
    show(_run(lambda r: r.evidence.assign(ident, owner)), as_json)


@checklist_app.command("list")
def checklist_list(as_json: bool = json_option()) -> None:
    emit(_run(lambda r: r.evidence.checklist()), ("id", "kind", "item", "owner", "done", "done_by", "done_at",
                                                   "note"), as_json)
