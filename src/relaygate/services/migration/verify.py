"""`migrate verify`: minimal probes per mapped model through a running relaygate, results into the plan.

Probes per model: a normal call, a stream, a call by an owner with no balance (402), two calls on a
key whose group allows one request a minute (429), and a model that does not exist (404). The
owners, keys and group it needs are created through the admin API and removed afterwards; their
small top-up and what the probes cost stay in the ledger as 'migration verification'.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import aiohttp
import orjson

from relaygate.core.errors import InvalidInput
from relaygate.services.migration.progress import NULL, Progress
from relaygate.services.migration.records import when
from relaygate.services.migration.verify_session import PROBES, Probe, Session, call, error_code, expect, probe_request

TOPUP = "5"


async def probe_model(s: Session, entry: dict[str, Any], group: str) -> dict[str, Probe]:
    name = str(entry.get("new_name") or entry["old_name"])
    tasks = list(entry.get("tasks") or ["chat"])
    out = {p: Probe("n/a") for p in PROBES}
    if entry.get("media_price") is not None and entry.get("class") != "unsupported":
        from relaygate.services.migration.verify_media import probe_media

        return await probe_media(s, entry, name, group, out, expected_refusal(entry, s.plan))
    if entry.get("class") == "unsupported":
        status, raw, _ = await call(s, await s.key("paid", group), *probe_request(str(entry["old_name"]), tasks))
        code = error_code(raw)
        if entry.get("replacement"):
            out["unavailable"] = expect(status, raw, 404, "model_unsupported", "an unsupported model")
        elif status in (404, 503) and code:
            out["unavailable"] = Probe("pass", status, f"{status} {code}: refused as expected (unsupported)")
        elif status == 400 and code == "media_not_served":  # an image/audio model is never answered on chat
            out["unavailable"] = Probe("pass", status, f"{status} {code}: refused on chat completions as expected "
                                                       f"({', '.join(tasks)} model)")
        elif (status, code) == (403, "model_price_missing") and (priced := price_refusal(entry)) is not None:
            # unpriced as well: the price check comes before routing, and the source refused it too
            out["unavailable"] = Probe("pass", status, f"{status} {code}: refused as expected (unsupported, and "
                                                       f"{priced[2]})")
        else:
            out["unavailable"] = Probe("fail", status, f"an unsupported model answered {status} {code}")
        return out
    path, payload = probe_request(name, tasks)
    refusal = expected_refusal(entry, s.plan)
    status, raw, _ = await call(s, await s.key("paid", group), path, payload)
    # the source refused it too (channels disabled there; unpriced, when this gateway refuses unpriced
    # models): the right refusal is a pass, with its reason, and the paid probes do not apply
    if refusal is not None and (refusal[1] != "model_price_missing" or status != 200):
        want_status, want_code, reason = refusal
        probe = expect(status, raw, want_status, want_code, reason)
        if probe.outcome == "pass":
            probe.detail = f"{status} {want_code}: refused as expected ({reason})"
        out["normal"] = probe
        missing = f"{name}-missing-{s.suffix}"
        status, raw, _ = await call(s, await s.key("paid", group), *probe_request(missing, tasks))
        out["unavailable"] = expect(status, raw, 404, "model_not_found", "a model that does not exist")
        return out
    out["normal"] = Probe("pass", status, "200") if status == 200 and raw.startswith(b"{") else Probe(
        "fail", status, raw[:300].decode(errors="replace"))
    if "embeddings" not in tasks:
        path, payload = probe_request(name, tasks, stream=True)
        status, raw, ctype = await call(s, await s.key("paid", group), path, payload)
        done = status == 200 and "event-stream" in ctype and b"data: [DONE]" in raw
        out["stream"] = Probe("pass" if done else "fail", status, "200 stream ended with [DONE]" if done
                              else raw[:300].decode(errors="replace"))
    free = bool((entry.get("price") or {}).get("free"))
    path, payload = probe_request(name, tasks)
    status, raw, _ = await call(s, await s.key("broke", group), path, payload)
    if free:
        out["insufficient_balance"] = Probe("pass" if status == 200 else "fail", status,
                                            "free model: no balance needed" if status == 200 else
                                            raw[:300].decode(errors="replace"))
    else:
        out["insufficient_balance"] = expect(status, raw, 402, "insufficient_balance", "an owner without balance")
    limited = await s.key("paid", s.groups[0])
    await call(s, limited, path, payload)
    status, raw, _ = await call(s, limited, path, payload)
    out["rate_limit"] = expect(status, raw, 429, "rate_limited", "a second request in a minute with rpm 1")
    missing = f"{name}-missing-{s.suffix}"
    status, raw, _ = await call(s, await s.key("paid", group), *probe_request(missing, tasks))
    out["unavailable"] = expect(status, raw, 404, "model_not_found", "a model that does not exist")
    return out


def expected_refusal(entry: dict[str, Any], plan: dict[str, Any]) -> tuple[int, str, str] | None:
    """(status, code, why) when the model is refused by design: every channel serving it is disabled in
    the plan (as in the source), or it has no price (New API refused unpriced models). None: it must work."""
    wanted = set(entry.get("channels") or [])
    channels = [c for c in plan.get("channels", []) if c.get("id") in wanted and c.get("import", True)]
    if channels and not any(c.get("enabled") for c in channels):
        reasons = sorted({str(c.get("disabled_reason") or "disabled") for c in channels})
        return 503, "no_healthy_channel", "every channel serving it is disabled: " + "; ".join(reasons)[:200]
    return price_refusal(entry)


def price_refusal(entry: dict[str, Any]) -> tuple[int, str, str] | None:
    """(403, model_price_missing, why) when the model has no price, as the source left it (New API refused
    such a model; One API priced every model, at the implicit ratio 30 when nothing else)."""
    from relaygate.services.migration.pricing import price_from_plan

    media = entry.get("media_price")
    if isinstance(media, dict):  # an image, audio or video model: its per-unit price decides
        from relaygate.services.migration.media_prices import plan_rows

        try:
            unit, _ = plan_rows(entry)
        except ValueError:
            unit = None
        if unit is None and media.get("source_refused"):
            return 403, "model_price_missing", "it has no price, and the source refused it too"
        return None
    try:
        price = price_from_plan(entry.get("price") or {})
    except ValueError:
        price = None
    if price is None:
        return 403, "model_price_missing", "it has no price, and the source refused unpriced models too"
    return None


def _groups_of(plan: dict[str, Any], entry: dict[str, Any]) -> str:
    mapping = {str(g.get("source")): g.get("target") for g in plan.get("groups", [])}
    for ch in plan.get("channels", []):
        if ch.get("id") in (entry.get("channels") or []) and ch.get("enabled"):
            for g in ch.get("groups") or []:
                target = mapping.get(str(g), g)
                if target:
                    return str(target)
    return "default"


async def verify(plan: dict[str, Any], gateway: str, admin_token: str, models: list[str] | None = None,
                 progress: Progress = NULL, http_timeout: float = 60.0) -> dict[str, Any]:
    """Probe every mapped model (or ``models``); write the results into ``plan`` and return a summary."""
    root = gateway.rstrip("/")
    root = root[:-3] if root.endswith("/v1") else root
    entries = [m for m in plan["models"] if not models or m["old_name"] in models or m.get("new_name") in models]
    suffix = secrets.token_hex(3)
    results: list[dict[str, Any]] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=http_timeout)) as http:
        s = Session(http, root, {"Authorization": f"Bearer {admin_token}"}, suffix, plan=plan)
        try:
            await s.api("GET", "/api/status")
        except aiohttp.ClientError as exc:
            raise InvalidInput(f"Cannot reach {root}: {exc}", f"无法连接 {root}：{exc}") from exc
        try:
            await _setup(s)
            progress.start("verify", len(entries))
            for entry in entries:
                probes = await probe_model(s, entry, _groups_of(plan, entry))
                results.append(_record(entry, probes, root))
                progress.advance()
            progress.finish()
        finally:
            await _cleanup(s)
        summary = _summarise(plan, results, root)
        # the console's mapping table shows these results: the plan goes to the gateway's database as well
        doc = orjson.loads(orjson.dumps(plan, option=orjson.OPT_NON_STR_KEYS, default=str))
        await s.api("POST", "/api/migration/documents", {"kind": "plan", "body": doc, "by": "migrate verify"})
    return summary


async def _setup(s: Session) -> None:
    for role in ("paid", "broke"):
        view = await s.api("POST", "/api/owners", {"name": f"rg-verify-{s.suffix}-{role}", "kind": "service",
                                                   "note": "temporary: relaygate migrate verify"})
        s.owners[role] = view["id"]
    await s.api("POST", f"/api/balances/{s.owners['paid']}/topup",
                {"amount": TOPUP, "reason": "migration verification probes", "actor": "relaygate migrate verify"})
    group = f"rg-verify-{s.suffix}"
    await s.api("POST", "/api/groups", {"name": group, "models": None,
                                        "description": "temporary: relaygate migrate verify (rpm 1)"})
    s.groups.append(group)
    await s.api("PATCH", f"/api/groups/{group}/terms", {"rpm": 1})


async def _cleanup(s: Session) -> None:
    """Remove what the probes created; money moved stays in the ledger (it is append-only)."""
    for key_id, _ in s.keys.values():
        await s.api("DELETE", f"/api/keys/{key_id}", ok=(204, 404))
    for owner in s.owners.values():
        try:
            view = await s.api("GET", f"/api/balances/{owner}")
            left = str(view.get("balance", "0"))
            if left not in ("0", "0.000000000") and not left.startswith("-"):
                await s.api("POST", f"/api/balances/{owner}/adjust",
                            {"amount": f"-{left}", "reason": "migration verification finished: unused probe credit "
                                                            "returned", "actor": "relaygate migrate verify"})
        finally:
            await s.api("DELETE", f"/api/owners/{owner}", ok=(204, 404, 409))
    for group in s.groups:
        await s.api("DELETE", f"/api/groups/{group}", ok=(204, 404, 409))


def _record(entry: dict[str, Any], probes: dict[str, Probe], root: str) -> dict[str, Any]:
    failed = [f"{name}: {p.detail}" for name, p in probes.items() if p.outcome == "fail"]
    ran = [p for p in probes.values() if p.outcome != "n/a"]
    result = "fail" if failed else "pass" if ran else "skipped"
    entry["verification"] = {"result": result, "checked_at": when(int(time.time())), "gateway": root,
                             "probes": {name: p.as_dict() for name, p in probes.items()},
                             **({"why": "; ".join(failed)} if failed else {})}
    return {"model": entry.get("new_name") or entry["old_name"], "class": entry.get("class"), "result": result,
            "probes": {name: p.as_dict() for name, p in probes.items()}, "why": "; ".join(failed)}


def _summarise(plan: dict[str, Any], results: list[dict[str, Any]], root: str) -> dict[str, Any]:
    passed = [r["model"] for r in results if r["result"] == "pass"]
    failed = [{"model": r["model"], "why": r["why"]} for r in results if r["result"] == "fail"]
    skipped = [r["model"] for r in results if r["result"] == "skipped"]
    text = f"{len(passed)} passed, {len(failed)} failed, {len(skipped)} skipped"
    plan["verification"] = {"result": "pass" if not failed else "fail", "summary": text,
                            "checked_at": when(int(time.time())), "gateway": root, "passed": passed,
                            "failed": failed, "skipped": skipped}
    return {"gateway": root, "summary_text": text, "passed": len(passed), "failed": len(failed),
            "skipped": len(skipped), "models": results}
