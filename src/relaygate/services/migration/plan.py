"""`migrate plan`: the reviewable YAML plan (mapping table, channel types, groups, units) and its checks."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from relaygate.core.errors import InvalidInput
from relaygate.services.migration.channel_types import OPENAI, target_base_url, type_info
from relaygate.services.migration.dsn import plan_dsn
from relaygate.services.migration.logs import last_channel_failures
from relaygate.services.migration.mapping import mapping_table
from relaygate.services.migration.pricing import show_ratio
from relaygate.services.migration.records import CHANNEL_STATUS, Channel, when
from relaygate.services.migration.source import NAMES, Source
from relaygate.services.migration.survey import Survey, take_survey
from relaygate.services.migration.units import Units

PLAN_VERSION = 1
MISSING_BASE = "http://missing-base-url.invalid"
INT32 = 2**31 - 1


def default_tag(kind: str) -> str:
    return "oa" if kind == "oneapi" else "na"


def channel_decision(ch: Channel, kind: str, protocols: list[str], failure: str | None) -> dict[str, Any]:
    """How one source channel becomes a relaygate channel (the plan's row, editable)."""
    info = type_info(kind, ch.type)
    source = NAMES[kind]
    version = str(ch.config.get("api_version") or "") or ch.other  # One API: config first, then legacy 'other'
    base, notes = target_base_url(kind, ch.type, ch.base_url, version)
    notes = [*notes, *ch.secret_notes]
    options: dict[str, Any] = {}
    models = {m: ch.upstream(m, kind) for m in ch.models}
    if info.protocol == "azure":
        options["api_version"] = version or None
        if not version:
            notes.append("no api-version on the channel: relaygate's default applies")
        deployments = {m: up.replace(".", "") for m, up in models.items()}
        if deployments != models:
            notes.append("deployment names without dots, as the source sent them (gpt-3.5-turbo → gpt-35-turbo)")
        models = deployments
    vertex_reasons: list[str] = []
    if info.protocol == "vertex":
        from relaygate.services.migration.vertex_plan import vertex_channel

        base, extra, vertex_notes, vertex_reasons, models = vertex_channel(kind, ch, base, models)
        options.update(extra)
        notes.extend(vertex_notes)
    reasons: list[str] = []  # why it is disabled, the source's own reason first
    if ch.status == 2:
        reasons.append(f"disabled by hand in {source}")
    elif ch.status == 3:
        why = ch.status_reason or failure
        reasons.append(f"auto-disabled by {source}" + (f": {why}" if why else " (its reason is not in the database)"))
    elif ch.status != 1:
        reasons.append(f"status {ch.status} ({CHANNEL_STATUS.get(ch.status, 'unknown')}) in {source}: never selected")
    protocol = info.protocol
    if protocol != OPENAI and protocol not in protocols:
        reasons.append(f"needs the '{protocol}' adapter, which this relaygate does not have yet")
        protocol = OPENAI
        if info.alternative:
            notes.append("the same key also works OpenAI-style at "
                         + info.alternative.replace("{base}", base or info.default_base)
                         + " (set protocol openai, that base_url and enabled: true to use it now)")
    reasons.extend(vertex_reasons)
    if ch.mapping_problem:
        if kind == "newapi":
            reasons.append("invalid model_mapping JSON: New API failed every request on this channel")
        else:
            notes.append("invalid model_mapping JSON: One API ignored it, so models are sent unmapped")
    if not base:
        reasons.append("no base URL in the source and no default for its type")
        base = MISSING_BASE
    for missing, why in ((ch.secrets, "no upstream key in the source"), (ch.models, "serves no model in the source"),
                         (ch.groups, "serves no group in the source")):
        if not missing:
            reasons.append(why)
    enabled, reason = not reasons, reasons[0] if reasons else None
    notes.extend(f"also: {r}" for r in reasons[1:])
    if ch.system_prompt:
        notes.append("forced a system prompt in the source; relaygate does not inject one (kept in options)")
    if info.note:
        notes.append(info.note)
    if kind == "oneapi" and ch.weight:
        notes.append(f"weight {ch.weight} ignored: One API picked uniformly inside a priority, so all weights are 1")
    return {
        "id": ch.id, "name": ch.name, "type": ch.type, "type_name": info.name,
        "source_status": CHANNEL_STATUS.get(ch.status, str(ch.status)), "target_name": ch.name,
        "protocol": protocol, "base_url": base, "enabled": enabled, "disabled_reason": None if enabled else reason,
        "priority": max(-INT32, min(INT32, ch.priority)), "weight": 1 if kind == "oneapi" else min(ch.weight, INT32),
        "groups": ch.groups, "models": models, **({"options": options} if options else {}), "notes": notes,
        "import": True,
    }


def _unique_names(rows: list[dict[str, Any]]) -> None:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["name"].lower()] = counts.get(row["name"].lower(), 0) + 1
    for row in rows:
        if not row["name"] or counts[row["name"].lower()] > 1:
            row["target_name"] = f"{row['name'] or 'channel'} #{row['id']}"


async def build_plan(source: Source, units: Units, protocols: list[str], tag: str | None = None,
                     survey: Survey | None = None) -> dict[str, Any]:
    survey = survey or await take_survey(source)
    tag = tag or default_tag(source.kind)
    failures = await last_channel_failures(source)
    channels = [channel_decision(ch, source.kind, protocols, failures.get(ch.id)) for ch in survey.channels]
    _unique_names(channels)
    types: dict[int, dict[str, Any]] = {}
    for ch in survey.channels:
        info = type_info(source.kind, ch.type)
        row = types.setdefault(ch.type, {
            "type": ch.type, "name": info.name, "channels": 0, "protocol": info.protocol,
            "relaygate": "openai-compatible" if info.protocol == OPENAI else (
                f"'{info.protocol}' adapter" if info.protocol in protocols
                else f"missing '{info.protocol}' adapter: imported disabled"),
            "base_url_rule": f"base URL + '{info.suffix}'" if info.protocol == OPENAI and info.suffix
            else "base URL as stored" if info.protocol == OPENAI else "n/a"})
        row["channels"] += 1
        if info.alternative:
            row["alternative"] = info.alternative
    groups = [{"source": g.name, "target": g.name, "ratio": g.ratio or "1", "multiplier": g.ratio or "1",
               "users": g.users, "channels": g.channels} for g in sorted(survey.groups.values(), key=lambda g: g.name)]
    if source.kind == "newapi":
        groups.append({"source": "auto", "target": None, "ratio": None, "multiplier": None, "users": 0,
                       "channels": [], "note": "tokens in the 'auto' group go to their owner's group (relaygate "
                                               "has no group fallback); AutoGroups: "
                                               + (survey.options.get("AutoGroups") or "unset")})
    qpu = survey.ratios.quota_per_unit
    return {
        "relaygate_migration_plan": PLAN_VERSION,
        "created_at": when(int(time.time())),
        "source": {"kind": source.kind, "name": source.name, "dsn": plan_dsn(source.dsn),
                   "logs_dsn": plan_dsn(source.logs_dsn) if source.logs_dsn else None, "tag": tag,
                   "evidence": source.evidence},
        "units": {
            "quota_per_unit": show_ratio(qpu), "currency": units.currency, "usd_rate": show_ratio(units.usd_rate),
            "rule": "amount = quota × usd_rate ÷ quota_per_unit, in integer nanos (10⁻⁹ of the currency), "
                    "rounded half away from zero once; prices per 1M tokens = ratio × 1,000,000 ÷ quota_per_unit "
                    "× usd_rate (output: × completion ratio); New API ModelPrice (USD per call) × usd_rate",
            "examples": [{"quota": q, "amount": Units(qpu, units.usd_rate, units.currency).amount_text(
                Units(qpu, units.usd_rate, units.currency).nanos(q))} for q in (500_000, 1, -250_001)],
        },
        "policy": {"skip_deleted_users": True, "environment": "production",
                   "admin_tokens": {"import": True, "min_role": 10},
                   # refusals to imported keys carry the old system's HTTP status (source) or relaygate's
                   # (relaygate); the code and message are relaygate's either way (docs/migration.md)
                   "statuses": "source",
                   "weights": "equal (One API ignored weight)" if source.kind == "oneapi" else "as in New API"},
        "channel_types": [types[t] for t in sorted(types)],
        "groups": groups,
        "channels": channels,
        "models": mapping_table(survey, Units(qpu, units.usd_rate, units.currency), protocols),
        "verification": {"result": "not run"},
        "notes": survey.problems,
    }


def dump_plan(plan: dict[str, Any]) -> str:
    header = ("# relaygate migration plan. Review and edit, then: relaygate migrate import --plan THIS_FILE\n"
              "# models[].class: same | substitute | downgrade | unsupported; new_name renames (the old name stays\n"
              "# an alias); replacement: what callers of an unsupported model are told to use; price: per 1M tokens\n"
              "# in the target currency; media_price (image, audio, video models): unit (image, second, mchars =\n"
              "# 1M characters, mtokens = 1M output tokens of a transcript, call), amounts per variant (size,\n"
              "# size/hd, or *) and basis (how the source charged it).\n"
              "# channels[]: target_name, protocol, base_url, enabled, import are yours.\n")
    return header + yaml.safe_dump(plan, sort_keys=False, allow_unicode=True, width=110)


def load_plan(path: str | Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"Cannot read the plan {path}: {exc}", f"无法读取迁移计划 {path}：{exc}") from exc
    if not isinstance(doc, dict) or doc.get("relaygate_migration_plan") != PLAN_VERSION:
        raise InvalidInput(f"{path} is not a relaygate migration plan (run relaygate migrate plan first).",
                           f"{path} 不是 relaygate 迁移计划（请先运行 relaygate migrate plan）。")
    for section in ("source", "units", "groups", "channels", "models"):
        if section not in doc:
            raise InvalidInput(f"The plan {path} has no '{section}' section.",
                               f"迁移计划 {path} 缺少 '{section}' 部分。")
    for entry in doc["models"]:
        if entry.get("class") not in ("same", "substitute", "downgrade", "unsupported"):
            raise InvalidInput(f"Model '{entry.get('old_name')}': class must be same, substitute, downgrade or "
                               f"unsupported (found {entry.get('class')!r}).",
                               f"模型 '{entry.get('old_name')}'：class 必须是 same、substitute、downgrade 或 "
                               "unsupported。")
    return doc


def save_plan(plan: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(dump_plan(plan), encoding="utf-8")
