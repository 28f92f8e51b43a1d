"""The diff an import shows: per kind of record, what would be (or was) created, updated or skipped."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from relaygate.core.keys import mask_secret

SAMPLES = 40  # lines kept per kind (counts are always complete)
SECRET_FIELDS = {"secrets", "token_hash", "key_hash"}


@dataclass
class Kind:
    create: int = 0
    update: int = 0
    unchanged: int = 0
    skip: int = 0
    lines: list[str] = field(default_factory=list)

    def note(self, line: str) -> None:
        if len(self.lines) < SAMPLES:
            self.lines.append(line)


@dataclass
class Changes:
    kinds: dict[str, Kind] = field(default_factory=dict)

    def kind(self, name: str) -> Kind:
        return self.kinds.setdefault(name, Kind())

    def created(self, kind: str, label: str, values: dict[str, Any] | None = None) -> None:
        k = self.kind(kind)
        k.create += 1
        k.note(f"+ {label}" + (f": {summary(values)}" if values else ""))

    def updated(self, kind: str, label: str, diff: dict[str, tuple[Any, Any]]) -> None:
        k = self.kind(kind)
        k.update += 1
        k.note(f"~ {label}: " + "; ".join(f"{f} {show(f, a)} → {show(f, b)}" for f, (a, b) in diff.items()))

    def same(self, kind: str) -> None:
        self.kind(kind).unchanged += 1

    def skipped(self, kind: str, label: str, why: str) -> None:
        k = self.kind(kind)
        k.skip += 1
        k.note(f"- {label}: {why}")

    def as_dict(self) -> dict[str, Any]:
        return {name: {"create": k.create, "update": k.update, "unchanged": k.unchanged, "skip": k.skip,
                       "lines": k.lines} for name, k in self.kinds.items()}


def show(field_name: str, value: Any) -> str:
    if field_name in SECRET_FIELDS:
        if isinstance(value, list):
            return "[" + ", ".join(mask_secret(str(v)) for v in value) + "]"
        return "(secret)" if value else "-"
    if value is None:
        return "-"
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "…"


def summary(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={show(k, v)}" for k, v in values.items() if v not in (None, [], {}))


def diff(current: Any, desired: dict[str, Any], fields: tuple[str, ...]) -> dict[str, tuple[Any, Any]]:
    """Fields whose stored value differs from the desired one (JSON lists compared as lists)."""
    out: dict[str, tuple[Any, Any]] = {}
    for name in fields:
        if name not in desired:
            continue
        old = getattr(current, name) if not isinstance(current, dict) else current.get(name)
        new = desired[name]
        if isinstance(old, bool) or isinstance(new, bool):
            same = bool(old) == bool(new) if old is not None and new is not None else old is new
        else:
            same = old == new
        if not same:
            out[name] = (old, new)
    return out
