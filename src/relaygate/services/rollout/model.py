"""Rollout vocabulary: batch states and moves, error classes, rollback conditions, selectors."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from relaygate.core.errors import InvalidInput

STATES = ("planned", "switched", "observing", "completed", "rolled_back")
NATIVE_STATES = frozenset({"switched", "observing", "completed"})  # members are served natively
WATCHED_STATES = frozenset({"switched", "observing"})  # the guard compares these with their baseline
MOVES: dict[str, frozenset[str]] = {  # to_state -> the states it may come from
    "switched": frozenset({"planned", "rolled_back"}),
    "observing": frozenset({"switched"}),
    "rolled_back": frozenset({"switched", "observing"}),
    "completed": frozenset({"switched", "observing"}),
}
IMPORTED_SOURCES = frozenset({"oneapi", "newapi"})  # keys the old system knows (same secret)
# the move each owner of a batch in this state must have had done, and where it leaves the owner
TARGET_STEP = {"switched": "switch", "observing": "switch", "rolled_back": "rollback", "completed": "complete"}
STEP_ROUTE = {"switch": "native", "rollback": "legacy", "complete": "native"}

CLASSES = ("401", "402", "403", "model_not_found", "429", "5xx", "timeout")
REPORT_CLASSES = ("401", "402", "429", "model_not_found", "timeout")  # the seeds' before/after figures
CLASS_TITLES = {
    "401": ("401 invalid key", "401 密钥无效"), "402": ("402 balance", "402 余额不足"),
    "403": ("403 not allowed", "403 无权限"), "model_not_found": ("model not found", "模型不存在"),
    "429": ("429 rate limited", "429 限流"), "5xx": ("5xx upstream", "5xx 上游错误"),
    "timeout": ("timeout", "超时"),
}
_ALIASES = {"404": "model_not_found", "mnf": "model_not_found", "not_found": "model_not_found",
            "model-not-found": "model_not_found", "500": "5xx", "timeouts": "timeout"}
_KEY_CODES = frozenset({"missing_api_key", "invalid_api_key", "key_disabled", "key_expired"})
_MODEL_CODES = frozenset({"model_not_found", "model_unsupported"})
_FORBIDDEN_CODES = frozenset({"model_not_allowed", "network_not_allowed", "model_price_missing"})
_NOT_MODEL_404 = frozenset({"not_found", "base_url_mistake", "endpoint_not_served"})


def classify(status: int | None, code: str | None) -> str | None:
    """The error class of one usage record (native codes first, then the status), or None for success."""
    if status is None or status < 400:
        return None
    code = code or ""
    if code in _KEY_CODES or status == 401:
        return "401"
    if code == "insufficient_balance" or status == 402:
        return "402"
    if code in _MODEL_CODES or (status == 404 and code not in _NOT_MODEL_404):
        return "model_not_found"
    if code in _FORBIDDEN_CODES or status == 403:
        return "403"
    if code == "upstream_timeout" or status in (408, 504, 524):
        return "timeout"
    if code == "rate_limited" or status == 429:
        return "429"
    if status >= 500:
        return "5xx"
    return "other"


def error_class(raw: str) -> str:
    name = raw.strip().lower()
    name = _ALIASES.get(name, name)
    if name not in CLASSES:
        raise InvalidInput(f"Unknown error class '{raw}'; use one of: {', '.join(CLASSES)}.",
                           f"未知的错误类别 '{raw}'；可用：{', '.join(CLASSES)}。")
    return name


_CONDITION = re.compile(r"^\s*([\w-]+)\s*>\s*(\+)?\s*(\d+(?:\.\d+)?)\s*(%|x)\s*$", re.I)


@dataclass(frozen=True, slots=True)
class Condition:
    """A rollback condition on one error class: above an absolute rate, baseline + points, or N × baseline."""

    cls: str
    mode: str  # abs | delta | ratio
    value: float  # a fraction for abs and delta (0.05 = 5%), a factor for ratio

    @classmethod
    def parse(cls, text: str) -> Condition:
        """'5xx>5%' (absolute), '5xx>+2%' (2 points above the baseline), '401>3x' (three times the baseline)."""
        found = _CONDITION.match(text)
        if not found:
            raise InvalidInput(f"'{text}' is not a rollback condition: use CLASS>N% (absolute), CLASS>+N% "
                               "(points above the baseline) or CLASS>Nx (times the baseline), e.g. 5xx>+2%.",
                               f"'{text}' 不是有效的回滚条件：请使用 CLASS>N%（绝对值）、"
                               "CLASS>+N%（比基线高 N 个百分点）或 CLASS>Nx（基线的 N 倍），例如 5xx>+2%。")
        name, plus, number, unit = found.groups()
        value = float(number)
        if unit.lower() == "x":
            if plus or value <= 1:
                raise InvalidInput(f"'{text}': a factor must be above 1 and has no '+'.",
                                   f"'{text}'：倍数必须大于 1，且不能带 '+'。")
            return cls(error_class(name), "ratio", value)
        if value > 100:
            raise InvalidInput(f"'{text}': a rate is at most 100%.", f"'{text}'：比例最多为 100%。")
        return cls(error_class(name), "delta" if plus else "abs", value / 100)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Condition:
        return cls(str(data["cls"]), str(data["mode"]), float(data["value"]))

    def to_dict(self) -> dict[str, Any]:
        return {"cls": self.cls, "mode": self.mode, "value": self.value}

    def text(self) -> str:
        if self.mode == "ratio":
            return f"{self.cls}>{self.value:g}x"
        return f"{self.cls}>{'+' if self.mode == 'delta' else ''}{self.value * 100:g}%"

    def limit(self, baseline: float) -> float:
        """The rate above which the condition trips, given the baseline rate."""
        if self.mode == "abs":
            return self.value
        if self.mode == "delta":
            return baseline + self.value
        return max(baseline * self.value, baseline + 0.01)  # a zero baseline still needs one point more

    def tripped(self, rate: float, baseline: float) -> bool:
        return rate > self.limit(baseline)


DEFAULT_CONDITIONS = tuple(Condition.parse(c) for c in (
    "401>+2%", "402>+2%", "403>+2%", "model_not_found>+2%", "429>+5%", "5xx>+5%", "timeout>+5%"))


def stable_percent(owner_id: str) -> float:
    """Where an owner falls on 0-100: the same on every run and every worker (SHA-256 of the id)."""
    digest = hashlib.sha256(f"relaygate-rollout:{owner_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 10000 / 100


@dataclass(frozen=True, slots=True)
class OwnerFacts:
    """What a selector looks at: the owner and its keys that the old system knows."""

    id: str
    name: str
    key_ids: frozenset[str]
    environments: frozenset[str]


@dataclass(frozen=True, slots=True)
class Selector:
    """Which owners a batch takes. Lists name owners outright (a key brings its owner); environments and
    percent are filters that must all hold; ``rest`` takes every owner no earlier batch took."""

    owners: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    percent: float | None = None
    rest: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Selector:
        pct = data.get("percent")
        return cls(tuple(data.get("owners") or ()), tuple(data.get("keys") or ()),
                   tuple(data.get("environments") or ()), float(pct) if pct is not None else None,
                   bool(data.get("rest")))

    def to_dict(self) -> dict[str, Any]:
        return {"owners": list(self.owners), "keys": list(self.keys), "environments": list(self.environments),
                "percent": self.percent, "rest": self.rest}

    @property
    def empty(self) -> bool:
        return not (self.owners or self.keys or self.environments or self.percent is not None or self.rest)

    def matches(self, owner: OwnerFacts) -> bool:
        if self.rest:
            return True
        if owner.id in self.owners or owner.name in self.owners or owner.key_ids & set(self.keys):
            return True
        filters = []
        if self.environments:
            filters.append(bool(owner.environments) and owner.environments <= set(self.environments))
        if self.percent is not None:
            filters.append(stable_percent(owner.id) < self.percent)
        return bool(filters) and all(filters)

    def text(self, lang: str = "en") -> str:
        zh = lang == "zh-CN"
        parts = []
        if self.owners:
            parts.append(("负责人 " if zh else "owners ") + ", ".join(self.owners))
        if self.keys:
            parts.append(("密钥 " if zh else "keys ") + ", ".join(self.keys))
        filters = []
        if self.environments:
            envs = "/".join(self.environments)
            filters.append(f"密钥全部属于 {envs} 环境" if zh else f"all keys in {envs}")
        if self.percent is not None:
            filters.append(f"按稳定哈希选取 {self.percent:g}% 的负责人" if zh else
                           f"{self.percent:g}% of owners (stable hash)")
        if filters:
            parts.append((" 且 " if zh else " and ").join(filters))
        if self.rest:
            parts.append("之前批次未包含的所有负责人" if zh else "every owner not in an earlier batch")
        return ("；" if zh else "; ").join(parts)


@dataclass(frozen=True, slots=True)
class Member:
    """One owner of a batch: where it is served now, its last move done, why its last move failed."""

    route: str = "legacy"
    step: str | None = None
    failure: str | None = None
    updated_at: int | None = None


@dataclass(slots=True)
class Batch:
    id: int
    name: str
    position: int
    description: str | None
    selector: Selector
    switch_at: int | None
    rollback_deadline: int | None
    rollback_window_ms: int | None
    conditions: list[Condition]
    window_seconds: int
    min_requests: int
    baseline_days: int
    auto_rollback: bool
    state: str
    switches: int
    rollbacks: int
    switched_at: int | None
    first_switched_at: int | None
    completed_at: int | None
    created_by: str | None
    created_at: int
    members: frozenset[str] = field(default_factory=frozenset)
    member_rows: dict[str, Member] = field(default_factory=dict)

    @property
    def target_step(self) -> str | None:
        return TARGET_STEP.get(self.state)

    def left(self) -> list[str]:
        """Owners whose move to the batch's state has not been done (failed, or interrupted)."""
        step = self.target_step
        if step is None:
            return []
        return sorted(o for o in self.members if self.member_rows.get(o, Member()).step != step)

    def failures(self) -> dict[str, str]:
        return {o: m.failure for o, m in sorted(self.member_rows.items()) if m.failure}

    @classmethod
    def from_row(cls, row: Any) -> Batch:
        return cls(row.id, row.name, row.position, row.description, Selector.from_dict(row.selector or {}),
                   row.switch_at, row.rollback_deadline, row.rollback_window_ms,
                   [Condition.from_dict(c) for c in row.conditions or []], row.window_seconds, row.min_requests,
                   row.baseline_days, bool(row.auto_rollback), row.state, row.switches, row.rollbacks,
                   row.switched_at, row.first_switched_at, row.completed_at, row.created_by, row.created_at)

    def deadline(self) -> int | None:
        """The rollback deadline: fixed, or the window counted from the first switch (None before it)."""
        if self.rollback_deadline is not None:
            return self.rollback_deadline
        if self.rollback_window_ms is not None and self.first_switched_at is not None:
            return self.first_switched_at + self.rollback_window_ms
        return None

    def rollback_open(self, now: int) -> bool:
        deadline = self.deadline()
        return deadline is None or now <= deadline


_OWNER = re.compile(r"^own_([A-Za-z0-9]+)_(\d+)$")


def old_user(owner_id: str) -> tuple[str, int] | None:
    """(import tag, old users.id) of an owner the importer created, or None for a relaygate-native owner."""
    found = _OWNER.match(owner_id)
    return (found.group(1), int(found.group(2))) if found else None


def ledger_request_id(tag: str, user_id: int, batch_id: int, seq: int) -> str:
    """In the importer's namespace (imp:<tag>:u<id>…), so the sum of an owner's import entries always
    equals the old quota as last seen, which is what ``migrate import`` compares against."""
    rid = f"imp:{tag}:u{user_id}:r{batch_id}.{seq}"
    if len(rid) > 40:
        raise InvalidInput(f"Ledger request id {rid} is longer than 40 characters.",
                           f"账目请求 ID {rid} 超过 40 个字符。")
    return rid


def duration_seconds(raw: str | int | float) -> int:
    """'15m', '2h', '7d', '90s' or a number of seconds."""
    if isinstance(raw, int | float):
        return int(raw)
    text = raw.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        if text and text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(float(text))
    except ValueError:
        raise InvalidInput(f"'{raw}' is not a duration: use 90s, 15m, 2h or 7d.",
                           f"'{raw}' 不是有效的时长：请使用 90s、15m、2h 或 7d。") from None
