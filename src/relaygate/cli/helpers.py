"""Small pieces shared by the resource commands: messages, option parsing, one-record output."""

from __future__ import annotations

from typing import Any, NoReturn

import typer
from rich.console import Console

from relaygate.cli.common import console, emit, settings_from
from relaygate.cli.text import say
from relaygate.core.clock import now_ms, parse_future, parse_time

err_console = Console(stderr=True)
_NEVER = {"", "never", "none", "no"}


def text(key: str, **params: Any) -> str:
    return say(settings_from(), key, **params)


def tell(key: str, style: str = "green", **params: Any) -> None:
    """Print one localized line; user-supplied values are never read as markup."""
    console.print(text(key, **params), style=style, markup=False, highlight=False, soft_wrap=True)


def fail(key: str, **params: Any) -> NoReturn:
    """Print a localized error the way run_with_engine does and exit with code 2."""
    console.print(text("error", message=text(key, **params)), style="red", markup=False, highlight=False,
                  soft_wrap=True)
    raise typer.Exit(2)


def split_list(raw: str | None) -> list[str] | None:
    """'a, b,,c' -> ['a', 'b', 'c']; None stays None (option not given); '' gives []."""
    if raw is None:
        return None
    return [part.strip() for part in raw.split(",") if part.strip()]


def model_map(raw: str | None) -> dict[str, str] | None:
    """'pub=upstream,other' -> {'pub': 'upstream', 'other': 'other'}."""
    if raw is None:
        return None
    out: dict[str, str] = {}
    for part in raw.split(","):
        if not part.strip():
            continue
        public, _, upstream = part.partition("=")
        if not public.strip():
            fail("models.invalid", value=raw)
        out[public.strip()] = upstream.strip() or public.strip()
    return out


def expiry(raw: str | None) -> int | None:
    """An expiry from '30d' (from now), an ISO date/time, or epoch ms; refuses the past."""
    if raw is None or raw.strip().lower() in _NEVER:
        return None
    try:
        when = parse_future(raw)
    except ValueError:
        fail("expiry.invalid", value=raw)
    if when <= now_ms():
        fail("expiry.past", value=raw)
    return when


def moment(raw: str | None) -> int | None:
    """A search bound: '1h' (ago), an ISO date/time (UTC when no zone), or epoch ms."""
    if raw is None:
        return None
    try:
        return parse_time(raw)
    except ValueError:
        fail("time.invalid", value=raw)


def show(view: dict[str, Any], as_json: bool, title: str | None = None) -> None:
    """One record: JSON for scripts, or a two-column field/value table for people."""
    if as_json:
        emit(view, [], True)
        return
    rows: list[dict[str, Any]] = []
    for field, value in view.items():
        if isinstance(value, dict) and value and all(isinstance(v, str | int | float | None)
                                                     for v in value.values()) and field != "models":
            rows.extend({"field": f"{field}.{k}", "value": v} for k, v in value.items())
        else:
            rows.append({"field": field, "value": value})
    emit(rows, ["field", "value"], False, title)


def json_option() -> Any:
    return typer.Option(False, "--json", help="Print JSON instead of a table (for scripts).")
