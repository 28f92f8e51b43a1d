"""Channel listings with this process's live health (it beats the last persisted row)."""

from __future__ import annotations

from typing import Any

from relaygate.core.clock import iso
from relaygate.services.gateway.health import HealthBoard


def live_channels(health: HealthBoard, views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for view in views:
        state = health.get(view["id"]) if not health.is_available(view["id"]) else None
        if state is not None:
            view["health"].update({"state": state.state, "reason": state.reason,
                                   "consecutive_failures": state.consecutive_failures,
                                   "cooldown_until": iso(state.cooldown_until) if state.cooldown_until else None})
    return views
