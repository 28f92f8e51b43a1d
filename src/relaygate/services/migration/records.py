"""Source rows as plain records, One API and New API semantics applied (soft deletes, lists, real states)."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from relaygate.services.migration.parse import flag, integer, items, json_object, text

ROLE_NAMES = {0: "guest", 1: "common", 10: "admin", 100: "root"}
TOKEN_STATUS = {1: "enabled", 2: "disabled", 3: "expired", 4: "exhausted"}
CHANNEL_STATUS = {0: "unknown", 1: "enabled", 2: "disabled by hand", 3: "auto-disabled"}


def when(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _deleted(row: dict[str, Any]) -> bool:
    """New API soft delete: any non-NULL deleted_at (SQLite stores it as text with a zone offset)."""
    value = row.get("deleted_at")
    return value is not None and text(value).strip() != ""


@dataclass(slots=True)
class User:
    id: int
    username: str
    display_name: str
    role: int
    status: int
    email: str
    group: str
    quota: int
    used_quota: int
    request_count: int
    access_token: str
    deleted: bool

    @classmethod
    def from_row(cls, row: dict[str, Any], kind: str) -> User:
        status = integer(row.get("status"), 1)
        return cls(integer(row.get("id")), text(row.get("username")), text(row.get("display_name")),
                   integer(row.get("role"), 1), status, text(row.get("email")),
                   text(row.get("group")).strip() or "default", integer(row.get("quota")),
                   integer(row.get("used_quota")), integer(row.get("request_count")),
                   text(row.get("access_token")).strip(),
                   _deleted(row) or (kind == "oneapi" and status == 3))

    @property
    def state(self) -> str:
        if self.deleted:
            return "deleted"
        return "enabled" if self.status == 1 else "disabled"

    @property
    def is_admin(self) -> bool:
        return self.role >= 10


@dataclass(slots=True)
class Networks:
    """A token's network limit: None (any caller) or CIDRs, with entries the source never matched."""

    allowed: list[str] | None
    ignored: list[str] = field(default_factory=list)


def networks(raw: Any, kind: str) -> Networks:
    """One API ``subnet``: comma-separated CIDRs (a bare address never matched there); New API
    ``allow_ips``: one address or CIDR per line, commas inside a line removed (as New API does)."""
    body = text(raw)
    if not body.strip():
        return Networks(None)
    entries = items(body, ",") if kind == "oneapi" else [e.replace(",", "") for e in items(body, "\n\r")]
    good, bad = [], []
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        try:
            if kind == "oneapi" and "/" not in entry:
                raise ValueError("One API needs CIDR notation")
            ipaddress.ip_network(entry, strict=False)
            good.append(entry)
        except ValueError:
            bad.append(entry)
    if not good and not bad:
        return Networks(None)
    return Networks(good, bad)


@dataclass(slots=True)
class Token:
    id: int
    user_id: int
    key: str
    status: int
    name: str
    created_time: int
    accessed_time: int
    expired_time: int
    remain_quota: int
    unlimited: bool
    used_quota: int
    models: list[str] | None  # None: every model; []: none (New API limits on with an empty list)
    networks: Networks
    group: str  # New API token group override ('' = the user's group)
    deleted: bool
    legacy_models: str = ""  # One API's tokens.models in a New API database (New API ignores it)

    @classmethod
    def from_row(cls, row: dict[str, Any], kind: str) -> Token:
        if kind == "oneapi":
            models = items(row.get("models")) or None
            nets = networks(row.get("subnet"), kind)
            group, legacy = "", ""
        else:
            models = items(row.get("model_limits")) if flag(row.get("model_limits_enabled")) else None
            nets = networks(row.get("allow_ips"), kind)
            group = text(row.get("group")).strip()
            legacy = text(row.get("models")).strip()
        return cls(integer(row.get("id")), integer(row.get("user_id")), text(row.get("key")).strip(),
                   integer(row.get("status"), 1), text(row.get("name")), integer(row.get("created_time")),
                   integer(row.get("accessed_time")), integer(row.get("expired_time"), -1),
                   integer(row.get("remain_quota")), flag(row.get("unlimited_quota")),
                   integer(row.get("used_quota")), models, nets, group, _deleted(row), legacy)


@dataclass(frozen=True, slots=True)
class TokenState:
    """What a token really does today: ``state`` and how relaygate reproduces it (``via``)."""

    state: str  # active disabled expired exhausted owner_disabled deleted owner_deleted orphan
    reason: str
    via: str  # none | disable | expiry | cap | skip


def token_state(tok: Token, user: User | None, now_s: int, source: str) -> TokenState:
    """Recompute the state: the status column lies when the source ran with Redis (it never wrote 3/4)."""
    said = TOKEN_STATUS.get(tok.status, f"status {tok.status}")
    if tok.deleted:
        return TokenState("deleted", "soft-deleted in New API", "skip")
    if user is None:
        return TokenState("orphan", f"its user {tok.user_id} does not exist", "skip")
    if user.deleted:
        return TokenState("owner_deleted", f"its owner '{user.username}' is deleted in {source}", "skip")
    if tok.status == 2:
        return TokenState("disabled", f"disabled in {source} (tokens.status=2)", "disable")
    if tok.expired_time != -1 and tok.expired_time < now_s:
        return TokenState("expired", f"expired {when(tok.expired_time)}; the status column says {said}", "expiry")
    if not tok.unlimited and tok.remain_quota <= 0:
        return TokenState("exhausted", f"remaining quota {tok.remain_quota}; the status column says {said}", "cap")
    if tok.status == 3:
        return TokenState("expired", f"marked expired in {source} (status 3) although expired_time is "
                                     f"{'never' if tok.expired_time == -1 else when(tok.expired_time)}", "disable")
    if tok.status == 4:
        return TokenState("exhausted", f"marked exhausted in {source} (status 4) with {tok.remain_quota} "
                                       "quota left", "disable")
    if tok.status != 1:
        return TokenState("disabled", f"status {tok.status} in {source} (not enabled)", "disable")
    if user.status != 1:
        return TokenState("owner_disabled", f"its owner '{user.username}' is disabled in {source} "
                                            f"(users.status={user.status})", "disable")
    return TokenState("active", "", "none")


@dataclass(slots=True)
class Channel:
    id: int
    type: int
    name: str
    status: int
    secrets: list[str]
    secret_notes: list[str]
    base_url: str
    other: str
    models: list[str]
    groups: list[str]
    mapping: dict[str, str]
    mapping_problem: str | None
    priority: int
    weight: int
    config: dict[str, Any]
    system_prompt: str
    status_reason: str
    extra: dict[str, Any]

    @classmethod
    def from_row(cls, row: dict[str, Any], kind: str) -> Channel:
        raw_map, problem = json_object(row.get("model_mapping"))
        mapping = {str(k): text(v) for k, v in raw_map.items() if isinstance(v, str) and v.strip()}
        config, config_problem = json_object(row.get("config")) if kind == "oneapi" else ({}, None)
        setting, _ = json_object(row.get("setting"))
        info, _ = json_object(row.get("channel_info"))
        other_info, _ = json_object(row.get("other_info"))
        secrets, notes = _secrets(text(row.get("key")), kind, info)
        adc = config.get("vertex_ai_adc") if kind == "oneapi" else None
        if adc:  # One API's Vertex channels keep the service-account key in config, not in the key column
            secrets = [adc if isinstance(adc, str) else json.dumps(adc)]
        extra: dict[str, Any] = {}
        for name in ("tag", "test_model", "open_ai_organization", "remark", "status_code_mapping",
                     "param_override", "header_override", "auto_ban", "settings", "balance", "used_quota",
                     "response_time", "test_time"):
            if name in row and row[name] not in (None, ""):
                value = row[name]
                extra[name] = value if isinstance(value, int | bool) else text(value)
        if config_problem:
            notes.append(f"config: {config_problem}")
        prompt = text(row.get("system_prompt")) or text(setting.get("system_prompt") if setting else "")
        reason = text(other_info.get("status_reason")) if other_info else ""
        return cls(integer(row.get("id")), integer(row.get("type")), text(row.get("name")).strip(),
                   integer(row.get("status"), 1), secrets, notes, text(row.get("base_url")).strip(),
                   text(row.get("other")).strip(), items(row.get("models")), items(row.get("group")), mapping,
                   problem, integer(row.get("priority")), max(integer(row.get("weight")), 0),
                   {k: v for k, v in config.items() if v not in (None, "")}, prompt, reason, extra)

    def upstream(self, model: str, kind: str) -> str:
        """The upstream name for a requested model: one lookup (One API), chained without cycles (New API)."""
        target = self.mapping.get(model, model)
        if kind == "newapi":
            seen = {model}
            while target in self.mapping and target not in seen and self.mapping[target] != target:
                seen.add(target)
                target = self.mapping[target]
        return target or model


def _secrets(key: str, kind: str, info: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Upstream keys: New API multi-key channels keep one key per line (or a JSON array, Vertex);
    keys New API marked disabled in channel_info.multi_key_status_list are left out."""
    notes: list[str] = []
    body = key.strip()
    if kind == "newapi" and body.startswith("["):
        return [body], ["JSON key list (Vertex service accounts): kept as one secret"]
    keys = [k.strip() for k in body.splitlines() if k.strip()] if kind == "newapi" else ([body] if body else [])
    status = info.get("multi_key_status_list") if isinstance(info, dict) else None
    if isinstance(status, dict) and keys:
        off = {integer(k) for k, v in status.items() if integer(v, 1) != 1}
        if off:
            notes.append(f"{len(off)} of {len(keys)} keys were disabled in New API and are left out")
            keys = [k for i, k in enumerate(keys) if i not in off]
    if len(keys) > 1:
        notes.append(f"{len(keys)} keys (New API multi-key channel)")
    return keys, notes
