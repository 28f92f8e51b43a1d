"""Resource commands (keys, channels, models, owners, groups, logs, config)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    return None
