"""What a move off One API / New API produced, kept in relaygate's database for the console to show.

``migrate inspect --record`` (and the console's own inventory run) appends an ``inventory``;
``migrate import --apply`` appends the reviewed ``plan`` (its model mapping table) and the ``import``
report; ``migrate verify`` appends the plan again with each model's verification result. Documents are
appended, never edited: the newest of a kind is the current one, the older ones are its history. None
holds a secret (DSNs are masked or carry ``${VAR}`` placeholders; keys are masked).
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import iso, now_ms
from relaygate.core.errors import InvalidInput
from relaygate.store import tables as t

KINDS = ("inventory", "plan", "import")
D = t.migration_documents


def source_name(body: dict[str, Any]) -> str:
    src = body.get("source") or {}
    return f"{src.get('kind') or '?'} {src.get('name') or ''}".strip()[:255]


async def record(engine: AsyncEngine, kind: str, body: dict[str, Any], actor: str) -> int:
    if kind not in KINDS:
        raise InvalidInput(f"Unknown document kind '{kind}'; use one of {', '.join(KINDS)}.",
                           f"未知文档类型 '{kind}'；可用：{'、'.join(KINDS)}。")
    try:
        text = orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS, default=str).decode()
    except orjson.JSONEncodeError as exc:
        raise InvalidInput(f"The document cannot be stored as JSON: {exc}.", f"该文档无法存为 JSON：{exc}。") from exc
    async with engine.begin() as conn:
        result = await conn.execute(D.insert().values(kind=kind, source=source_name(body), body=text,
                                                      created_by=actor[:128], created_at=now_ms()))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


async def latest(engine: AsyncEngine, kind: str) -> dict[str, Any] | None:
    """The newest document of ``kind`` with when, who and from where, or None."""
    async with engine.connect() as conn:
        row = (await conn.execute(select(D).where(D.c.kind == kind).order_by(D.c.id.desc()).limit(1))).first()
    if row is None:
        return None
    return {"id": row.id, "kind": row.kind, "source": row.source, "created_by": row.created_by,
            "created_at": iso(row.created_at), "body": orjson.loads(row.body)}


async def history(engine: AsyncEngine, limit: int = 20) -> list[dict[str, Any]]:
    """The newest documents of every kind, without their bodies."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(D.c.id, D.c.kind, D.c.source, D.c.created_by, D.c.created_at)
                                   .order_by(D.c.id.desc()).limit(limit))).all()
    return [{"id": r.id, "kind": r.kind, "source": r.source, "created_by": r.created_by,
             "created_at": iso(r.created_at)} for r in rows]


def mapping_rows(plan: dict[str, Any], cls: str = "", result: str = "") -> list[dict[str, Any]]:
    """The plan's model mapping table with each model's verification, filtered by class and result."""
    rows = []
    for m in plan.get("models") or []:
        verification = m.get("verification") or {}
        outcome = str(verification.get("result") or "not run")
        if (cls and m.get("class") != cls) or (result and outcome != result):
            continue
        rows.append({"old_name": m.get("old_name"), "new_name": m.get("new_name") or m.get("old_name"),
                     "upstream": m.get("upstream"), "class": m.get("class"), "risk": m.get("risk") or "none",
                     "channels": m.get("channels") or [], "result": outcome,
                     "probes": verification.get("probes") or {}, "why": verification.get("why") or "",
                     "checked_at": verification.get("checked_at")})
    return rows


def mapping_summary(plan: dict[str, Any]) -> dict[str, dict[str, int]]:
    classes: dict[str, int] = {}
    results: dict[str, int] = {}
    for row in mapping_rows(plan):
        classes[str(row["class"])] = classes.get(str(row["class"]), 0) + 1
        results[row["result"]] = results.get(row["result"], 0) + 1
    return {"classes": classes, "results": results}
