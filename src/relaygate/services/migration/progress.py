"""Progress and timing hooks: services report steps, the CLI draws them (Rich bars) or nothing does."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol


class Progress(Protocol):
    def start(self, step: str, total: int | None = None) -> None: ...
    def advance(self, n: int = 1) -> None: ...
    def finish(self) -> None: ...


class _Null:
    def start(self, step: str, total: int | None = None) -> None:
        return None

    def advance(self, n: int = 1) -> None:
        return None

    def finish(self) -> None:
        return None


NULL: Progress = _Null()


@dataclass
class Timings:
    """Seconds and counts per step, in the order the steps ran."""

    steps: list[dict[str, Any]] = field(default_factory=list)
    _started: float = 0.0
    _name: str = ""

    def begin(self, name: str) -> None:
        self._name, self._started = name, time.monotonic()

    def end(self, **counts: Any) -> None:
        self.steps.append({"step": self._name, "seconds": round(time.monotonic() - self._started, 3), **counts})
