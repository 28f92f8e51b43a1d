"""Routing configuration as one reviewable YAML document: export, diff and apply.

The document holds groups, models and channels. Caller keys are never in it, and channel secrets
are exported masked only: on apply, a channel without ``secrets`` keeps the ones it has, and
``${ENV_NAME}`` inside a secret is read from the environment, so the file can live in git.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import now_ms
from relaygate.core.errors import InvalidInput
from relaygate.core.keys import mask_secret
from relaygate.services.operate.accounts import AccountsAdmin
from relaygate.services.operate.routing import RoutingAdmin, check_capabilities, normalize_channel
from relaygate.store import tables as t
from relaygate.store.db import bump_config_version

FORMAT_VERSION = 1
_CHANNEL_KEYS = ("protocol", "base_url", "models", "groups", "priority", "weight", "enabled",
                 "disabled_reason", "connect_timeout", "first_byte_timeout", "total_timeout", "options")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class ApplyReport:
    changes: list[str] = field(default_factory=list)
    applied: bool = False

    def add(self, line: str) -> None:
        self.changes.append(line)


async def export_config(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as conn:
        groups = (await conn.execute(select(t.groups).order_by(t.groups.c.name))).all()
        models = (await conn.execute(select(t.models).order_by(t.models.c.name))).all()
        channels = (await conn.execute(select(t.channels).order_by(t.channels.c.name))).all()
    return {
        "version": FORMAT_VERSION,
        "groups": [{"name": g.name, "description": g.description, "models": g.models} for g in groups],
        "models": [{"name": m.name, "aliases": m.aliases or [], "status": m.status,
                    "replacement": m.replacement, "description": m.description,
                    **({"capabilities": m.capabilities} if m.capabilities else {})} for m in models],
        "channels": [{"name": c.name, **{k: getattr(c, k) for k in _CHANNEL_KEYS},
                      "secrets_masked": [mask_secret(s) for s in c.secrets or []]} for c in channels],
    }


def dump_yaml(doc: dict[str, Any]) -> str:
    header = ("# relaygate routing configuration. Caller keys are never exported; channel secrets are\n"
              "# shown masked only. To set secrets, add `secrets: [\"${ENV_VAR}\"]` to a channel.\n")
    return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def _secrets(raw: Any, channel: str) -> list[str]:
    values = raw if isinstance(raw, list) else [raw]
    out = []
    for value in values:
        def env(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise InvalidInput(f"Channel '{channel}' needs environment variable {name}, which is not set.",
                                   f"渠道 '{channel}' 需要环境变量 {name}，但它未设置。")
            return os.environ[name]
        out.append(_ENV.sub(env, str(value)))
    return out


def parse_document(text: str) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"The configuration is not valid YAML: {exc}", f"配置不是合法的 YAML：{exc}") from exc
    if not isinstance(doc, dict) or doc.get("version") != FORMAT_VERSION:
        raise InvalidInput(f"The configuration must be a mapping with 'version: {FORMAT_VERSION}'.",
                           f"配置必须是包含 'version: {FORMAT_VERSION}' 的映射。")
    return doc


async def apply_config(engine: AsyncEngine, protocols: list[str], doc: dict[str, Any], *,
                       dry_run: bool = False, prune: bool = False) -> ApplyReport:
    """Bring groups, models and channels to what ``doc`` says, in one transaction."""
    report = ApplyReport()
    async with engine.begin() as conn:
        groups = {g.name: g for g in await conn.execute(select(t.groups))}
        for g in doc.get("groups") or []:
            name = g["name"]
            old = groups.pop(name, None)
            models = g.get("models")
            if old is None or old.models != (sorted(set(models)) if models is not None else None) \
                    or old.description != g.get("description"):
                report.add(f"{'update' if old else 'create'} group {name}")
                await AccountsAdmin._upsert_group(conn, name, models, g.get("description"))
        existing_models = {m.name: m for m in await conn.execute(select(t.models))}
        for m in doc.get("models") or []:
            old = existing_models.pop(m["name"], None)
            fields = (sorted(set(m.get("aliases") or [])), m.get("status", "active"), m.get("replacement"),
                      m.get("description"))
            caps = check_capabilities(m.get("capabilities"))
            if old is None or (old.aliases or [], old.status, old.replacement, old.description) != fields or (
                    caps is not None and caps != (old.capabilities or {})):
                report.add(f"{'update' if old else 'create'} model {m['name']}")
                await RoutingAdmin._upsert_model(conn, m["name"], *fields, capabilities=caps)
        channels = {c.name: c for c in await conn.execute(select(t.channels))}
        for c in doc.get("channels") or []:
            name = c["name"]
            old = channels.pop(name, None)
            values = {k: c[k] for k in _CHANNEL_KEYS if k in c}
            if "secrets" in c:
                values["secrets"] = _secrets(c["secrets"], name)
            elif old is None:
                raise InvalidInput(f"New channel '{name}' needs 'secrets' (for example [\"${{{_env_name(name)}}}\"]).",
                                   f"新渠道 '{name}' 需要 'secrets'（例如 [\"${{{_env_name(name)}}}\"]）。")
            data = normalize_channel({"name": name, **values}, protocols, partial=old is not None)
            if old is None:
                report.add(f"create channel {name}")
                await RoutingAdmin._insert_channel(conn, data)
                continue
            changed = sorted(k for k, v in data.items() if k != "name" and getattr(old, k) != v)
            if changed:
                report.add(f"update channel {name}: {', '.join(changed)}")
                await conn.execute(t.channels.update().where(t.channels.c.id == old.id)
                                   .values(**data, updated_at=now_ms()))
        if prune:
            for name in channels:
                report.add(f"delete channel {name}")
                await conn.execute(delete(t.channels).where(t.channels.c.name == name))
            for name in existing_models:
                report.add(f"delete model {name}")
                await conn.execute(delete(t.models).where(t.models.c.name == name))
        if dry_run or not report.changes:
            await conn.rollback()
            return report
        await bump_config_version(conn)
    report.applied = True
    return report


def _env_name(channel: str) -> str:
    return "RELAYGATE_SECRET_" + re.sub(r"[^A-Za-z0-9]", "_", channel).upper()
