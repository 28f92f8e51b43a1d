"""What support says about a media task: its likely cause, the next action and a drafted reply, in en and
zh-CN, from the task's support view (services/operate/tasks.py) alone: state, error, money, result."""

from __future__ import annotations

from typing import Any

from relaygate.core.money import format_amount

STATE_ZH = {"queued": "排队中", "running": "运行中"}


def _money(task: dict[str, Any], currency: str, zh: bool) -> str:
    def m(nanos: int) -> str:
        return format_amount(nanos, currency)

    state = task["state"]
    if task.get("imported"):
        pre = m(task["prepaid"])
        if state == "succeeded":
            return (f"它的费用是 New API 在导入前已预扣的 {pre}，没有再收费" if zh else
                    f"it cost New API's pre-charge of {pre}, taken before the import; nothing more was charged")
        if state in ("queued", "running"):
            return (f"New API 已预扣 {pre}；任务失败或过期时退还" if zh else
                    f"New API pre-charged {pre}; it is refunded if the task fails or expires")
        if task["refunded"] > 0:
            return f"New API 预扣的 {pre} 已退还" if zh else f"New API's pre-charge of {pre} was refunded"
        if not task["prepaid"]:
            return ("这里没有需要退还的费用（由 New API 订阅支付或免费）" if zh else
                    "there is nothing to refund here (paid by a New API subscription, or free)")
        return ("旧系统仍在运行，由它自行退还预扣费用，下次同步时记入" if zh else
                "New API still runs and refunds its pre-charge itself; the next sync books it")
    if state == "succeeded":
        return f"预扣 {m(task['hold'])}，实际收费 {m(task['cost'])}" if zh else \
            f"it was charged {m(task['cost'])} of the {m(task['hold'])} held"
    if state in ("queued", "running"):
        return f"已预扣 {m(task['hold'])}，任务结束时结算" if zh else f"{m(task['hold'])} is held until it ends"
    return f"未收费：预扣的 {m(task['hold'])} 已全额释放" if zh else \
        f"not charged: the {m(task['hold'])} held was released in full"


def verdict(task: dict[str, Any], currency: str, lang: str) -> tuple[str, str, str]:
    """(rule, cause, action) for a task."""
    zh = lang.startswith("zh")
    tid, state, money = task["task_id"], task["state"], _money(task, currency, zh)
    error = task.get("error_message") or task.get("error_code") or ""
    if state in ("queued", "running"):
        failures = task["poll"]["failures"]
        polls = (f"，最近 {failures} 次轮询失败" if zh else f"; the last {failures} poll(s) failed") if failures else ""
        return (f"task_{state}",
                f"任务 {tid} 仍在上游{STATE_ZH[state]}（进度 {task['progress']}%）{polls}；{money}。" if zh else
                f"Task {tid} is still {state} upstream ({task['progress']}% done){polls}; {money}.",
                f"暂时无需处理：最迟 {task['expires_at']} 结束，届时未完成则过期并全额退还。" if zh else
                f"Nothing to do yet: it ends by {task['expires_at']} at the latest; if it has not finished by then "
                "it expires and nothing is charged.")
    if state == "succeeded":
        gone = task["download_state"] != "ready"
        return ("task_succeeded",
                f"任务 {tid} 已成功；{money}。" if zh else f"Task {tid} succeeded; {money}.",
                ("结果已不可再下载（已过期或已删除），请重新提交任务。" if zh else
                 "Its result can no longer be downloaded (expired or deleted): submit the task again.") if gone else
                (f"结果可在 {task['result_expires_at']} 前通过 GET /v1/videos/{tid}/content 下载。" if zh else
                 f"The result can be downloaded until {task['result_expires_at']} with "
                 f"GET /v1/videos/{tid}/content."))
    if task.get("error_code") == "moderation_rejected":
        return ("task_moderated",
                f"上游的内容审核拒绝了任务 {tid}（{error}）；{money}。" if zh else
                f"The upstream's moderation refused task {tid} ({error}); {money}.",
                "修改提示词或参考图片后重新提交。" if zh else "Change the prompt or reference image and submit again.")
    if state == "expired":
        return ("task_expired",
                f"任务 {tid} 在时限内没有结果，已过期；{money}。" if zh else
                f"Task {tid} produced no result within the time limit and expired; {money}.",
                "重新提交；若反复过期，请把任务 ID 发给运维查看上游。" if zh else
                "Submit it again; if it keeps expiring, send the task id to the operator to check the upstream.")
    if state == "cancelled":
        return ("task_cancelled",
                f"任务 {tid} 在上游开始前已被调用方取消；{money}。" if zh else
                f"Task {tid} was cancelled by the caller before the upstream started; {money}.",
                "无需处理。" if zh else "Nothing to do.")
    return ("task_failed",
            f"任务 {tid} 在上游失败：{error}；{money}。" if zh else f"Task {tid} failed upstream: {error}; {money}.",
            f"重新提交；若反复失败，请把任务 ID 发给运维（上游任务 ID：{task['upstream_task_id']}）。" if zh else
            "Submit it again; if it keeps failing, send the task id to the operator (the upstream's task id is "
            f"{task['upstream_task_id']}).")


def reply(task: dict[str, Any], currency: str, lang: str) -> str:
    """A ticket answer the caller may read: no channel, no upstream id, no internal reasons."""
    zh = lang.startswith("zh")
    tid, state, money = task["task_id"], task["state"], _money(task, currency, zh)
    shown = task.get("source_id") or tid
    what = {"queued": ("is waiting upstream", "正在排队"), "running": ("is running", "正在生成"),
            "succeeded": ("succeeded", "已成功"), "failed": ("failed", "失败了"),
            "cancelled": ("was cancelled before it started", "在开始前已取消"),
            "expired": ("did not finish within the time limit", "未在时限内完成")}[state]
    if zh:
        text = f"您好，您的任务 {shown}（模型 {task['model']}）{what[1]}：{money}。"
        if task.get("error_code") == "moderation_rejected":
            text += "上游的内容审核拒绝了它，请调整提示词或参考图片后重试。"
        elif state in ("failed", "expired"):
            text += "您可以直接重新提交。"
        elif state == "succeeded" and task["download_state"] == "ready":
            text += f"结果可在 {task['result_expires_at']} 前下载。"
        return text
    text = f"Hello, your task {shown} (model {task['model']}) {what[0]}: {money}."
    if task.get("error_code") == "moderation_rejected":
        text += " The upstream's safety system refused it: adjust the prompt or reference image and try again."
    elif state in ("failed", "expired"):
        text += " You can simply submit it again."
    elif state == "succeeded" and task["download_state"] == "ready":
        text += f" The result can be downloaded until {task['result_expires_at']}."
    return text
