"""`relaygate config export|apply`: routing configuration (groups, models, channels) as reviewable YAML."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from relaygate.cli.common import console, emit, run_with_engine
from relaygate.cli.helpers import fail, json_option, tell

if TYPE_CHECKING:  # the services (and SQLAlchemy) load when a command runs, not for --help
    from sqlalchemy.ext.asyncio import AsyncEngine

    from relaygate.services.operate.config import ApplyReport

config_app = typer.Typer(help="Routing configuration as YAML: export, review, apply. Keys are never included.",
                         no_args_is_help=True)


@config_app.command("export")
def config_export(output: Path = typer.Option(None, "--output", "-o", help="Write to this file (default: "
                                                                           "standard output).")) -> None:
    """Export groups, models and channels (secrets masked) as YAML."""
    from relaygate.services.operate.config import dump_yaml, export_config

    async def go(engine: AsyncEngine) -> str:
        return dump_yaml(await export_config(engine))

    document = run_with_engine(go)
    if output is None:
        sys.stdout.write(document)
        return
    try:
        output.write_text(document, encoding="utf-8")
    except OSError as exc:
        fail("file.unwritable", path=str(output), reason=exc.strerror or str(exc))
    tell("config.written", path=str(output))


@config_app.command("apply")
def config_apply(file: str = typer.Argument(..., metavar="FILE", help="YAML file, or '-' for standard input."),
                 dry_run: bool = typer.Option(False, "--dry-run", help="Show the changes, make none."),
                 prune: bool = typer.Option(False, "--prune", help="Also delete channels and models the "
                                                                  "file does not mention."),
                 as_json: bool = json_option()) -> None:
    """Bring the routing configuration to what FILE says, in one transaction; prints the changes."""
    try:
        document = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        fail("file.unreadable", path=file, reason=reason)
    from relaygate.providers import protocols
    from relaygate.services.operate.config import apply_config, parse_document

    async def go(engine: AsyncEngine) -> ApplyReport:
        return await apply_config(engine, protocols(), parse_document(document), dry_run=dry_run, prune=prune)

    report = run_with_engine(go)
    if as_json:
        emit({"applied": report.applied, "dry_run": dry_run, "changes": report.changes}, [], True)
        return
    if not report.changes:
        tell("config.nochange")
        return
    tell("config.dry" if dry_run else "config.applied", style="yellow" if dry_run else "green")
    for change in report.changes:
        console.print(f"  - {change}", markup=False, highlight=False, soft_wrap=True)
