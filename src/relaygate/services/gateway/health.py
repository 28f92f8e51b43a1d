"""Channel health: failures cool a channel down; a successful probe or request brings it back."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from relaygate.core.clock import now_ms

log = logging.getLogger("relaygate.health")


@dataclass(slots=True)
class ChannelState:
    state: str = "healthy"  # healthy | cooling
    reason: str | None = None
    consecutive_failures: int = 0
    cooldown_until: int = 0  # epoch ms
    cooldown_seconds: float = 0.0
    next_probe: int = 0  # epoch ms: while cooling, probed every recovery_probe seconds at most
    dirty: bool = False


class HealthBoard:
    """Per-process view of channel health; changes are persisted by a background task."""

    def __init__(self, failure_threshold: int, cooldown_seconds: float, cooldown_max_seconds: float,
                 recovery_probe_seconds: float = 5.0) -> None:
        self.threshold = failure_threshold
        self.cooldown = cooldown_seconds
        self.cooldown_max = cooldown_max_seconds
        # the cool-down doubles per failed probe (what operators see), but probes keep coming at least
        # this often, so a channel is back within seconds of its upstream (the first good probe)
        self.recovery_probe = recovery_probe_seconds
        self._states: dict[int, ChannelState] = {}
        self.namer: Callable[[int], str] = lambda cid: f"#{cid}"  # app.py names channels from the snapshot

    def get(self, channel_id: int) -> ChannelState:
        state = self._states.get(channel_id)
        if state is None:
            state = self._states[channel_id] = ChannelState()
        return state

    def is_available(self, channel_id: int) -> bool:
        state = self._states.get(channel_id)
        return state is None or state.state == "healthy"

    def success(self, channel_id: int, how: str = "a request succeeded") -> None:
        state = self._states.get(channel_id)
        if state is None or (state.state == "healthy" and state.consecutive_failures == 0):
            return
        recovered = state.state != "healthy"
        state.consecutive_failures = 0
        state.cooldown_seconds = 0.0
        if recovered:
            log.warning("channel %s recovered: %s (it had cooled down after: %s)", self.namer(channel_id), how,
                        state.reason, extra={"fields": {"event": "channel_recovered", "channel_id": channel_id}})
            state.state, state.reason, state.cooldown_until, state.dirty = "healthy", None, 0, True

    def failure(self, channel_id: int, reason: str) -> None:
        state = self.get(channel_id)
        state.consecutive_failures += 1
        if state.state == "healthy" and state.consecutive_failures >= self.threshold:
            self._cool(channel_id, state, reason, self.cooldown)

    def probe_failed(self, channel_id: int, reason: str) -> None:
        state = self.get(channel_id)
        self._cool(channel_id, state, reason, min(max(state.cooldown_seconds, self.cooldown) * 2, self.cooldown_max))

    def _cool(self, channel_id: int, state: ChannelState, reason: str, seconds: float) -> None:
        again = state.state == "cooling"
        log.warning("channel %s %s for %.0fs after %d failure(s): %s", self.namer(channel_id),
                    "stays cooling" if again else "cools down", seconds, state.consecutive_failures, reason[:500],
                    extra={"fields": {"event": "channel_cooling", "channel_id": channel_id}})
        jitter = random.uniform(0.9, 1.1)
        state.state = "cooling"
        state.reason = reason[:500]
        state.cooldown_seconds = seconds
        now = now_ms()
        state.cooldown_until = now + int(seconds * 1000 * jitter)
        state.next_probe = now + int(min(seconds, self.recovery_probe) * 1000 * jitter)
        state.dirty = True

    def due_for_probe(self) -> list[int]:
        now = now_ms()
        return [cid for cid, s in self._states.items()
                if s.state == "cooling" and min(s.cooldown_until, s.next_probe or s.cooldown_until) <= now]

    def take_dirty(self) -> list[tuple[int, ChannelState]]:
        out = []
        for cid, state in self._states.items():
            if state.dirty:
                state.dirty = False
                out.append((cid, state))
        return out

    def forget_missing(self, live_ids: set[int]) -> None:
        for cid in [c for c in self._states if c not in live_ids]:
            del self._states[cid]
