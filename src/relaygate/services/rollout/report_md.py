"""The rollout report in Markdown, in English or Simplified Chinese, with the charts linked as images."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from relaygate.services.rollout.model import CLASS_TITLES, REPORT_CLASSES

T: dict[str, tuple[str, str]] = {
    "title": ("Gray rollout report", "灰度切换报告"),
    "generated": ("Generated {time}.", "生成时间：{time}。"),
    "legacy": ("Old entry", "旧入口"),
    "legacy.line": ("Old entry {url} ({state}); unknown keys: {unknown}; old database: {source}; "
                    "writes to the old quota: {write}.",
                    "旧入口 {url}（{state}）；未知密钥：{unknown}；旧数据库：{source}；写入旧额度：{write}。"),
    "active": ("active", "启用"), "inactive": ("retired", "已下线"),
    "owners.line": ("{native} of {total} imported owners are served natively ({share}).",
                    "{total} 个导入负责人中已有 {native} 个由新入口直接服务（{share}）。"),
    "residual.line": ("Last 24 h: {legacy} requests still forwarded to the old entry, {native} served natively.",
                      "最近 24 小时：仍有 {legacy} 个请求转发到旧入口，{native} 个由新入口直接服务。"),
    "batches": ("Batches", "批次"),
    "col.batch": ("batch", "批次"), "col.state": ("state", "状态"), "col.owners": ("owners", "负责人"),
    "col.keys": ("keys", "密钥"), "col.share": ("share", "占比"), "col.switched": ("switched at", "切换时间"),
    "col.deadline": ("rollback deadline", "回滚截止"), "col.rollbacks": ("rollbacks", "回滚次数"),
    "col.disputes": ("disputes", "余额争议"), "col.class": ("class", "类别"), "col.before": ("before", "切换前"),
    "col.after": ("after", "切换后"),
    "col.after_all": ("all native periods", "全部切换期"), "col.change": ("change", "变化"),
    "col.time": ("time", "时间"),
    "col.move": ("move", "变更"), "col.who": ("who", "操作人"), "col.why": ("why", "原因"),
    "col.item": ("item", "事项"), "col.owner": ("owner", "负责人"), "col.done": ("done", "完成"),
    "col.note": ("note", "备注"),
    "rates": ("Error rates before and after", "切换前后错误率"),
    "rates.sources": ("Before: {before} ({breq} requests). After: native requests since the switch ({areq}).",
                      "切换前：{before}（{breq} 个请求）。切换后：切换以来的新入口请求（{areq} 个）。"),
    "not_switched": ("Not switched yet: its owners are still served by the old entry.",
                     "尚未切换：其负责人仍由旧入口服务。"),
    "residual": ("Residual old-entry traffic", "旧入口残留流量"),
    "residual.batch": ("Forwarded by relaygate since the switch: {fwd}. Requests reaching the old entry directly "
                       "since the switch (old logs): {old}.",
                       "切换以来经 relaygate 转发：{fwd}。切换以来直接访问旧入口的请求（旧系统日志）：{old}。"),
    "mapping": ("Model mapping", "模型映射"),
    "mapping.line": ("{resolved} of {total} requests named a model the mapping table knows ({rate}); {mapped} went "
                     "through an alias or a renamed upstream model ({mrate}).",
                     "{total} 个请求中有 {resolved} 个使用了映射表中存在的模型（{rate}）；{mapped} 个经过别名或上游改名"
                     "（{mrate}）。"),
    "mapping.missing": ("Unresolved model names: {names}.", "未能解析的模型名：{names}。"),
    "money": ("Balance hand-over", "余额交接"),
    "money.line": ("Old-system movements booked here (its charges since the last sync): {booked}; balance moved from "
                   "the old system to relaygate (net of give-backs): {moved}; old-quota changes still open: {open}.",
                   "记入本系统的旧系统变动（上次同步以来的旧系统扣费）：{booked}；从旧系统转入 relaygate 的余额"
                   "（扣除退回部分）：{moved}；尚未完成的旧额度变更：{open}。"),
    "trips": ("Guard trips", "守护触发"),
    "failed": ("Owners not moved", "未移动的负责人"),
    "failed.line": ("{n} owner(s) of this batch have not moved with it; {failed} hand-over(s) failed (each owner stays "
                    "where it was until the command is run again).",
                    "该批次有 {n} 个负责人未随批次移动；{failed} 个交接失败"
                    "（在再次执行命令之前，这些负责人保持原状）。"),
    "residual.until": ("Native period ended with the rollback at {time}.", "新入口服务期已于 {time} 随回滚结束。"),
    "history": ("History", "历史"),
    "charts": ("Charts", "图表"),
    "chart.error_rates": ("Error rates per class before and after each switch", "各批次切换前后各类错误率"),
    "chart.residual_traffic": ("Requests per day by route (legacy = still forwarded to the old entry; direct = "
                               "switched owners' callers still using the old base URL, from the old logs)",
                               "按路由统计的每日请求数（legacy = 仍转发到旧入口；direct = 已切换负责人的调用方仍直接"
                               "使用旧地址，来自旧系统日志）"),
    "chart.owner_share": ("Owners per batch", "各批次负责人占比"),
    "disputes": ("Balance disputes", "余额争议"),
    "disputes.line": ("{total} raised, {open} open.", "共 {total} 起，{open} 起未解决。"),
    "checklist": ("Retirement checklist", "旧入口下线清单"),
    "checklist.line": ("{done} of {total} done.", "已完成 {done}/{total}。"),
    "note.few": ("Only {n} baseline requests (fewer than {min}): relative conditions compare with a zero baseline.",
                 "基线只有 {n} 个请求（少于 {min}）：相对条件按零基线比较。"),
    "note.oneapi": ("One API logs no failed requests: its figures are successes only.",
                    "One API 不记录失败请求：其数据只包含成功请求。"),
    "src.legacy": ("relaygate's records of requests forwarded to the old entry", "relaygate 转发到旧入口的请求记录"),
    "src.logs": ("the old system's logs ({name})", "旧系统日志（{name}）"),
    "state.planned": ("planned", "计划中"), "state.switched": ("switched", "已切换"),
    "state.observing": ("observing", "观察中"), "state.completed": ("completed", "已完成"),
    "state.rolled_back": ("rolled back", "已回滚"),
    "yes": ("yes", "是"), "no": ("no", "否"), "none": ("none", "无"), "unknown": ("unknown", "未知"),
    "action.rolled_back": ("rolled back", "已自动回滚"), "action.alerted": ("alerted", "已告警"),
    "action.window_closed": ("alerted; rollback window closed", "已告警；回滚窗口已关闭"),
    "open": ("open", "可回滚"), "closed": ("closed", "已关闭"),
}


def _t(lang: str, key: str, **kw: Any) -> str:
    en, zh = T[key]
    return (zh if lang == "zh-CN" else en).format(**kw)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _cell(value: Any) -> str:
    return "-" if value is None or value == "" else str(value).replace("|", "\\|").replace("\n", " ")


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return [*out, ""]


def render(report: dict[str, Any], lang: str = "en", charts: dict[str, str] | None = None) -> str:
    def L(key: str, **kw: Any) -> str:
        return _t(lang, key, **kw)

    legacy = report["legacy"]
    lines = [f"# {L('title')}", "", L("generated", time=report["generated_at"]), "", f"## {L('legacy')}", ""]
    lines += [L("legacy.line", url=legacy["base_url"] or "-", state=L("active" if legacy["active"] else "inactive"),
                unknown=legacy["unknown_keys"], source=legacy["source"] or L("none"),
                write=L("yes" if legacy["write_old"] else "no")), ""]
    lines += [L("owners.line", native=legacy["native_owners"], total=legacy["imported_owners"],
                share=_pct(legacy["owner_share_switched"])), ""]
    last = report["residual"]["last_24h"]
    lines += [L("residual.line", legacy=last["legacy"], native=last["native"]), "", f"## {L('batches')}", ""]
    lines += _table([L(f"col.{c}") for c in ("batch", "state", "owners", "keys", "share", "switched", "deadline",
                                             "rollbacks", "disputes")],
                    [[b["name"], L(f"state.{b['state']}"), b["owners"], b["keys"], _pct(b["owner_share"]),
                      b["switched_at"], _deadline(b, L), b["rollbacks"],
                      f"{b['disputes']['open']}/{b['disputes']['total']}"] for b in report["batches"]])
    for b in report["batches"]:
        lines += _batch(b, lang, L)
    if charts:
        lines += [f"## {L('charts')}", ""]
        for name, file in charts.items():
            lines += [f"![{L('chart.' + name)}]({file})", "", f"*{L('chart.' + name)}*", ""]
    disputes = report["disputes"]
    lines += [f"## {L('disputes')}", "", L("disputes.line", total=disputes["total"], open=disputes["open"]), ""]
    if disputes["items"]:
        lines += _table([L("col.owner"), L("col.batch"), L("col.state"), L("col.note"), L("col.time")],
                        [[d["owner"] or d["owner_id"], d["batch"], d["status"], d["note"], d["time"]]
                         for d in disputes["items"]])
    check = report["checklist"]
    lines += [f"## {L('checklist')}", "", L("checklist.line", done=check["done"], total=check["total"]), ""]
    lines += _table([L("col.item"), L("col.owner"), L("col.done"), L("col.note")],
                    [[f"[{c['kind']}] {c['item']}", c["owner"], f"✅ {c['done_at']}" if c["done"] else "⬜",
                      c["note"]] for c in check["items"]])
    return "\n".join(lines).rstrip() + "\n"


def _deadline(b: dict[str, Any], L: Callable[..., str]) -> str:
    if b["state"] not in ("switched", "observing"):
        return str(b["rollback_deadline"] or "-")
    return f"{b['rollback_deadline'] or '-'} ({L('open' if b['rollback_open'] else 'closed')})"


def _batch(b: dict[str, Any], lang: str, L: Callable[..., str]) -> list[str]:
    selector = b["selector_zh"] if lang == "zh-CN" else b["selector"]
    lines = [f"### {b['name']} — {L('state.' + b['state'])}", "",
             selector + (f" — {b['description']}" if b.get("description") else ""), ""]
    if b.get("after") is None:
        lines += [L("not_switched"), ""]
    else:
        before, after = b["before"], b["after"]
        source = (L("src.legacy") if before["source"].startswith("relaygate") else
                  L("src.logs", name=before["source"].removesuffix(" logs")))
        lines += [f"**{L('rates')}**", "", L("rates.sources", before=source, breq=before["requests"],
                                              areq=after["requests"]), ""]
        if before["requests"] < b["min_requests"]:
            lines += [f"> {L('note.few', n=before['requests'], min=b['min_requests'])}", ""]
        if before.get("note") and "One API" in before["note"]:
            lines += [f"> {L('note.oneapi')}", ""]
        idx = 1 if lang == "zh-CN" else 0
        every = b["after_all_switches"]
        lines += _table([L("col.class"), L("col.before"), L("col.after"), L("col.change"),
                         f"{L('col.after_all')} ({every['requests']})"],
                        [[CLASS_TITLES[c][idx], _pct(before["rates"][c]), _pct(after["rates"][c]),
                          f"{100 * b['change'][c]:+.2f} pt", _pct(every["rates"][c])]
                         for c in (*REPORT_CLASSES, "403", "5xx")])
        res = b["residual"]
        lines += [f"**{L('residual')}**", "", L("residual.batch",
                                                fwd=_cell(res["forwarded_by_relaygate_since_switch"]),
                                                old=_cell(res["old_entry_requests_since_switch"])), ""]
        if res.get("native_until"):
            lines += [L("residual.until", time=res["native_until"]), ""]
        m = b["mapping"]
        lines += [f"**{L('mapping')}**", "", L("mapping.line", resolved=m["resolved"], total=m["requests"],
                                                rate=_pct(m["resolved_rate"]), mapped=m["via_mapping"],
                                                mrate=_pct(m["via_mapping_rate"])), ""]
        if m["unresolved_models"]:
            lines += [L("mapping.missing", names=", ".join(f"{k} ({v})" for k, v in m["unresolved_models"].items())),
                      ""]
    h = b["handover"]
    if h["rows"]:
        lines += [f"**{L('money')}**", "", L("money.line", booked=h["booked_old_spend_text"], moved=h["moved_text"],
                                              open=h["open_writes"]), ""]
    if b.get("failures") or b.get("not_moved"):
        lines += [f"**{L('failed')}**", "", L("failed.line", n=b["not_moved"], failed=b["failed"]), ""]
        lines += _table([L("col.owner"), L("col.why")], [[o, why] for o, why in b["failures"].items()])
    if b["trips"]:
        lines += [f"**{L('trips')}**", ""]
        lines += _table([L("col.time"), L("col.class"), L("col.after"), L("col.before"), L("col.why")],
                        [[tr["time"], tr["class"], _pct(tr["rate"]), _pct(tr["baseline"]),
                          f"{tr['threshold']} → {L('action.' + tr['action'])}"] for tr in b["trips"]])
    lines += [f"**{L('history')}**", ""]
    lines += _table([L("col.time"), L("col.move"), L("col.who"), L("col.why")],
                    [[h["time"], f"{h['from'] or '∅'} → {h['to']}", h["actor"], h["reason"]] for h in b["history"]])
    return lines
