"""What the source's logs table tells: who calls (token names, last use, counts) and what failed, per day.

One API writes no log row for a failed request: its only failure rows are channel tests (type 5,
"测试失败"). New API writes type 5 error rows when ERROR_LOG_ENABLED is on, with the status and error
code in ``other``. Both record consumption (type 2) only when LogConsumeEnabled is on.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from relaygate.services.migration.parse import integer, json_object, text
from relaygate.services.migration.source import Source

CLASSES = ("invalid_key", "insufficient_quota", "model_not_allowed", "no_channel", "rate_limited", "upstream_quota",
           "timeout", "upstream_5xx", "upstream_auth", "other")
CLASS_TITLES = {
    "invalid_key": "invalid / expired / disabled key", "insufficient_quota": "insufficient quota",
    "model_not_allowed": "model not allowed", "no_channel": "no channel / model not found",
    "rate_limited": "429 rate limited", "upstream_quota": "upstream quota / credit", "timeout": "timeouts",
    "upstream_5xx": "upstream 5xx", "upstream_auth": "upstream key rejected", "other": "unclassified",
}
# the upstream's own account is out of money or quota (OpenAI answers it with 429 insufficient_quota)
_UPSTREAM_QUOTA = ("exceeded your current quota", "insufficient_quota", "credit balance is too low",
                   "your credit balance", "billing_hard_limit", "已欠费", "quota exceeded for quota metric")
_RULES: list[tuple[str, tuple[str, ...]]] = [
    ("upstream_quota", _UPSTREAM_QUOTA),
    ("insufficient_quota", ("额度不足", "额度已用尽", "quota is not enough", "insufficient_user_quota",
                            "pre_consume_token_quota_failed", "预扣费额度失败")),
    ("model_not_allowed", ("无权使用模型", "无权访问模型", "has no access to model", "无权访问任何模型")),
    ("no_channel", ("无可用渠道", "no available channel", "model_not_found", "model not found",
                    "does not exist", "模型不存在")),
    ("invalid_key", ("无效的令牌", "invalid token", "未提供令牌", "该令牌已过期", "令牌状态不可用",
                     "token has expired")),
    ("rate_limited", ("429", "rate limit", "too many requests", "请求数限制", "负载已饱和", "rate_limit")),
    ("timeout", ("timeout", "timed out", "deadline exceeded", "超时", "504", "524")),
    ("upstream_auth", ("401", "incorrect api key", "invalid_api_key", "api key not valid", "authentication",
                       "permission denied", "account_deactivated", "organization has been disabled")),
    ("upstream_5xx", ("bad response status code 5", "status code 5", "500", "502", "503",
                      "internal server error", "bad gateway", "service unavailable", "overloaded")),
]
_STATUS = re.compile(r"status(?:_code)?[\s\"':=]+(\d{3})", re.I)


def classify(content: str, other: dict[str, Any] | None = None) -> str:
    """The failure class of one log row, from New API's ``other`` codes or the message text."""
    other = other or {}
    code = text(other.get("error_code")).lower()
    status = integer(other.get("status_code"), 0)
    if code in ("insufficient_user_quota", "pre_consume_token_quota_failed"):
        return "insufficient_quota"
    if code == "model_not_found":
        return "no_channel"
    if code == "access_denied":
        return "model_not_allowed"
    low = content.lower()
    if code == "insufficient_quota" or any(n in low for n in _UPSTREAM_QUOTA):
        return "upstream_quota"  # before the 429: OpenAI says "out of credit" with a 429
    if status == 429:
        return "rate_limited"
    if status in (408, 504, 524):
        return "timeout"
    for cls, needles in _RULES:
        if any(_has(low, n) for n in needles):
            return cls
    found = _STATUS.search(content)
    if status >= 500 or (found and found.group(1).startswith("5")):
        return "upstream_5xx"
    return "other"


def _has(low: str, needle: str) -> bool:
    """Substring match; a status number must stand alone (request ids are full of digits)."""
    if needle.isdigit():
        return re.search(rf"(?<![\w.]){needle}(?![\w.])", low) is not None
    return needle in low


def day_of(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d")


@dataclass
class LogFacts:
    available: bool
    rows: int = 0
    since: int = 0
    consume_rows: int = 0
    callers: list[dict[str, Any]] = field(default_factory=list)
    errors_by_day: dict[str, dict[str, int]] = field(default_factory=dict)
    error_totals: dict[str, int] = field(default_factory=dict)
    error_source: str = ""
    samples: dict[str, str] = field(default_factory=dict)
    rows_total: int = 0  # every row of the table; ``rows`` counts the window's
    unclassified: int = 0
    unclassified_samples: list[dict[str, Any]] = field(default_factory=list)  # distinct messages, most frequent first


async def read_logs(source: Source, since: int, limit: int, progress: Any = None,
                    until: int | None = None) -> LogFacts:
    """Callers and error figures from ``since`` to ``until`` (unix seconds); aggregates in SQL, streams the
    failures. One API's failures: channel tests (type 5) and system rows (type 4) that carry an error;
    New API's: its error rows (type 5)."""
    logs = source.logs
    if logs is None:
        return LogFacts(False)
    facts = LogFacts(True, since=since)
    recent = logs.c.created_at >= since
    if until is not None:
        recent = recent & (logs.c.created_at <= until)
    facts.rows_total = await source.count("logs")
    facts.rows = await source.count("logs", recent)
    consume = (logs.c.type == 2) & recent
    facts.consume_rows = await source.count("logs", consume)
    calls = func.count().label("requests")
    query = (select(logs.c.user_id, logs.c.username, logs.c.token_name, calls, func.max(logs.c.created_at),
                    func.sum(logs.c.quota)).where(consume)
             .group_by(logs.c.user_id, logs.c.username, logs.c.token_name)
             # ties broken by name: the same report from every database, run after run (inspect --now)
             .order_by(calls.desc(), logs.c.user_id, logs.c.token_name, logs.c.username))
    if limit:
        query = query.limit(limit)
    for user_id, username, token_name, count, last, quota in await source.execute("logs", query):
        facts.callers.append({"token_name": text(token_name), "username": text(username), "user_id": user_id,
                              "requests": int(count), "last_used": int(last or 0), "quota": int(quota or 0)})
    oneapi = source.kind == "oneapi"
    facts.error_source = ("channel test failures (type 5) and system rows carrying an error (type 4): One API "
                          "logs no row for a failed request" if oneapi else
                          "error rows (type 5, written when ERROR_LOG_ENABLED)")
    where = (logs.c.type.in_([4, 5]) if oneapi else logs.c.type == 5) & recent
    if progress is not None:
        progress.start("logs", await source.count("logs", where))
    by_day: dict[str, Counter[str]] = defaultdict(Counter)
    columns = ["created_at", "type", "content"] + (["other"] if "other" in logs.c else [])
    unclassified: Counter[str] = Counter()
    async for chunk in source.chunks("logs", where, size=5000, columns=columns):
        for row in chunk:
            content = text(row.get("content"))
            if oneapi and "测试成功" in content:
                continue
            other, _ = json_object(row.get("other")) if "other" in row else ({}, None)
            cls = classify(content, other)
            if oneapi and integer(row.get("type")) == 4 and cls == "other" and not _is_error(content):
                continue  # a system note (gifts on registration, check-ins …), not a failure
            by_day[day_of(integer(row.get("created_at")))][cls] += 1
            facts.samples.setdefault(cls, content[:160])
            if cls == "other":
                unclassified[content[:200]] += 1
        if progress is not None:
            progress.advance(len(chunk))
    if progress is not None:
        progress.finish()
    facts.errors_by_day = {day: dict(sorted(c.items())) for day, c in sorted(by_day.items())}
    totals: Counter[str] = Counter()
    for counts in by_day.values():
        totals.update(counts)
    facts.error_totals = {c: totals[c] for c in CLASSES if totals[c]}
    facts.unclassified = totals["other"]
    facts.unclassified_samples = [{"message": m, "rows": n} for m, n in unclassified.most_common(20)]
    return facts


_ERROR_MARKS = ("失败", "错误", "异常", "禁用", "error", "fail", "disabled", "status code", "exception")


def _is_error(content: str) -> bool:
    low = content.lower()
    return any(m in low for m in _ERROR_MARKS)


async def last_channel_failures(source: Source) -> dict[int, str]:
    """The latest failure text per channel (tests in One API, errors in New API), for auto-disabled ones."""
    logs = source.logs
    if logs is None or "channel_id" not in logs.c:
        return {}
    latest = (select(logs.c.channel_id, func.max(logs.c.id)).where(logs.c.type == 5)
              .group_by(logs.c.channel_id))
    ids = {int(r[1]) for r in await source.execute("logs", latest) if r[0]}
    out: dict[int, str] = {}
    id_list = sorted(ids)
    for i in range(0, len(id_list), 500):
        query = select(logs.c.channel_id, logs.c.created_at, logs.c.content).where(logs.c.id.in_(id_list[i:i + 500]))
        for channel_id, created, content in await source.execute("logs", query):
            body = text(content)
            if "测试成功" not in body:
                out[int(channel_id)] = f"{day_of(integer(created))}: {body[:200]}"
    return out
