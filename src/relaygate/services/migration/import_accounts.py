"""Import steps for people and money: owners, their balances (ledger entries), keys and admin tokens."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text

from relaygate.core.keys import hash_secret, key_id_for, mask_key
from relaygate.services.migration.changes import diff
from relaygate.services.migration.context import CHUNK, Ctx, amount
from relaygate.services.migration.records import ROLE_NAMES, Token, User, token_state
from relaygate.store import tables as t
from relaygate.store.counters import MAX_AMOUNT
from relaygate.store.ledger_repo import append_entries
from relaygate.store.repo import bulk_insert
from relaygate.store.wide import wide_sum

NO_MODELS = "(none)"  # New API limits switched on with an empty list: no model at all
# A key's spend cap is enforced by the counters, which compare amounts exactly below 2**53 nanos (about 9
# million units): a larger cap is stored as that. Balances have no such bound: they are kept exactly at any
# size (store/wide.py), One API's root included (500,000,000,000,000 quota by default).
LARGEST = MAX_AMOUNT - 1
KEY_FIELDS = ("masked", "name", "owner_id", "group_name", "enabled", "disabled_reason", "expires_at",
              "allowed_models", "allowed_networks", "source", "cap_total")
OWNER_FIELDS = ("name", "email", "note")


async def refresh_stats(ctx: Ctx, conn: Any, table: str, written: int) -> None:
    """PostgreSQL plans the per-chunk lookups from table statistics; a table filled within the import
    still looks empty to it and gets scanned whole (2.7 s a chunk at 100k keys). ANALYZE it whenever it
    has doubled since the last time."""
    if conn.dialect.name != "postgresql" or not ctx.apply:
        return
    seen = ctx.facts.setdefault("analyzed", {})
    if written >= 2 * seen.get(table, 0) + 1000:
        await conn.execute(text(f"ANALYZE {table}"))
        seen[table] = written


def owner_id(ctx: Ctx, user_id: int) -> str:
    return f"own_{ctx.tag}_{user_id}"


async def owners(ctx: Ctx) -> dict[str, Any]:
    """Every user not deleted becomes an owner (disabled ones too: their balance is still theirs)."""
    ctx.progress.start("owners", await ctx.source.count("users"))
    skipped = 0
    async for chunk in ctx.source.chunks("users", size=CHUNK):
        users = [User.from_row(r, ctx.system) for r in chunk]
        live = [u for u in users if not u.deleted]
        for u in users:
            if u.deleted:
                skipped += 1
                ctx.changes.skipped("owners", u.username, f"deleted in {ctx.source_name}")
        ids = [owner_id(ctx, u.id) for u in live]
        async with ctx.engine.begin() as conn:
            existing = {r.id: r for r in await conn.execute(select(t.owners).where(t.owners.c.id.in_(ids)))}
            taken = {r.name: r.id for r in await conn.execute(select(t.owners.c.name, t.owners.c.id).where(
                t.owners.c.name.in_([u.username for u in live])))}
            fresh = []
            for u in live:
                oid = owner_id(ctx, u.id)
                name = u.username if taken.get(u.username, oid) == oid else f"{u.username} ({ctx.tag}#{u.id})"
                note = (f"Imported from {ctx.source_name} users.id={u.id} ({ROLE_NAMES.get(u.role, u.role)}, "
                        f"{u.state}" + (f", display name {u.display_name}" if u.display_name and
                                        u.display_name != u.username else "") + ")")
                values = {"name": name[:128], "email": u.email or None, "note": note}
                group = ctx.group(u.group) or u.group
                ctx.owners[u.id] = (oid, group, u.status)
                row = existing.get(oid)
                if row is None:
                    ctx.changes.created("owners", name, {"group": group})
                    fresh.append({"id": oid, "kind": "person", "created_at": ctx.now_ms, "updated_at": ctx.now_ms,
                                  **values})
                    continue
                changed = diff(row, values, OWNER_FIELDS)
                if not changed:
                    ctx.changes.same("owners")
                    continue
                ctx.changes.updated("owners", name, changed)
                if ctx.apply:
                    await conn.execute(t.owners.update().where(t.owners.c.id == oid).values(
                        **values, updated_at=ctx.now_ms))
            if fresh and ctx.apply:
                await bulk_insert(conn, "owners", fresh)
                await refresh_stats(ctx, conn, "owners", len(ctx.owners))
        ctx.progress.advance(len(chunk))
    ctx.progress.finish()
    return {"owners": len(ctx.owners), "skipped": skipped}


def _request_id(ctx: Ctx, user_id: int, seq: int) -> str:
    return f"imp:{ctx.tag}:u{user_id}" + (f":{seq}" if seq else "")


async def balances(ctx: Ctx) -> dict[str, Any]:
    """Each owner's balance = the sum of its import entries = the source quota, converted exactly."""
    ctx.progress.start("balances", len(ctx.owners))
    total = count = negative = 0
    entries = 0
    async for chunk in ctx.source.chunks("users", size=CHUNK):
        users = [u for u in (User.from_row(r, ctx.system) for r in chunk) if not u.deleted]
        ids = [owner_id(ctx, u.id) for u in users]
        L = t.ledger_entries
        async with ctx.engine.begin() as conn:
            have = {r[0]: (int(r[1] or 0), int(r[2])) for r in await conn.execute(
                select(L.c.owner_id, wide_sum(L.c.amount), func.count()).where(
                    L.c.kind == "import", L.c.owner_id.in_(ids), L.c.request_id.like(f"imp:{ctx.tag}:u%"))
                .group_by(L.c.owner_id))}
            rows = []
            for u in users:
                oid = owner_id(ctx, u.id)
                want = ctx.units.nanos(u.quota)  # exact at any size: no cap
                total += want
                count += 1
                negative += u.quota < 0
                done, seq = have.get(oid, (0, 0))
                if seq and done == want:
                    ctx.changes.same("balances")
                    continue
                delta = want - done
                ref = f"{ctx.system} users.id={u.id} quota={u.quota} QuotaPerUnit={ctx.units.quota_per_unit}"
                reason = (f"Balance imported from {ctx.source_name} ({u.quota} quota units)" if not seq else
                          f"Balance re-imported from {ctx.source_name}: now {u.quota} quota units "
                          f"({amount(ctx, want)}), {amount(ctx, done)} imported before")
                if seq:
                    ctx.changes.updated("balances", u.username, {"balance": (amount(ctx, done), amount(ctx, want))})
                else:
                    ctx.changes.created("balances", u.username, {"balance": amount(ctx, want)})
                rows.append({"owner_id": oid, "key_id": None, "kind": "import", "amount": delta, "held": 0,
                             "request_id": _request_id(ctx, u.id, seq), "model": None, "reason": reason,
                             "actor": "relaygate migrate import", "ref": ref[:255], "created_at": ctx.now_ms})
            if rows and ctx.apply:
                entries += await _record(conn, rows, have)
                await refresh_stats(ctx, conn, "ledger_entries", entries)
        ctx.progress.advance(len(users))
    ctx.progress.finish()
    ctx.facts["balances"] = {"owners": count, "total": amount(ctx, total), "negative_owners": negative,
                             "entries_written": entries}
    return {"owners": count, "entries": entries}


async def _record(conn: Any, rows: list[dict[str, Any]], have: dict[str, tuple[int, int]]) -> int:
    """Write import entries with their balance effect. An owner with no entry and no balance yet (most
    of a first import) gets its entry and balance row in two bulk inserts; the others go through
    ledger_repo.append_entries, which de-duplicates and moves existing balances."""
    ids = [r["owner_id"] for r in rows if r["owner_id"] not in have]
    with_balance = {r[0] for r in await conn.execute(
        select(t.balances.c.owner_id).where(t.balances.c.owner_id.in_(ids)))} if ids else set()
    fresh = [r for r in rows if r["owner_id"] not in have and r["owner_id"] not in with_balance]
    rest = [r for r in rows if r["owner_id"] in have or r["owner_id"] in with_balance]
    if fresh:
        await bulk_insert(conn, "ledger_entries", fresh)
        await bulk_insert(conn, "balances", [{"owner_id": r["owner_id"], "balance": r["amount"], "held": 0,
                                              "updated_at": r["created_at"]} for r in fresh])
    return len(fresh) + len(await append_entries(conn, rest))


def key_values(ctx: Ctx, tok: Token, user: tuple[str, str, int]) -> tuple[dict[str, Any] | None, str]:
    """The api_keys row a source token becomes, or None (and why) when it is not imported."""
    state = token_state(tok, _user_stub(tok, user), ctx.now_ms // 1000, ctx.source_name)
    if state.via == "skip":
        return None, state.reason
    oid, user_group, _ = user
    group = user_group
    if tok.group and tok.group != "auto":
        group = ctx.group(tok.group) or user_group
    models = tok.models
    if models is not None:
        names = {m for m in models} | {ctx.renames.get(m, m) for m in models}
        models = sorted(names) if names else [NO_MODELS]
    nets = tok.networks.allowed
    if nets is not None and not nets:  # every entry unusable: the source admitted nobody, so must we
        nets = list(tok.networks.ignored)
    cap = None if tok.unlimited else min(max(ctx.units.nanos(tok.remain_quota), 0), LARGEST)
    enabled = state.via != "disable"
    values = {
        "masked": mask_key(tok.key), "name": (tok.name or f"token #{tok.id}")[:128], "owner_id": oid,
        "group_name": group, "enabled": enabled, "disabled_reason": None if enabled else state.reason[:255],
        "expires_at": None if tok.expired_time == -1 else tok.expired_time * 1000,
        "allowed_models": models, "allowed_networks": nets, "source": ctx.system,
        "cap_total": 0 if state.via == "cap" else cap,
    }
    return values, state.state


def _user_stub(tok: Token, user: tuple[str, str, int]) -> User:
    return User(tok.user_id, user[0], "", 1, user[2], "", user[1], 0, 0, 0, "", False)


async def keys(ctx: Ctx) -> dict[str, Any]:
    """Every source token with the same secret (its hash), limits, expiry, quota (as a cap) and group."""
    ctx.progress.start("keys", await ctx.source.count("tokens"))
    imported = 0
    async for chunk in ctx.source.chunks("tokens", size=CHUNK):
        toks = [Token.from_row(r, ctx.system) for r in chunk]
        wanted: dict[str, tuple[Token, dict[str, Any]]] = {}
        for tok in toks:
            label = f"{mask_key(tok.key)} {tok.name}"
            user = ctx.owners.get(tok.user_id)
            if not tok.key:
                ctx.changes.skipped("keys", label, "empty key")
                continue
            if user is None:
                why = "soft-deleted" if tok.deleted else f"its user {tok.user_id} is deleted or missing"
                ctx.changes.skipped("keys", label, why)
                continue
            values, why = key_values(ctx, tok, user)
            if values is None:
                ctx.changes.skipped("keys", label, why)
                continue
            hashed = hash_secret(tok.key)
            if hashed in wanted:
                ctx.changes.skipped("keys", label, "same key as another token in this chunk")
                continue
            wanted[hashed] = (tok, values)
        async with ctx.engine.begin() as conn:
            existing = {r.key_hash: r for r in await conn.execute(select(t.api_keys).where(
                t.api_keys.c.key_hash.in_(list(wanted))))}
            fresh = []
            for hashed, (tok, values) in wanted.items():
                label = f"{values['masked']} {tok.name}"
                row = existing.get(hashed)
                if row is None:
                    ctx.changes.created("keys", label, {"owner": values["owner_id"], "group": values["group_name"]})
                    fresh.append({"id": key_id_for(hashed), "key_hash": hashed, "environment": ctx.plan.get(
                        "policy", {}).get("environment", "production"), "cap_daily": None, "cap_monthly": None,
                        "rpm": None, "tpm": None, "concurrency": None, "created_at": ctx.now_ms,
                        "updated_at": ctx.now_ms, **values})
                    continue
                if row.source not in ("oneapi", "newapi"):
                    ctx.changes.skipped("keys", label, f"already in relaygate as a {row.source} key ({row.id})")
                    continue
                changed = diff(row, values, KEY_FIELDS)
                if not changed:
                    ctx.changes.same("keys")
                    continue
                ctx.changes.updated("keys", label, changed)
                if ctx.apply:
                    await conn.execute(t.api_keys.update().where(t.api_keys.c.id == row.id).values(
                        **values, updated_at=ctx.now_ms))
            if fresh and ctx.apply:
                await bulk_insert(conn, "api_keys", fresh)
            imported += len(wanted)
            await refresh_stats(ctx, conn, "api_keys", imported)
        ctx.progress.advance(len(chunk))
    ctx.progress.finish()
    return {"keys": imported}


async def admin_tokens(ctx: Ctx) -> dict[str, Any]:
    """Access tokens of enabled admin and root users become relaygate admin tokens (same secret)."""
    policy = ctx.plan.get("policy", {}).get("admin_tokens", {})
    if not policy.get("import", True):
        return {"admin_tokens": 0}
    min_role = int(policy.get("min_role", 10))
    users = ctx.source.table("users")
    assert users is not None
    count = 0
    async for chunk in ctx.source.chunks("users", users.c.role >= min_role, size=CHUNK):
        for u in (User.from_row(r, ctx.system) for r in chunk):
            label = f"{u.username} ({ROLE_NAMES.get(u.role, u.role)})"
            if not u.access_token:
                continue
            if u.deleted or u.status != 1:
                ctx.changes.skipped("admin tokens", label, f"user is {u.state} in {ctx.source_name}")
                continue
            tid = f"adm_{ctx.tag}_{u.id}"
            values = {"name": f"{u.username}: access token imported from {ctx.source_name} users.id={u.id}"[:128],
                      "token_hash": hash_secret(u.access_token)}
            async with ctx.engine.begin() as conn:
                row = (await conn.execute(select(t.admin_tokens).where(t.admin_tokens.c.id == tid))).first()
                if row is None:
                    ctx.changes.created("admin tokens", label)
                    if ctx.apply:
                        await conn.execute(t.admin_tokens.insert().values(id=tid, created_at=ctx.now_ms, **values))
                elif diff(row, values, ("name", "token_hash")):
                    ctx.changes.updated("admin tokens", label, diff(row, values, ("name", "token_hash")))
                    if ctx.apply:
                        await conn.execute(t.admin_tokens.update().where(t.admin_tokens.c.id == tid).values(**values))
                else:
                    ctx.changes.same("admin tokens")
            count += 1
    from relaygate.services.migration.inventory import SIDE_TABLES

    ctx.facts["side_tables"] = {n: await ctx.source.count(n) for n in SIDE_TABLES if ctx.source.table(n) is not None}
    return {"admin_tokens": count}
