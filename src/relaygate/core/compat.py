"""How a key imported from One API or New API keeps answering as the old system did.

Two things live here, both data the request path reads from the snapshot (no code per source):

- ``KeyRules``: per imported key, the old system's group and channel-pin rules as they applied to
  that token (worked out at import time from the source's options and the user's role), and which
  status codes its refusals carry (``source`` or ``relaygate``).
- ``REFUSALS``: the one table of refusal cases with relaygate's status and One API's / New API's.
  The relay maps a refusal's status from it, and docs/migration.md's status table and its "what
  differs from your old system" section are generated from it (``scripts/gen_docs.py``).

relaygate's error code and message stay as they are; only the HTTP status follows the old system.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STATUS_MODES = ("source", "relaygate")
SYSTEMS = ("oneapi", "newapi")


def check_status_mode(mode: str) -> None:
    """Refuse a statuses setting other than ``source`` or ``relaygate`` (InvalidInput, both languages)."""
    if mode not in STATUS_MODES:
        from relaygate.core.errors import InvalidInput

        raise InvalidInput(f"statuses must be one of {', '.join(STATUS_MODES)} (got {mode!r}).",
                           f"statuses 只能是 {'、'.join(STATUS_MODES)}（当前为 {mode!r}）。")


@dataclass(frozen=True, slots=True)
class KeyRules:
    system: str  # oneapi | newapi
    statuses: str = "source"  # source: refusals carry the old system's status; relaygate: ours
    refuse: tuple[str, str] | None = None  # (error code, group): New API refused this token's group
    auto_groups: tuple[str, ...] | None = None  # New API token group 'auto': groups tried in order
    pin: str = "refuse"  # sk-<key>-<channel id>: "admin" may pin (admins and root), "refuse" (403)
    owner_disabled: bool = False  # the token's user was disabled (403 in both, not 401)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KeyRules:
        refuse = data.get("refuse")
        auto = data.get("auto_groups")
        return cls(
            system=str(data.get("system") or "oneapi"),
            statuses=str(data.get("statuses") or "source"),
            refuse=(str(refuse[0]), str(refuse[1])) if isinstance(refuse, list | tuple) and len(refuse) == 2
            else None,
            auto_groups=tuple(str(g) for g in auto) if isinstance(auto, list | tuple) else None,
            pin="admin" if data.get("pin") == "admin" else "refuse",
            owner_disabled=bool(data.get("owner_disabled")),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"system": self.system, "statuses": self.statuses, "pin": self.pin}
        if self.refuse is not None:
            out["refuse"] = list(self.refuse)
        if self.auto_groups is not None:
            out["auto_groups"] = list(self.auto_groups)
        if self.owner_disabled:
            out["owner_disabled"] = True
        return out


@dataclass(frozen=True, slots=True)
class Refusal:
    """One refusal case: how relaygate says it, and the status (and words) One API / New API used."""

    case: str
    code: str  # relaygate's error code (kept under both status modes)
    when: str  # which refusals of that code this row covers: "" all, else a KeyRules / error fact
    relaygate: int
    oneapi: int | None  # None: the old system never refused this (relaygate's status is used)
    newapi: int | None
    oneapi_text: str
    newapi_text: str

    def status(self, system: str) -> int:
        old = self.oneapi if system == "oneapi" else self.newapi
        return self.relaygate if old is None else old


REFUSALS: tuple[Refusal, ...] = (
    Refusal("Unknown key", "invalid_api_key", "", 401, 401, 401, "无效的令牌", "Invalid token"),
    Refusal("Disabled token", "key_disabled", "", 401, 401, 401, "该令牌状态不可用", "Invalid token"),
    Refusal("Disabled user", "key_disabled", "owner_disabled", 401, 403, 403, "用户已被封禁",
            "User has been banned / 用户已被封禁"),
    Refusal("Expired token", "key_expired", "", 401, 401, 401, "该令牌已过期", "Invalid token"),
    Refusal("Exhausted token (its remaining quota is used up)", "insufficient_balance", "key", 402, 401, 401,
            "该令牌额度已用尽", "Invalid token"),
    Refusal("User out of quota", "insufficient_balance", "owner", 402, 403, 403, "user quota is not enough",
            "用户额度不足"),
    Refusal("IP not allowed for the token", "network_not_allowed", "", 403, 403, 403,
            "该令牌只能在指定网段使用", "您的 IP 不在令牌允许访问的列表中"),
    Refusal("Model not allowed for the token", "model_not_allowed", "", 403, 403, 403, "该令牌无权使用模型",
            "This token has no access to model X"),
    Refusal("Model no channel serves (unknown, or only a stale abilities row)", "model_not_found", "", 404, 503,
            503, "当前分组 G 下对于模型 X 无可用渠道", "No available channel for model X under group G"),
    Refusal("Every channel of the model disabled or failing", "no_healthy_channel", "", 503, 503, 503,
            "当前分组 G 下对于模型 X 无可用渠道", "No available channel for model X under group G"),
    Refusal("Unpriced model", "model_price_missing", "", 403, None, 400,
            "(never: One API bills an unpriced model at ratio 30)", "模型 X 的价格尚未由管理员配置"),
    Refusal("Token group the user may not use (New API)", "group_not_allowed", "", 403, None, 403,
            "(no token groups)", "无权访问 G 分组"),
    Refusal("Deprecated token group: not in GroupRatio (New API)", "group_deprecated", "", 403, None, 403,
            "(no token groups)", "分组 G 已被弃用"),
    Refusal("sk-<key>-<channel id> from a non-admin user", "channel_pin_not_allowed", "", 403, 403, 403,
            "普通用户不支持指定渠道", "普通用户不支持指定渠道"),
    Refusal("sk-<key>-<channel id> naming a disabled channel", "channel_pin_disabled", "", 403, 403, 403,
            "该渠道已被禁用", "该渠道已被禁用"),
    Refusal("sk-<key>-<channel id> naming no channel", "channel_pin_unknown", "", 400, 400, 400,
            "无效的渠道 Id", "无效的渠道 Id"),
    Refusal("Rate limit", "rate_limited", "", 429, 429, 429, "(global limit: bare 429)",
            "您已达到请求数限制"),
)

_BY_CODE: dict[str, list[Refusal]] = {}
for _row in REFUSALS:
    _BY_CODE.setdefault(_row.code, []).append(_row)


def refusal_for(code: str, rules: KeyRules, fact: str = "") -> Refusal | None:
    """The table row for a refusal of ``code`` to a key with ``rules`` (``fact``: which bucket refused)."""
    rows = _BY_CODE.get(code)
    if not rows:
        return None
    for row in rows:
        if row.when and (row.when == fact or (row.when == "owner_disabled" and rules.owner_disabled)):
            return row
    return next((r for r in rows if not r.when), None)


def source_status(code: str, rules: KeyRules, fact: str = "") -> int | None:
    """The status the old system answered this refusal with, or None to keep relaygate's."""
    if rules.statuses != "source":
        return None
    row = refusal_for(code, rules, fact)
    return None if row is None else row.status(rules.system)


def status_table_markdown() -> str:
    """docs/migration.md's refusal status table (generated; tests check it is current)."""
    lines = ["| refusal | relaygate code | relaygate status | One API | New API | old message |",
             "|---|---|---|---|---|---|"]
    for r in REFUSALS:
        oa = "—" if r.oneapi is None else str(r.oneapi)
        na = "—" if r.newapi is None else str(r.newapi)
        lines.append(f"| {r.case} | `{r.code}` | {r.relaygate} | {oa} | {na} | OA `{r.oneapi_text}`; "
                     f"NA `{r.newapi_text}` |")
    return "\n".join(lines)


def differences_markdown() -> str:
    """docs/migration.md's "what differs from your old system" section body (generated)."""
    out = ["With the plan's default `policy.statuses: source`, every imported key gets the status in the "
           "One API / New API column above; the body is relaygate's (its `code` and its message in English "
           "and Chinese), not the old words. What still differs:", ""]
    for r in REFUSALS:
        for system, name, old in (("oneapi", "One API", r.oneapi), ("newapi", "New API", r.newapi)):
            if old is not None and old != r.relaygate:
                out.append(f"- {r.case} ({name}): {old} under `source` statuses, {r.relaygate} `{r.code}` "
                           "under `relaygate` statuses (and for keys created in relaygate).")
            elif old is None and r.code == "model_price_missing" \
                    and system == "oneapi":
                out.append(f"- {r.case}: One API had no such refusal; relaygate answers {r.relaygate} `{r.code}`.")
    out += ["- Every refusal's message is relaygate's (`code` plus English or Chinese text, chosen by "
            "Accept-Language), and the envelope's `type` is relaygate's, not `one_api_error` / `new_api_error`.",
            "- `relaygate migrate statuses relaygate` switches every imported key to relaygate's own statuses "
            "after the rollout (`source` switches back)."]
    return "\n".join(out)
