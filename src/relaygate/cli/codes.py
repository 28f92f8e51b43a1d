"""`relaygate codes`: redemption code batches (create, list, disable) and redeeming one for an owner."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from relaygate.cli.common import console, emit, run_with_engine, settings_from
from relaygate.cli.helpers import expiry, json_option, show
from relaygate.core.money import MoneyError, parse_amount

if TYPE_CHECKING:  # the services (and SQLAlchemy) load when a command runs, not for --help
    from relaygate.services.operate.codes import RedemptionCodes

codes_app = typer.Typer(help="Redemption codes: batches operators hand out, redeemed into an owner's balance.",
                        no_args_is_help=True)

MESSAGES: dict[str, tuple[str, str]] = {
    "created": ("{count} code(s) of {amount} each, batch {batch}. Shown once: store them now.",
                "已创建 {count} 个兑换码，每个 {amount}，批次 {batch}。只显示这一次，请立即保存。"),
    "bad_amount": ("'{amount}' is not an amount.", "'{amount}' 不是有效金额。"),
    "exported": ("{count} code(s) of {amount} each, batch {batch}, written to {path} (CSV). Keep the file safe: "
                 "the codes are not stored anywhere else.",
                 "已创建 {count} 个兑换码，每个 {amount}，批次 {batch}，已写入 {path}（CSV）。请妥善保管该文件："
                 "兑换码不会保存在其他地方。"),
}


def say(key: str, **params: Any) -> str:
    en, zh = MESSAGES[key]
    return (zh if settings_from().lang_code() == "zh-CN" else en).format(**params)


def _codes(engine: Any) -> RedemptionCodes:
    from relaygate.services.operate.codes import RedemptionCodes

    return RedemptionCodes(engine, settings_from().currency)


@codes_app.command("create")
def create(amount: str = typer.Option(..., "--amount", help="Credit per code, e.g. 10."),
           count: int = typer.Option(1, "--count", help="How many codes (1-10000)."),
           uses: int = typer.Option(1, "--uses", help="How many owners may redeem each code (1: single use)."),
           name: str = typer.Option(..., "--name", help="What the batch is for (shown on statements)."),
           expires: str = typer.Option(None, "--expires", help="When codes stop redeeming: 30d, 12h or a date."),
           output: Path = typer.Option(None, "--output", "-o",
                                       help="Export the codes to this CSV file instead of printing them."),
           as_json: bool = json_option()) -> None:
    """Create a batch of codes; the codes are printed (or exported with --output) once."""
    try:
        nanos = parse_amount(amount)
    except MoneyError:
        console.print(say("bad_amount", amount=amount), style="red", markup=False)
        raise typer.Exit(2) from None
    batch = run_with_engine(lambda e: _codes(e).create_batch(name, nanos, count, expiry(expires), "cli",
                                                                     uses=uses))
    if output is not None:
        from relaygate.services.operate.codes import batch_csv

        output.touch(mode=0o600)  # a new file is readable by its owner only, before a code is in it
        output.write_text(batch_csv(batch), encoding="utf-8")
        console.print(say("exported", count=count, amount=batch["amount_text"], batch=batch["batch"], path=output),
                      style="green", markup=False)
        return
    if as_json:
        show(batch, True)
        return
    console.print(say("created", count=count, amount=batch["amount_text"], batch=batch["batch"]), style="green",
                  markup=False)
    for code in batch["codes"]:
        console.print(code, markup=False, highlight=False)


@codes_app.command("list")
def list_codes(status: str = typer.Option(None, "--status", help="unused, used or disabled."),
               batch: str = typer.Option(None, "--batch", help="Only this batch."),
               as_json: bool = json_option()) -> None:
    """List codes (masked) with their state."""
    emit(run_with_engine(lambda e: _codes(e).list_codes(status, batch)),
         ("id", "code", "name", "amount_text", "status", "expires_at", "redeemed_at", "batch"), as_json)


@codes_app.command("disable")
def disable(code_id: str = typer.Argument(..., help="Code id (from codes list).")) -> None:
    """Disable an unused code."""
    show(run_with_engine(lambda e: _codes(e).disable(code_id)), False)


@codes_app.command("redeem")
def redeem(code: str = typer.Argument(..., help="The code."),
           owner: str = typer.Option(..., "--owner", help="Owner id or name to credit."),
           as_json: bool = json_option()) -> None:
    """Redeem a code for an owner (as support would for a caller)."""

    from relaygate.services.operate.accounts import AccountsAdmin

    async def go(engine: Any) -> dict[str, Any]:
        async with engine.connect() as conn:
            row = await AccountsAdmin(engine).resolve_owner(conn, owner)
        return await _codes(engine).redeem(row.id, code, "cli")

    show(run_with_engine(go), as_json)
