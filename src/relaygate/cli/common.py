"""Shared CLI plumbing: settings, running services on the database, tables or JSON output."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import typer
from rich.console import Console

from relaygate.core.errors import InvalidInput
from relaygate.core.settings import Settings

T = TypeVar("T")
console = Console()


INIT: dict[str, bool] = {"init": False}  # `relaygate --init …`: this run may create a new, empty database


def settings_from(**overrides: Any) -> Settings:
    if INIT["init"]:
        overrides.setdefault("init", True)
    return Settings.from_env(**overrides)


def refuse_new_database(settings: Settings) -> None:
    """A command about to create an empty SQLite database stops and says where it looked (unless --init)."""
    path = settings.sqlite_path()
    if path is not None and not settings.init and (not path.exists() or path.stat().st_size == 0):
        _refuse(settings, str(path))


async def refuse_empty_server(settings: Settings, engine: Any) -> None:
    """A PostgreSQL/MariaDB database without relaygate's tables is refused like a missing SQLite file."""
    if not settings.database_url.startswith("sqlite") and not settings.init:
        from relaygate.store.db import current_revision

        if await current_revision(engine) is None:
            _refuse(settings, settings.database_url.rpartition("@")[2])


def _refuse(settings: Settings, where: str) -> None:
    from relaygate.cli.text import say

    console.print(say(settings, "db.missing", path=where), style="red", markup=False, highlight=False,
                  soft_wrap=True)
    raise typer.Exit(2)


UNREACHABLE: dict[str, bool] = {"hit": False}  # the database could not be reached: the audit hook keeps quiet


def run_db(settings: Settings, make: Callable[[], Awaitable[T]]) -> T:
    """``asyncio.run(make())`` for a command: a refusal it raises (InvalidInput, a secrets key it lacks)
    and a database it cannot reach (absent, refused, wrong password) become one line and exit code 2."""
    import asyncio  # loaded by the commands that run, not by --help

    try:
        return asyncio.run(make())  # type: ignore[arg-type]
    except Exception as exc:
        line = _one_line(exc, settings)
        if line is None:
            raise
        # on standard output, where the CLI has always said its refusals (scripts and tests read them there)
        console.print(line, style="red", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _one_line(exc: Exception, settings: Settings) -> str | None:
    from relaygate.cli.text import say
    from relaygate.core.secrets import SecretsKeyError

    if isinstance(exc, (InvalidInput, SecretsKeyError)):
        return say(settings, "error", message=exc.message(settings.lang_code()))
    from relaygate.cli.dbreach import explain

    line = explain(exc, settings)
    if line is not None:
        UNREACHABLE["hit"] = True
    return line


def run_with_engine(fn: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``fn(engine)`` against the configured database (migrated first); print InvalidInput nicely."""
    from relaygate.store.db import make_engine, upgrade
    from relaygate.store.secret_rows import prepare_secrets

    settings = settings_from()
    refuse_new_database(settings)

    async def go() -> T:
        engine = make_engine(settings.database_url)
        try:
            await refuse_empty_server(settings, engine)
            if settings.auto_migrate:
                await upgrade(engine)
            await prepare_secrets(engine, settings.secrets_key, settings.secrets_key_file, str(settings.data_path))
            return await fn(engine)
        finally:
            await engine.dispose()

    return run_db(settings, go)


def emit(rows: Sequence[dict[str, Any]] | dict[str, Any], columns: Sequence[str], as_json: bool,
         title: str | None = None) -> None:
    """Print rows as a Rich table, or as JSON for scripts."""
    if as_json:
        from relaygate.store.wide import dumps as wide_dumps  # loads SQLAlchemy: only when JSON is asked for

        sys.stdout.write(wide_dumps(rows, indent=True) + "\n")  # wide balances too
        return
    from rich.table import Table

    items = [rows] if isinstance(rows, dict) else list(rows)
    zh = settings_from().lang_code() == "zh-CN"
    if zh:
        from relaygate.cli.i18n import header, value

    # to a pipe or a file, keep whole names: no squeezing into 80 columns (a terminal keeps its width)
    out = console if console.is_terminal else Console(width=100_000, soft_wrap=True)
    table = Table(title=title)
    for col in columns:
        table.add_column(header(col) if zh else col)
    for row in items:
        cells = [_cell(row.get(col)) for col in columns]
        table.add_row(*([value(c) for c in cells] if zh else cells))
    out.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{k}→{v}" if k != v else str(k) for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)
