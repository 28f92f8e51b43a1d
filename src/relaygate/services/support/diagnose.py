"""`support diagnose`: from a request id, key id or masked key to safe evidence, likely cause, next action, reply.

Reads usage records, keys, owners and channel names; never the ``body`` column, never a key hash or
a secret. A full key pasted by mistake is only hashed to find its record, never echoed, and the
answer warns that it must be treated as leaked.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import now_ms
from relaygate.core.errors import InvalidInput
from relaygate.core.keys import mask_key
from relaygate.core.settings import Settings
from relaygate.services.notices.clients import BaseForms, spec_for_detected
from relaygate.services.notices.context import gather
from relaygate.services.notices.plan import MigrationPlan
from relaygate.services.notices.render import lang_code, render_reply
from relaygate.services.operate.accounts import AccountsAdmin, key_view
from relaygate.services.operate.tasks import TaskDesk
from relaygate.services.operate.usage import record_view
from relaygate.services.support import tasks as task_rules
from relaygate.services.support.rules import Case, judge
from relaygate.store import tables as t

u = t.usage_records
EVIDENCE_FIELDS = ("time", "request_id", "status", "error_code", "requested_model", "upstream_model", "group_name",
                   "environment", "client", "client_version", "masked_key", "key_id", "owner_id", "entry_path",
                   "host", "stream", "latency_ms", "total_tokens", "caller_ip", "attempts")
REPLY_FIELDS = ("time", "request_id", "status", "requested_model", "masked_key", "client", "client_version")


@dataclass
class Diagnosis:
    query: str  # as asked, masked when it was a full key
    found: str  # request | key | masked_key
    evidence: dict[str, Any] | None
    key: dict[str, Any] | None
    recent: dict[str, Any]
    rule: str
    cause: str
    action: str
    warnings: list[str] = field(default_factory=list)
    reply: str | None = None
    task: dict[str, Any] | None = None  # a media task's support view (found by a task id)

    def view(self) -> dict[str, Any]:
        return asdict(self)


def _looks_like_full_key(ident: str) -> bool:
    return len(ident) >= 20 and "…" not in ident and "..." not in ident and not ident.startswith(("req_", "key_"))


def _hosts(urls: list[str]) -> frozenset[str]:
    out = set()
    for url in urls:
        netloc = urlsplit(url if "://" in url else f"http://{url}").netloc.lower()
        if netloc:
            out.add(netloc)
    return frozenset(out)


class SupportDesk:
    """Answers one support question at a time from the database (CLI and admin API share it)."""

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    async def diagnose(self, ident: str, lang: str = "en", reply_lang: str | None = None,
                       plan: MigrationPlan | None = None, old_hosts: list[str] | None = None, days: int = 7,
                       templates_dir: Path | None = None) -> Diagnosis:
        ident = ident.strip()
        lang = lang_code(lang)
        since = now_ms() - days * 86_400_000
        if not ident.startswith(("req_", "key_")) and "…" not in ident and "..." not in ident:
            task = await TaskDesk(self.engine).detail(ident)  # ours, or the id New API gave a taken-over task
            if task is not None:
                return await self._task(task, ident, lang, reply_lang, since, [])
            if ident.startswith("task_"):
                raise InvalidInput(f"No media task has id '{ident}'.", f"没有 ID 为 '{ident}' 的媒体任务。",
                                   status=404)
        shown = mask_key(ident) if _looks_like_full_key(ident) else ident
        warnings = []
        if _looks_like_full_key(ident):
            warnings.append("A full key was pasted: treat it as leaked and replace it (relaygate keys disable, "
                            "then a new key)." if lang == "en" else
                            "粘贴了完整密钥：请视为已泄露并更换（relaygate keys disable 后签发新密钥）。")
        plan = plan or MigrationPlan()
        rec, key_row, found = await self._locate(ident, shown, since)
        key = key_view(key_row) if key_row is not None else None
        if key is None and rec is not None and rec.get("key_id"):
            key = await self._key_by_id(rec["key_id"])
        recent = await self._recent(key["id"] if key else None, rec, since)
        if rec is not None:
            rec = await self._with_attempt_names(rec)
        live = await gather(self.engine, self.settings, plan)
        host = (rec or {}).get("host") or ""
        forms = BaseForms.from_setting(self.settings.public_base_url or plan.new_base_url or "", host or "")
        mapping = {row.old: row for row in plan.model_mapping}
        replacements = {m.name: m.replacement for m in live.models if m.replacement}
        for m in live.models:
            for alias in m.aliases:
                replacements.setdefault(alias, m.name)
        client = spec_for_detected((rec or {}).get("client"))
        old = _hosts([*(old_hosts or []), *([plan.old_base_url] if plan.old_base_url else [])])
        case = Case(rec, key, forms, client, old, mapping, live.served_models, replacements, days, recent["total"])
        verdict = judge(case)
        pick = 1 if lang.startswith("zh") else 0
        evidence = {name: rec.get(name) for name in EVIDENCE_FIELDS} if rec else None
        if evidence is not None and rec is not None:
            evidence["attempts"] = rec.get("attempts_detail") or []
            evidence["mistake"] = (rec.get("detail") or {}).get("mistake")
            evidence["owner"] = await self._owner_name(rec.get("owner_id"))
        diagnosis = Diagnosis(shown, found, evidence, key, recent, verdict.rule, verdict.cause[pick],
                              verdict.action[pick], warnings)
        if reply_lang:
            code = (rec or {}).get("error_code") or ("base_url_mistake" if verdict.rule == "no_requests_here" else None)
            if code is not None:
                rl = lang_code(reply_lang)
                tell = verdict.tell[1 if rl.startswith("zh") else 0] if verdict.tell else None
                safe = {name: rec.get(name) for name in REPLY_FIELDS} if rec else None
                if safe is not None and client is not None:
                    safe["client"] = client.name  # "Cherry Studio", not "cherry-studio"
                diagnosis.reply = render_reply(live, rl, code, safe, tell, client, templates_dir)
        return diagnosis

    async def _task(self, task: dict[str, Any], shown: str, lang: str, reply_lang: str | None, since: int,
                    warnings: list[str]) -> Diagnosis:
        """A media task: its state, money and result decide; its submit request (if any) is the evidence."""
        rec = None
        if task["usage_record"]:
            async with self.engine.connect() as conn:
                row = (await conn.execute(select(u).where(u.c.request_id == task["request_id"]))).first()
            rec = await self._with_attempt_names(record_view(row)) if row is not None else None
        key = await self._key_by_id(task["key_id"]) if task["key_id"] else None
        recent = await self._recent(key["id"] if key else None, rec, since)
        rule, cause, action = task_rules.verdict(task, self.settings.currency, lang)
        if task["callback"]["state"] == "failed":
            last = task["deliveries"][-1] if task["deliveries"] else {}
            warnings.append(
                f"回调 {task['callback']['host']} 已放弃（{task['callback']['attempts']} 次尝试，最后："
                f"{last.get('status') or last.get('error')}）" if lang.startswith("zh") else
                f"Callbacks to {task['callback']['host']} gave up after {task['callback']['attempts']} attempts "
                f"(last: {last.get('status') or last.get('error')}).")
        evidence = {name: rec.get(name) for name in EVIDENCE_FIELDS} if rec else None
        if evidence is not None and rec is not None:
            evidence["attempts"] = rec.get("attempts_detail") or []
        drafted = task_rules.reply(task, self.settings.currency, lang_code(reply_lang)) if reply_lang else None
        return Diagnosis(shown, "task", evidence, key, recent, rule, cause, action, warnings, drafted, task)

    async def _locate(self, ident: str, shown: str, since: int) -> tuple[dict[str, Any] | None, Any, str]:
        async with self.engine.connect() as conn:
            if ident.startswith("req_"):
                row = (await conn.execute(select(u).where(u.c.request_id == ident))).first()
                if row is None:
                    raise InvalidInput(f"No usage record has request id '{ident}' (records are written within a "
                                       "second; older ones may have been pruned).",
                                       f"没有请求 ID 为 '{ident}' 的使用记录（记录会在一秒内写入；"
                                       "较早的可能已被清理）。",
                                       status=404)
                return record_view(row), None, "request"
            try:
                key_row = await AccountsAdmin(self.engine).resolve_key(conn, ident)
            except InvalidInput as exc:
                if exc.status != 404:
                    raise
                key_row = None
            if key_row is not None:
                return await self._latest(conn, u.c.key_id == key_row.id, since), key_row, "key"
            masked = ident.replace("...", "…")
            if "…" in masked:
                rec = await self._latest(conn, u.c.masked_key == masked, since)
                if rec is not None:
                    return rec, None, "masked_key"
            if ident.startswith("key_"):
                rec = await self._latest(conn, u.c.key_id == ident, since)
                if rec is not None:
                    return rec, None, "key"
        raise InvalidInput(f"Nothing matches '{shown}': give a request id (req_…), a task id (task_…), a key id "
                           "(key_…) or a masked key "
                           "(sk-abcd…wxyz).",
                           f"没有与 '{shown}' 匹配的内容：请提供请求 ID（req_…）、任务 ID（task_…）、密钥 ID（key_…）"
                           "或脱敏密钥（sk-abcd…wxyz）。",
                           status=404)

    @staticmethod
    async def _latest(conn: Any, cond: Any, since: int) -> dict[str, Any] | None:
        """The newest failed record in the window, else the newest record at all."""
        for extra in ((u.c.error_code.is_not(None), u.c.ts >= since), ()):
            row = (await conn.execute(select(u).where(cond, *extra).order_by(u.c.id.desc()).limit(1))).first()
            if row is not None:
                return record_view(row)
        return None

    async def _key_by_id(self, key_id: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(t.api_keys).where(t.api_keys.c.id == key_id))).first()
        return key_view(row) if row is not None else None

    async def _owner_name(self, owner_id: str | None) -> str | None:
        if not owner_id:
            return None
        async with self.engine.connect() as conn:
            return (await conn.execute(select(t.owners.c.name).where(t.owners.c.id == owner_id))).scalar()

    async def _recent(self, key_id: str | None, rec: dict[str, Any] | None, since: int) -> dict[str, Any]:
        """For a key: requests and errors by code in the window, and the last ten requests (safe fields)."""
        if key_id is None:
            return {"total": 1 if rec else 0, "errors": {}, "last": []}
        async with self.engine.connect() as conn:
            counts = (await conn.execute(select(u.c.error_code, func.count()).where(u.c.key_id == key_id,
                                                                                     u.c.ts >= since)
                                         .group_by(u.c.error_code))).all()
            rows = (await conn.execute(select(u).where(u.c.key_id == key_id).order_by(u.c.id.desc())
                                       .limit(10))).all()
        last = [{k: v for k, v in record_view(r).items() if k in ("time", "request_id", "status", "error_code",
                                                                  "requested_model", "client", "host")}
                for r in rows]
        return {"total": sum(n for _, n in counts), "errors": {c: n for c, n in counts if c}, "last": last}

    async def _with_attempt_names(self, rec: dict[str, Any]) -> dict[str, Any]:
        attempts = [a for a in ((rec.get("detail") or {}).get("attempts") or []) if isinstance(a, dict)]
        if not attempts and rec.get("channel_id") is not None:
            attempts = [{"channel_id": rec["channel_id"], "status": rec["status"], "error": rec["error_code"]}]
        ids = {a.get("channel_id") for a in attempts}
        async with self.engine.connect() as conn:
            names = dict((await conn.execute(select(t.channels.c.id, t.channels.c.name)
                                             .where(t.channels.c.id.in_(ids)))).all()) if ids else {}
        rec["attempts_detail"] = [{"channel_id": a.get("channel_id"), "channel": names.get(a.get("channel_id")),
                                   "status": a.get("status"), "error": a.get("error"), "ms": a.get("ms")}
                                  for a in attempts]
        return rec
