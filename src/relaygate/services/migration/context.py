"""What one import run shares (source, target, plan decisions, diff, report), used by every import step.

Kept apart from ``importer.py`` (which runs the steps) so the steps never import their runner.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.money import format_amount
from relaygate.services.migration.changes import Changes
from relaygate.services.migration.progress import Progress
from relaygate.services.migration.source import Source
from relaygate.services.migration.survey import Survey
from relaygate.services.migration.units import Units

CHUNK = 1000


@dataclass
class Ctx:
    """Everything one import run shares: source, target, plan decisions, the diff and the report."""

    source: Source
    survey: Survey
    plan: dict[str, Any]
    engine: AsyncEngine
    units: Units
    protocols: list[str]
    apply: bool
    progress: Progress
    tag: str
    now_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    changes: Changes = field(default_factory=Changes)
    warnings: list[str] = field(default_factory=list)
    group_map: dict[str, str | None] = field(default_factory=dict)
    renames: dict[str, str] = field(default_factory=dict)
    owners: dict[int, tuple[str, str, int]] = field(default_factory=dict)  # user id -> (owner id, group, status)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def system(self) -> str:
        return self.source.kind

    @property
    def source_name(self) -> str:
        return self.source.name

    def group(self, name: str) -> str | None:
        """The relaygate group for a source group (the plan's groups table; unknown ones keep their name)."""
        return self.group_map.get(name, name)


def amount(ctx: Ctx, nanos: int) -> str:
    return format_amount(nanos, ctx.units.currency)
