"""The migration plan the notices read: old and new base URL, dates, the model mapping. Extra fields are ignored.

Schema (docs/support.md): ``old_base_url``, ``new_base_url``, ``switch_time``, ``old_entry_until``,
``rollback_deadline``, ``support_contact``, ``service_name`` and ``model_mapping``: a list of
``{old, new, class, note}`` (``class``: same, replace, downgrade or unsupported) or a map
``{old: new}``. The same keys nested under a top-level ``notice:`` or ``plan:`` are read too, and
without ``model_mapping`` the ``models`` table of `relaygate migrate plan` (``old_name``, ``new_name``,
``class``) is used, so its plan file works unchanged; only names and classes are taken from it, never
its upstream or channel details, since notices are public.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from relaygate.core.errors import InvalidInput

MAPPING_CLASSES: dict[str, tuple[str, str]] = {
    "same": ("same name", "名称不变"),
    "replace": ("replaced (same capability)", "可替代"),
    "downgrade": ("downgraded (check quality)", "需降级"),
    "unsupported": ("not supported yet", "暂不支持"),
    "alias": ("old name still works (alias)", "旧名称仍可用（别名）"),
    "retired": ("retired here, use the new name", "已下线，请用新名称"),
    "substitute": ("served by a comparable model", "由同级模型提供"),
}
_TEXT_FIELDS = ("old_base_url", "new_base_url", "switch_time", "old_entry_until", "rollback_deadline",
                "support_contact", "service_name")


@dataclass(frozen=True, slots=True)
class MappingRow:
    old: str
    new: str | None
    cls: str
    note: str = ""

    def class_label(self, lang: str) -> str:
        en, zh = MAPPING_CLASSES.get(self.cls, (self.cls, self.cls))
        return zh if lang.startswith("zh") else en


@dataclass(frozen=True)
class MigrationPlan:
    old_base_url: str | None = None
    new_base_url: str | None = None
    switch_time: str | None = None
    old_entry_until: str | None = None
    rollback_deadline: str | None = None
    support_contact: str | None = None
    service_name: str | None = None
    model_mapping: tuple[MappingRow, ...] = field(default_factory=tuple)


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _row(item: Any, index: int) -> MappingRow:
    if not isinstance(item, dict) or not item.get("old"):
        raise InvalidInput(f"model_mapping entry {index + 1} needs at least 'old' (and usually 'new').",
                           f"model_mapping 第 {index + 1} 项至少需要 'old'（通常还有 'new'）。")
    new = _text(item.get("new"))
    cls = _text(item.get("class")) or ("unsupported" if not new else "same" if new == str(item["old"]) else "replace")
    return MappingRow(str(item["old"]).strip(), new, cls.lower(), _text(item.get("note")) or "")


def _from_migrate_plan(models: Any) -> list[dict[str, Any]]:
    """The `relaygate migrate plan` models table as mapping rows (old_name → new_name, class)."""
    if not isinstance(models, list):
        return []
    return [{"old": m["old_name"], "new": m.get("new_name"), "class": m.get("class")}
            for m in models if isinstance(m, dict) and m.get("old_name")]


def plan_from_mapping(doc: Any) -> MigrationPlan:
    if doc is None:
        return MigrationPlan()
    if not isinstance(doc, dict):
        raise InvalidInput("A migration plan is a YAML mapping (old_base_url: …, model_mapping: […]).",
                           "迁移计划应为 YAML 映射（old_base_url: …，model_mapping: […]）。")
    merged: dict[str, Any] = {}
    for nested in ("plan", "notice"):
        if isinstance(doc.get(nested), dict):
            merged.update(doc[nested])
    merged.update({k: v for k, v in doc.items() if k not in ("plan", "notice")})
    raw = merged.get("model_mapping") or _from_migrate_plan(merged.get("models")) or []
    if isinstance(raw, dict):
        raw = [{"old": k, "new": v} for k, v in raw.items()]
    if not isinstance(raw, list):
        raise InvalidInput("model_mapping must be a list of {old, new, class, note} or a map old: new.",
                           "model_mapping 必须是 {old, new, class, note} 列表，或 old: new 映射。")
    values = {name: _text(merged.get(name)) for name in _TEXT_FIELDS}
    return MigrationPlan(**values, model_mapping=tuple(_row(item, i) for i, item in enumerate(raw)))


def load_plan(path: Path) -> MigrationPlan:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"Cannot read the plan {path}: {exc.strerror}.",
                           f"无法读取迁移计划 {path}：{exc.strerror}。") from exc
    except yaml.YAMLError as exc:
        raise InvalidInput(f"The plan {path} is not valid YAML: {exc}.",
                           f"迁移计划 {path} 不是合法的 YAML：{exc}。") from exc
    return plan_from_mapping(doc)
