"""Import steps that carry the old system's behaviour: per-key rules (groups, pins, statuses) and
redemption codes.

Rules are worked out here, once, from the source's options and each token's user (New API's
``UserUsableGroups`` + ``group_ratio_setting.group_special_usable_group`` + the user's own group,
``GroupRatio`` and ``AutoGroups``; the user's role for ``sk-<key>-<channel id>``), and the request
path only reads them from the snapshot (core/compat.py).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from relaygate.core.clock import now_ms
from relaygate.core.compat import STATUS_MODES, KeyRules
from relaygate.core.keys import hash_secret, key_id_for, mask_secret
from relaygate.services.migration.context import CHUNK, Ctx, amount
from relaygate.services.migration.import_accounts import key_values
from relaygate.services.migration.parse import integer, text
from relaygate.services.migration.records import Token, User
from relaygate.store import tables as t

NA_USABLE_GROUPS = {"default": "默认分组", "vip": "vip分组"}  # New API setting/user_usable_group.go
NA_AUTO_GROUPS = ["default"]  # New API setting/auto_group.go


def _json(raw: str | None, fallback: Any) -> Any:
    if raw is None or not str(raw).strip():
        return fallback
    try:
        return json.loads(raw)
    except ValueError:
        return fallback


class GroupRules:
    """New API's token-group rules from the source's options (absent options: New API's defaults)."""

    def __init__(self, options: dict[str, str], ratio_groups: set[str]) -> None:
        usable = _json(options.get("UserUsableGroups"), NA_USABLE_GROUPS)
        self.usable = {str(k) for k in usable} if isinstance(usable, dict) else set(NA_USABLE_GROUPS)
        special = _json(options.get("group_ratio_setting.group_special_usable_group"), {})
        self.special = special if isinstance(special, dict) else {}
        auto = _json(options.get("AutoGroups"), NA_AUTO_GROUPS)
        self.auto = [str(g) for g in auto] if isinstance(auto, list) else list(NA_AUTO_GROUPS)
        self.ratio_groups = ratio_groups

    def usable_for(self, user_group: str) -> set[str]:
        groups = set(self.usable) | {user_group}
        rules = self.special.get(user_group)
        if isinstance(rules, dict):
            for name in rules:
                name = str(name)
                if name.startswith("-:"):
                    groups.discard(name[2:])
                elif name.startswith("+:"):
                    groups.add(name[2:])
                else:
                    groups.add(name)
        return groups

    def auto_for(self, user_group: str) -> list[str]:
        usable = self.usable_for(user_group)
        return [g for g in self.auto if g in usable]


def token_rules(ctx: Ctx, tok: Token, user: User, groups: GroupRules | None, statuses: str) -> KeyRules:
    refuse = auto = None
    if ctx.system == "newapi" and groups is not None and tok.group:
        if tok.group == "auto":
            auto = tuple(dict.fromkeys(ctx.group(g) or g for g in groups.auto_for(user.group)))
        elif tok.group not in groups.usable_for(user.group):
            refuse = ("group_not_allowed", tok.group)
        elif tok.group not in groups.ratio_groups:
            refuse = ("group_deprecated", tok.group)
    return KeyRules(system=ctx.system, statuses=statuses, refuse=refuse, auto_groups=auto,
                    pin="admin" if user.role >= 10 else "refuse", owner_disabled=user.status != 1)


def statuses_mode(ctx: Ctx) -> str:
    mode = str(ctx.plan.get("policy", {}).get("statuses") or "source")
    return mode if mode in STATUS_MODES else "source"


async def key_rules(ctx: Ctx) -> dict[str, Any]:
    """One key_rules row per imported key: what its old system refused and with which status."""
    users: dict[int, User] = {}
    async for chunk in ctx.source.chunks("users", size=CHUNK):
        for u in (User.from_row(r, ctx.system) for r in chunk):
            if u.id in ctx.owners:
                users[u.id] = u
    groups = GroupRules(ctx.survey.options, set(ctx.survey.ratios.group)) if ctx.system == "newapi" else None
    mode = statuses_mode(ctx)
    written = refused = auto = 0
    async for chunk in ctx.source.chunks("tokens", size=CHUNK):
        wanted: dict[str, dict[str, Any]] = {}
        for tok in (Token.from_row(r, ctx.system) for r in chunk):
            user, owner = users.get(tok.user_id), ctx.owners.get(tok.user_id)
            if not tok.key or user is None or owner is None or key_values(ctx, tok, owner)[0] is None:
                continue
            rules = token_rules(ctx, tok, user, groups, mode)
            refused += rules.refuse is not None
            auto += rules.auto_groups is not None
            wanted[key_id_for(hash_secret(tok.key))] = rules.to_json()
        if not wanted:
            continue
        async with ctx.engine.begin() as conn:
            keys = {r[0]: r[1] for r in await conn.execute(select(t.api_keys.c.id, t.api_keys.c.source).where(
                t.api_keys.c.id.in_(list(wanted))))}
            have = {r.key_id: r.rules for r in await conn.execute(select(t.key_rules).where(
                t.key_rules.c.key_id.in_(list(wanted))))}
            for kid, rules_json in wanted.items():
                if kid in keys and keys[kid] not in ("oneapi", "newapi"):
                    continue  # a native relaygate key with the same secret: not ours to change
                if kid in have and have[kid] == rules_json:
                    ctx.changes.same("key rules")
                    continue
                (ctx.changes.updated("key rules", kid, {"rules": (have[kid], rules_json)}) if kid in have
                 else ctx.changes.created("key rules", kid, rules_json))
                written += 1
                if not ctx.apply:
                    continue
                if kid in have:
                    await conn.execute(t.key_rules.update().where(t.key_rules.c.key_id == kid).values(
                        rules=rules_json, updated_at=ctx.now_ms))
                else:
                    await conn.execute(t.key_rules.insert().values(key_id=kid, rules=rules_json,
                                                                   updated_at=ctx.now_ms))
    ctx.facts["key_rules"] = {"statuses": mode, "refused_groups": refused, "auto_groups": auto}
    return {"key_rules": written, "refused_groups": refused, "auto": auto}


REDEMPTION_STATUS = {1: "unused", 2: "disabled", 3: "used"}


async def redemptions(ctx: Ctx) -> dict[str, Any]:
    """Redemption codes: unused ones stay redeemable with the same code (stored hashed), used ones as history."""
    if ctx.source.table("redemptions") is None:
        return {"redemption_codes": 0}
    counts = {"unused": 0, "used": 0, "disabled": 0, "skipped": 0}
    async for chunk in ctx.source.chunks("redemptions", size=CHUNK):
        rows: list[dict[str, Any]] = []
        for r in chunk:
            code = text(r.get("key")).strip()
            sid = integer(r.get("id"))
            label = f"#{sid} {text(r.get('name'))}".strip()
            deleted = r.get("deleted_at") is not None and text(r.get("deleted_at")).strip() != ""
            if not code or deleted:
                counts["skipped"] += 1
                ctx.changes.skipped("redemption codes", label, "soft-deleted" if deleted else "empty code")
                continue
            status = REDEMPTION_STATUS.get(integer(r.get("status"), 1), "disabled")
            expires = integer(r.get("expired_time"), 0)
            used_by = integer(r.get("used_user_id"), 0)
            redeemed = integer(r.get("redeemed_time"), 0)
            quota = integer(r.get("quota"), 0)
            counts[status] += 1
            rows.append({
                "id": f"{ctx.tag}_{sid}", "code_hash": hash_secret(code), "masked": mask_secret(code),
                "name": (text(r.get("name")) or f"code #{sid}")[:128], "amount": ctx.units.nanos(quota),
                "status": status, "expires_at": expires * 1000 if expires > 0 else None,
                "redeemed_at": redeemed * 1000 if redeemed > 0 and status == "used" else None,
                "redeemed_by": ctx.owners[used_by][0] if used_by in ctx.owners else None,
                "source": ctx.system,
                "ref": f"{ctx.system} redemptions.id={sid} quota={quota} QuotaPerUnit={ctx.units.quota_per_unit}",
            })
        async with ctx.engine.begin() as conn:
            have = {r.id: r for r in await conn.execute(select(t.redemption_codes).where(
                t.redemption_codes.c.id.in_([x["id"] for x in rows])))} if rows else {}
            for row in rows:
                label = f"{row['masked']} {row['name']} ({amount(ctx, row['amount'])}, {row['status']})"
                cur = have.get(row["id"])
                if cur is None:
                    ctx.changes.created("redemption codes", label)
                    if ctx.apply:
                        await conn.execute(t.redemption_codes.insert().values(
                            **row, created_at=ctx.now_ms, updated_at=ctx.now_ms))
                    continue
                if cur.status == "used" and row["status"] != "used":
                    ctx.changes.skipped("redemption codes", label, "already redeemed in relaygate")
                    continue
                fields = ("code_hash", "name", "amount", "status", "expires_at", "redeemed_at", "redeemed_by")
                changed = {f: (getattr(cur, f), row[f]) for f in fields if getattr(cur, f) != row[f]}
                if not changed:
                    ctx.changes.same("redemption codes")
                    continue
                ctx.changes.updated("redemption codes", label,
                                    {k: v for k, v in changed.items() if k != "code_hash"})
                if ctx.apply:
                    await conn.execute(t.redemption_codes.update().where(t.redemption_codes.c.id == row["id"])
                                       .values(**row, updated_at=ctx.now_ms))
    ctx.facts["redemptions"] = counts
    return {"redemption_codes": counts["unused"] + counts["used"] + counts["disabled"], **counts}


async def set_statuses(engine: Any, mode: str) -> int:
    """Switch every imported key's refusals to the old system's statuses (``source``) or relaygate's."""
    from relaygate.core.compat import check_status_mode
    from relaygate.store.db import bump_config_version

    check_status_mode(mode)
    changed = 0
    async with engine.begin() as conn:
        for row in list(await conn.execute(select(t.key_rules))):
            rules = dict(row.rules or {})
            if rules.get("statuses") == mode:
                continue
            rules["statuses"] = mode
            await conn.execute(t.key_rules.update().where(t.key_rules.c.key_id == row.key_id).values(
                rules=rules, updated_at=now_ms()))
            changed += 1
        if changed:
            await bump_config_version(conn)
    return changed
