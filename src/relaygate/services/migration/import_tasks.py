"""`migrate import` step: New API's tasks in flight are taken over, polled by the gateway, then settled or
refunded there (services/media/takeover.py), never charged twice.

Each run:

1. rows in flight in the source (``tasks``, ``midjourneys``) not taken over yet become relaygate tasks:
   id ``task_<tag>t<row id>`` (``m`` for Midjourney), request id ``imp:<tag>:t<row id>``, found by the
   id the client holds too (``source_id``), owned by the imported owner, on the channel imported for the
   row's channel. Nothing is held: New API took the price before the import, and the balance imported is
   the quota after it; the record keeps that pre-charge (``prepaid``, converted exactly as the balance is);
2. tasks taken over by an earlier run whose source row has ended since (the source kept running after
   the import) are reconciled: one still in flight here ends as the source ended it, with no money (the
   source's refund reached the balance through this run's balances step); one relaygate refunded that the
   source refunded too gets an ``adjustment`` that takes the second refund back.

A task no relaygate protocol can poll (Suno, Jimeng, Midjourney without a channel of its protocol …) is
taken over all the same and never polled: it expires ``RELAYGATE_MEDIA_TASK_TTL_SECONDS`` after the
import and its pre-charge is refunded then, as New API's own timeout sweep does.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from relaygate.core.keys import hash_secret, key_id_for
from relaygate.core.money import format_amount
from relaygate.core.settings import Settings
from relaygate.providers import load_media
from relaygate.services.migration.channel_types import type_info
from relaygate.services.migration.context import CHUNK, Ctx
from relaygate.services.migration.import_routing import ref
from relaygate.services.migration.old_tasks import OldTask, read_ids, read_in_flight
from relaygate.store import tables as t
from relaygate.store.ledger_repo import append_entries

KIND = "tasks in flight"
T = t.media_tasks


def _request_id(ctx: Ctx, old: OldTask) -> str:
    return f"imp:{ctx.tag}:{old.letter}{old.row_id}"


async def _channels(ctx: Ctx) -> dict[int, tuple[int, str, str]]:
    """Source channel id -> (relaygate channel id, its protocol, the protocol its source type speaks).

    The two protocols differ when relaygate lacks the type's adapter (the channel was imported as a
    disabled ``openai`` one): such a channel's tasks cannot be polled.
    """
    wanted = {ref(ctx, ch.id): ch for ch in ctx.survey.channels}
    out: dict[int, tuple[int, str, str]] = {}
    async with ctx.engine.connect() as conn:
        for r in await conn.execute(select(t.channels.c.id, t.channels.c.protocol, t.channels.c.options)):
            ch = wanted.get(str(((r.options or {}).get("import") or {}).get("ref")))
            if ch is not None:
                out[ch.id] = (int(r.id), str(r.protocol), type_info(ctx.system, ch.type).protocol)
    return out


async def _existing(ctx: Ctx) -> dict[str, Any]:
    async with ctx.engine.connect() as conn:
        return {r.request_id: r for r in await conn.execute(
            select(T).where(T.c.request_id.like(f"imp:{ctx.tag}:%"), T.c.source_id.is_not(None)))}


async def _lookups(ctx: Ctx, chunk: list[OldTask]) -> tuple[dict[int, int], dict[int, tuple[str, str | None]]]:
    """(user id -> quota now, token id -> (relaygate key id, masked)) for one chunk."""
    quotas: dict[int, int] = {}
    users = ctx.source.table("users")
    assert users is not None
    uids = sorted({o.user_id for o in chunk})
    async for rows in ctx.source.chunks("users", users.c.id.in_(uids), columns=["id", "quota"]):
        quotas.update({int(r["id"]): int(r["quota"] or 0) for r in rows})
    keys: dict[int, tuple[str, str | None]] = {}
    tokens = ctx.source.table("tokens")
    tids = sorted({o.token_id for o in chunk if o.token_id > 0})
    if tokens is not None and tids:
        by_token: dict[int, str] = {}
        async for rows in ctx.source.chunks("tokens", tokens.c.id.in_(tids), columns=["id", "key"]):
            by_token.update({int(r["id"]): key_id_for(hash_secret(str(r["key"]).strip())) for r in rows if r["key"]})
        async with ctx.engine.connect() as conn:
            masked = {r.id: r.masked for r in await conn.execute(
                select(t.api_keys.c.id, t.api_keys.c.masked).where(t.api_keys.c.id.in_(list(by_token.values()))))}
        keys = {tid: (kid, masked[kid]) for tid, kid in by_token.items() if kid in masked}
    return quotas, keys


def _row(ctx: Ctx, settings: Settings, old: OldTask, channel: tuple[int, str, str] | None, pollable: bool,
         prepaid: int, key: tuple[str, str | None] | None, why: str | None) -> dict[str, Any]:
    oid, group, _ = ctx.owners[old.user_id]
    now = ctx.now_ms
    model = ctx.renames.get(old.model, old.model) or old.platform or "unknown"
    state = old.outcome
    return {
        "id": f"task_{ctx.tag}{old.letter}{old.row_id}", "request_id": _request_id(ctx, old), "owner_id": oid,
        "key_id": key[0] if key else "", "masked_key": key[1] if key else None, "group_name": group,
        "model": model[:128], "kind": old.kind, "surface": old.surface,
        "protocol": channel[1] if channel else "none", "channel_id": channel[0] if channel else 0,
        "upstream_model": old.upstream_model[:128] or None, "upstream_task_id": old.upstream_id[:255],
        "state": state, "upstream_started": state == "running", "progress": old.progress,
        "prompt_summary": old.prompt[:200] if settings.store_prompts and old.prompt else None,
        "params": {"action": old.poll_action, "secret_index": 0, "imported": {
            "system": ctx.system, "system_name": ctx.source_name, "table": old.table, "row": old.row_id,
            "quota": str(old.quota), "funding": old.funding, "platform": old.platform, "status": old.status,
            "channel_id": old.channel_id, "token_id": old.token_id, "pollable": pollable,
            **({"why": why} if why else {})}},
        "refs": None, "callback_url": None, "callback_state": "none", "callback_attempts": 0,
        "callback_next_at": None, "result": None, "download_state": "none", "result_expires_at": None,
        "review": None, "error_code": None, "error_message": None, "hold": 0, "cost": 0,
        "units": {"unit": "call", "variant": "*", "count": 1, "per_unit": 0, "multiplier_ppm": 1_000_000, "per": 1},
        "created_at": old.submit_time * 1000 if old.submit_time > 0 else now, "updated_at": now,
        "finished_at": None, "expires_at": now + int(settings.media_task_ttl_seconds * 1000),
        "next_poll_at": now if pollable else None, "poll_failures": 0,
        "source_id": old.client_id[:191], "prepaid": prepaid,
    }


async def tasks(ctx: Ctx, settings: Settings) -> dict[str, Any]:
    """Take over the source's tasks in flight and reconcile those taken over before (see the module)."""
    tables = [n for n in ("tasks", "midjourneys") if ctx.source.table(n) is not None]
    if not tables:
        return {"tasks": 0}
    protocols = set(load_media()[1])
    channels = await _channels(ctx)
    existing = await _existing(ctx)
    taken = skipped = 0
    money = {"prepaid": 0, "unpollable": 0}
    for table in tables:
        async for chunk in read_in_flight(ctx.source, table, CHUNK):
            quotas, keys = await _lookups(ctx, chunk)
            fresh = []
            for old in chunk:
                if _request_id(ctx, old) in existing:
                    ctx.changes.same(KIND)
                    continue
                if not old.upstream_id:
                    skipped += 1
                    ctx.changes.skipped(KIND, old.label(), f"no upstream task id: {ctx.source_name} fails such a "
                                                          "task itself, without a refund")
                    continue
                if old.user_id not in ctx.owners:
                    skipped += 1
                    ctx.changes.skipped(KIND, old.label(), f"its user is deleted in {ctx.source_name}")
                    continue
                channel = channels.get(old.channel_id)
                pollable = channel is not None and channel[1] == channel[2] and channel[1] in protocols and \
                    (old.table != "midjourneys" or channel[2] == "midjourney")
                why = None if pollable else (
                    f"channel #{old.channel_id} was not imported" if channel is None else
                    f"relaygate cannot poll '{channel[2]}' tasks") + ": never polled; refunded when it expires"
                quota = quotas.get(old.user_id, 0)
                prepaid = 0 if old.funding == "subscription" else \
                    ctx.units.nanos(quota + old.quota) - ctx.units.nanos(quota)
                row = _row(ctx, settings, old, channel, pollable, prepaid, keys.get(old.token_id), why)
                fresh.append(row)
                taken += 1
                money["prepaid"] += prepaid
                money["unpollable"] += not pollable
                ctx.changes.created(KIND, old.label(), {
                    "task": row["id"], "prepaid": format_amount(prepaid, ctx.units.currency),
                    **({"funding": "subscription: nothing to refund here"} if old.funding == "subscription" else {}),
                    "polled": "yes" if pollable else why})
                if why:
                    ctx.warnings.append(f"{old.label()}: {why}")
            if fresh and ctx.apply:
                async with ctx.engine.begin() as conn:
                    await conn.execute(T.insert(), fresh)
        letter = "t" if table == "tasks" else "m"
        earlier = {int(rid.rsplit(":", 1)[1][1:]): r for rid, r in existing.items()
                   if rid.rsplit(":", 1)[1].startswith(letter)}
        for old in (await read_ids(ctx.source, table, sorted(earlier))).values():
            if not old.in_flight:
                await _reconcile(ctx, settings, old, earlier[old.row_id])
    ctx.facts["tasks"] = {"taken_over": taken, "skipped": skipped, **money}
    return {"tasks": taken, "skipped": skipped}


async def _reconcile(ctx: Ctx, settings: Settings, old: OldTask, row: Any) -> None:
    """A task taken over earlier that the source has finished since: count its money once."""
    label = f"{old.label()} → {row.id}"
    src = ctx.source_name
    L = t.ledger_entries
    now = ctx.now_ms
    base = {"owner_id": row.owner_id, "key_id": row.key_id or None, "request_id": row.request_id, "model": row.model,
            "actor": "import", "ref": row.id, "held": 0, "created_at": now}
    async with ctx.engine.begin() as conn:
        if row.state in ("queued", "running"):
            state = old.outcome
            ok = state == "succeeded"
            values: dict[str, Any] = {
                "state": state, "finished_at": now, "updated_at": now, "next_poll_at": None,
                "progress": 100 if ok else row.progress, "cost": int(row.prepaid or 0) if ok else 0,
                "error_code": None if ok else "ended_in_source",
                "error_message": None if ok else
                f"ended in {src} after the import: {old.fail_reason or 'failed'}"[:512]}
            if ok and old.result_url:
                values.update(result={"url": old.result_url}, download_state="ready",
                              result_expires_at=now + int(settings.media_result_ttl_seconds * 1000))
            ctx.changes.updated(KIND, label, {"state": (row.state, f"{state} (in {src})")})
            if not ctx.apply:
                return
            res = await conn.execute(T.update().where(T.c.id == row.id, T.c.state.in_(("queued", "running")))
                                     .values(**values))
            if res.rowcount == 1 and int(row.prepaid or 0):
                why = (f"ended in {src} after the import ({'succeeded' if ok else 'failed'} there): "
                       + ("its pre-charge stands" if ok else f"{src} refunded its pre-charge, booked with this "
                          "import's balance"))
                await append_entries(conn, [{**base, "kind": "settle" if ok else "refund", "amount": 0,
                                             "reason": why[:255]}])
            return
        booked = {r.kind: int(r.amount) for r in await conn.execute(select(L.c.kind, L.c.amount).where(
            L.c.request_id == row.request_id, L.c.kind.in_(("refund", "adjustment"))))}
        refunded = booked.get("refund")
        if not refunded or "adjustment" in booked or old.outcome != "failed" or old.funding == "subscription" \
                or not old.quota:
            ctx.changes.same(KIND)
            return
        ctx.changes.updated(KIND, label, {"refund": (f"relaygate {format_amount(int(refunded), ctx.units.currency)}",
                                                     f"also by {src}: taken back once")})
        if ctx.apply:
            why = (f"{src} also refunded task {row.source_id} (it kept running after the import) and this import "
                   f"booked that refund with the balance: relaygate's refund of the same pre-charge taken back")
            await append_entries(conn, [{**base, "kind": "adjustment", "amount": -int(refunded),
                                         "reason": why[:255]}])


def difference(ctx: Ctx, taken: dict[str, Any]) -> str:
    """The report's line on tasks (support reads it before users ask)."""
    src = ctx.source_name
    return (f"Async tasks: {taken['taken_over']} task(s) in flight in {src} were taken over (their pre-charge of "
            f"{format_amount(taken['prepaid'], ctx.units.currency)} stays spent and is refunded here if they fail; "
            f"clients keep polling with the ids they hold), {taken['unpollable']} of them on platforms relaygate "
            f"cannot poll (refunded when they expire); {taken['skipped']} skipped. Finished tasks stay in {src}'s "
            "tables as history.")
