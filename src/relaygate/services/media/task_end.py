"""The end of a task: once, with its money, in one transaction with its terminal state.

Money per terminal state (docs/billing.md, "Media"):

- ``succeeded``: settled to the units the upstream reports (seconds of video), else the units asked
  for, at the price and multiplier of the submit, never more than the hold;
- ``failed`` (the upstream's failure or a moderation refusal), ``expired`` (no end within
  ``RELAYGATE_MEDIA_TASK_TTL_SECONDS``) and ``cancelled`` (only possible before the upstream started):
  released in full, with a ledger entry that says why.

A task taken over from New API at ``migrate import`` held nothing here: its end books what
``takeover.py`` says. The terminal state is compared and set on the state the ender read (in flight, started
upstream or not), in the transaction that books the money: a task ends once, however many workers poll and
whatever the caller does meanwhile, and the counters (hold, refund, key cap) move only for the one that won.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import now_ms
from relaygate.core.money import unit_cost
from relaygate.core.settings import Settings
from relaygate.providers.media import TERMINAL, TaskStatus
from relaygate.services.media import repo, takeover
from relaygate.services.media.money import MediaMoney
from relaygate.store import tables as t
from relaygate.store.ledger_repo import append_entries

log = logging.getLogger("relaygate.media")


class TaskEnd:
    def __init__(self, settings: Settings, engine: AsyncEngine, money: MediaMoney) -> None:
        self.settings = settings
        self.engine = engine
        self.money = money

    async def end(self, row: Any, state: str, status: TaskStatus | None, reason: str,
                  error_code: str | None = None) -> bool:
        """Move the task to ``state`` and settle (succeeded) or release (any other end) in one transaction."""
        assert state in TERMINAL
        if (row.params or {}).get("imported"):  # nothing was held here (services/media/takeover.py)
            reason = reason.replace("; hold released in full", "")
        now = now_ms()
        units = dict(row.units or {})
        cost = 0
        if state == "succeeded":
            count = int(units.get("count") or 1)
            if units.get("unit") == "second" and status is not None and status.seconds:
                count = max(1, math.ceil(status.seconds))
            units["count"] = count
            if units.get("per_unit"):
                cost = unit_cost(int(units["per_unit"]), count, int(units.get("per") or 1),
                                 int(units.get("multiplier_ppm") or 1_000_000))
                if units.get("unit") == "call":
                    cost = unit_cost(int(units["per_unit"]), 1, 1, int(units.get("multiplier_ppm") or 1_000_000))
            cost = min(cost, int(row.hold or 0)) if row.hold else 0
        values: dict[str, Any] = {
            "state": state, "finished_at": now, "updated_at": now, "cost": cost, "units": units,
            "progress": 100 if state == "succeeded" else row.progress,
            "error_code": error_code, "error_message": (status.error if status and status.error else None)
            if state != "succeeded" else None,
            "review": status.review if status else None, "next_poll_at": None,
        }
        if state != "succeeded" and values["error_message"] is None:
            values["error_message"] = reason[:512]
        if state == "succeeded":
            values["result"] = {"url": status.result_url if status else None,
                                **({"details": status.details} if status and status.details else {})}
            values["download_state"] = "ready"
            values["result_expires_at"] = now + int(self.settings.media_result_ttl_seconds * 1000)
        if row.callback_url:
            values["callback_state"], values["callback_next_at"] = "pending", now
        credit: int | None = None
        async with self.engine.begin() as conn:
            taken_over = bool((row.params or {}).get("imported"))
            entries: list[dict[str, Any]] = []
            if taken_over:  # New API pre-charged it before the import: settle nothing, refund on failure
                values["cost"], entries = takeover.end_entries(
                    row, state, reason, await takeover.old_system_runs(conn), self.settings.currency, now)
                if not int(row.prepaid or 0):
                    entries = []
                cost = values["cost"]
            if not await repo.end(conn, row, values):
                return False
            if entries:
                await append_entries(conn, entries)
                credit = await takeover.credited_entry(conn, row, now)
            if row.hold:
                rows = [self.money.row(row.owner_id, row.key_id, row.model, row.request_id, "release", 0,
                                       -int(row.hold), reason[:255], ref=row.id, now=now)]
                if cost:
                    rows.append(self.money.row(row.owner_id, row.key_id, row.model, row.request_id, "settle", -cost,
                                               0, reason[:255], ref=row.id, now=now))
                await append_entries(conn, rows)
            await conn.execute(update(t.usage_records).where(t.usage_records.c.request_id == row.request_id)
                               .values(cost=cost))
        if credit is not None:
            await self.money.refund(row.owner_id, row.key_id, int(row.prepaid), credit)
        await self.money.end(f"task:{row.id}", cost)
        log.info("task %s %s (%s); charged %d nanos of %d held", row.id, state, reason, cost, row.hold or 0)
        return True
