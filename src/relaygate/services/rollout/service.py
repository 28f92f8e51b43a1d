"""The rollout service as one object: routing for the relay, planner, mover, guard, evidence, reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.settings import Settings
from relaygate.services.rollout.batches import Planner
from relaygate.services.rollout.evidence import Evidence
from relaygate.services.rollout.guard import Guard
from relaygate.services.rollout.handover import handover_rows
from relaygate.services.rollout.moves import Mover
from relaygate.services.rollout.report import build_report
from relaygate.services.rollout.routing import RolloutRouting
from relaygate.store.wide import dumps as wide_dumps


class Rollout:
    """Built once per process. The gateway passes ``routing`` to the relay as ``legacy=`` and runs
    ``guard.run`` as a supervised task; the CLI uses the same object without starting anything."""

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.routing = RolloutRouting(engine)
        self.planner = Planner(engine, settings)
        self.mover = Mover(engine, settings, reload=self.routing.reload)
        self.guard = Guard(engine, settings, self.routing, self.mover)
        self.evidence = Evidence(engine)

    async def handovers(self, batch: str | None = None, open_only: bool = False) -> list[dict[str, Any]]:
        batch_id = None
        if batch is not None:
            batch_id = (await self.planner.show(batch))["id"]
        return await handover_rows(self.engine, batch_id, open_only)

    async def report(self, days: int = 30, fresh: bool = True) -> dict[str, Any]:
        return await build_report(self.engine, self.settings, days, fresh)


async def write_report(rollout: Rollout, fmt: str, out: Path | None, lang: str, days: int = 30
                       ) -> tuple[str, list[Path]]:
    """The report as text (md or json) and, with ``out``, report.md / report.json and SVG charts in it."""
    from relaygate.services.rollout.report_md import render

    data = await rollout.report(days)
    files: list[Path] = []
    charts: dict[str, str] = {}
    if out is not None:
        from relaygate.services.rollout.charts import draw_all

        charts = draw_all(data, out)
        files += [out / name for name in charts.values()]
        data["charts"] = charts
    text = (wide_dumps(data, indent=True) + "\n" if fmt == "json"
            else render(data, lang, charts))
    if out is not None:
        path = out / ("report.json" if fmt == "json" else "report.md")
        path.write_text(text, encoding="utf-8")
        files.insert(0, path)
    return text, files
