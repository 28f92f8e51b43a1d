"""`relaygate logs search|tail`: find usage records for support, or follow them as they arrive."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import orjson
import typer

from relaygate.cli.common import console, emit, run_with_engine
from relaygate.cli.helpers import err_console, json_option, moment, tell, text
from relaygate.core.errors import InvalidInput

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

logs_app = typer.Typer(help="Usage records: one per request, never with prompts unless enabled.",
                       no_args_is_help=True)

LOG_COLUMNS = ("id", "time", "request_id", "masked_key", "requested_model", "channel_id", "status",
               "error_code", "total_tokens", "latency_ms")

_KEY_HELP = "Key id, masked form (sk-abcd…wxyz) or full key."
_OWNER_HELP = "Owner id or name."


async def _resolve(engine: AsyncEngine, key: str | None, owner: str | None) -> tuple[str | None, str | None]:
    """Key and owner ids; ids of deleted keys and owners are taken as given so old records stay findable."""
    from relaygate.services.operate.accounts import AccountsAdmin

    accounts = AccountsAdmin(engine)
    key_id = owner_id = None
    async with engine.connect() as conn:
        if key is not None:
            try:
                key_id = (await accounts.resolve_key(conn, key)).id
            except InvalidInput:
                if not key.startswith("key_"):
                    raise
                key_id = key
        if owner is not None:
            try:
                owner_id = (await accounts.resolve_owner(conn, owner)).id
            except InvalidInput:
                if not owner.startswith("own_"):
                    raise
                owner_id = owner
    return key_id, owner_id


@logs_app.command("search")
def logs_search(key: str = typer.Option(None, help=_KEY_HELP),
                owner: str = typer.Option(None, help=_OWNER_HELP),
                model: str = typer.Option(None, help="Requested or upstream model name."),
                status: int = typer.Option(None, help="HTTP status returned to the caller."),
                errors: bool = typer.Option(False, "--errors", help="Only failed requests."),
                code: str = typer.Option(None, help="Error code, e.g. upstream_timeout."),
                request_id: str = typer.Option(None, help="One request id (from a caller's error)."),
                since: str = typer.Option(None, help="From: 15m / 2h / 7d ago, or an ISO time (UTC)."),
                until: str = typer.Option(None, help="Until (exclusive): same forms as --since."),
                limit: int = typer.Option(50, min=1, max=1000, help="Most records to show, newest first."),
                as_json: bool = json_option()) -> None:
    """Search usage records, newest first."""
    since_ms, until_ms = moment(since), moment(until)

    async def go(engine: AsyncEngine) -> list[dict[str, Any]]:
        from relaygate.services.operate.usage import UsageFilter, UsageQuery

        key_id, owner_id = await _resolve(engine, key, owner)
        flt = UsageFilter(key_id, owner_id, model, status, errors, code, request_id, since_ms, until_ms)
        return await UsageQuery(engine).search(flt, limit)

    rows = run_with_engine(go)
    if not rows and not as_json:
        tell("logs.none", style="yellow")
        return
    emit(rows, LOG_COLUMNS, as_json)


def _line(row: dict[str, Any]) -> str:
    model = row["requested_model"] or "-"
    if row["upstream_model"] and row["upstream_model"] != row["requested_model"]:
        model += f"→{row['upstream_model']}"
    return (f"{row['time']}  {row['request_id']}  {row['masked_key'] or '-'}  {model}  {row['status']}"
            f"{' ' + row['error_code'] if row['error_code'] else ''}  {row['total_tokens']} tok  "
            f"{row['latency_ms']} ms  ch={row['channel_id'] if row['channel_id'] is not None else '-'}")


@logs_app.command("tail")
def logs_tail(interval: float = typer.Option(1.0, min=0.01, help="Seconds between checks for new records."),
              last: int = typer.Option(0, min=0, max=1000, help="First print this many recent records."),
              count: int = typer.Option(None, min=1, help="Stop after printing this many records."),
              key: str = typer.Option(None, help=_KEY_HELP),
              owner: str = typer.Option(None, help=_OWNER_HELP),
              model: str = typer.Option(None, help="Requested or upstream model name."),
              errors: bool = typer.Option(False, "--errors", help="Only failed requests."),
              as_json: bool = typer.Option(False, "--json", help="One JSON object per line.")) -> None:
    """Print usage records as they are written (Ctrl-C stops)."""
    def out(row: dict[str, Any]) -> None:
        if as_json:
            sys.stdout.write(orjson.dumps(row).decode() + "\n")
            sys.stdout.flush()
        else:
            console.print(_line(row), markup=False, highlight=False, soft_wrap=True)

    async def follow(engine: AsyncEngine) -> None:
        from relaygate.services.operate.usage import UsageFilter, UsageQuery

        key_id, owner_id = await _resolve(engine, key, owner)
        flt = UsageFilter(key_id, owner_id, model, errors_only=errors)
        query = UsageQuery(engine)
        recent = await query.search(flt, limit=max(last, 1))
        last_id = recent[0]["id"] if recent else 0
        shown = 0
        for row in reversed(recent[:last]):
            out(row)
            shown += 1
            if count is not None and shown >= count:
                return
        while True:
            rows = await query.search(flt, limit=1000, after_id=last_id)
            for row in rows:
                out(row)
                last_id = row["id"]
                shown += 1
                if count is not None and shown >= count:
                    return
            if not rows:
                import asyncio

                await asyncio.sleep(interval)

    err_console.print(text("logs.following"), markup=False, highlight=False, soft_wrap=True)
    try:
        run_with_engine(follow)
    except KeyboardInterrupt:
        pass
