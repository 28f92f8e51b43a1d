"""`relaygate balance|prices` and `groups terms`: balances, top-ups, statements, the price list, group terms."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from relaygate.cli.accounts import groups_app
from relaygate.cli.common import emit, run_with_engine, settings_from
from relaygate.cli.helpers import fail, json_option, moment, show, split_list, tell, text
from relaygate.core.money import MoneyError, format_amount, parse_amount, plain_amount

if TYPE_CHECKING:  # SQLAlchemy and the services load when a command runs: `relaygate balance …` starts fast
    from sqlalchemy.ext.asyncio import AsyncEngine

    from relaygate.services.operate.pricing import PricingAdmin

balance_app = typer.Typer(help="Owner balances: show, top up, adjust, statements, reconciliation.",
                          no_args_is_help=True)
prices_app = typer.Typer(help="The price list: per 1M tokens, per request, or free.", no_args_is_help=True)

PRICE_COLUMNS = ("model", "kind", "input_per_m", "cached_input_per_m", "output_per_m", "per_request",
                 "max_output_tokens", "updated_at")
CHECK_COLUMNS = ("owner", "owner_id", "stored_balance", "entries_balance", "stored_held", "entries_held", "ok")
STATEMENT_FORMATS = ("md", "csv", "json")
CLEARABLE_TERMS = ("rpm", "tpm", "concurrency")

_KIND_TEXT = {"free": "price.kind.free", "per request": "price.kind.request", "per 1M tokens": "price.kind.tokens"}
_OWNER_HELP = "Owner id or name."
_AMOUNT_HELP = "Decimal amount in the configured currency, e.g. 10 or 12.50."


def _currency() -> str:
    return settings_from().currency


def _money(nanos: int) -> str:
    return format_amount(nanos, _currency())


def _amount(raw: str) -> int:
    """A decimal string to nanos, or a readable bilingual error (exit 2)."""
    try:
        return parse_amount(raw)
    except MoneyError:
        fail("amount.invalid", value=raw)


def _actor(by: str | None) -> str:
    return by or os.environ.get("USER") or "cli"


async def _balance(engine: AsyncEngine, owner: str) -> dict[str, Any]:
    """Balance, held and available of an owner as materialised in the ``balances`` table."""
    from sqlalchemy import select

    from relaygate.services.operate.accounts import AccountsAdmin
    from relaygate.store import tables as t

    async with engine.connect() as conn:
        row = await AccountsAdmin(engine).resolve_owner(conn, owner)
        bal = (await conn.execute(select(t.balances).where(t.balances.c.owner_id == row.id))).first()
    balance, held = (int(bal.balance), int(bal.held)) if bal is not None else (0, 0)
    return {"owner_id": row.id, "owner": row.name, "currency": _currency(), "balance": balance, "held": held,
            "available": balance - held}


def _balance_json(view: dict[str, Any]) -> dict[str, Any]:
    out = dict(view)
    for field in ("balance", "held", "available"):
        out[field] = plain_amount(view[field])
        out[f"{field}_text"] = _money(view[field])
    return out


# --- balance --------------------------------------------------------------------------------


@balance_app.command("show")
def balance_show(owner: str = typer.Argument(..., metavar="OWNER", help=_OWNER_HELP),
                 as_json: bool = json_option()) -> None:
    """Balance, amount held for requests in flight, and what is available."""
    view = run_with_engine(lambda engine: _balance(engine, owner))
    if as_json:
        emit(_balance_json(view), [], True)
        return
    rows = [{"field": text(f"balance.{f}"), "value": _money(view[f])} for f in ("balance", "held", "available")]
    tell("balance.title", style="bold", owner=view["owner"], ident=view["owner_id"])
    emit(rows, ["field", "value"], False)


def _record(owner: str, kind: str, amount: int, reason: str, by: str | None, ref: str | None,
            as_json: bool) -> None:
    async def go(engine: AsyncEngine) -> tuple[dict[str, Any], dict[str, Any]]:
        from relaygate.services.operate.balances import LedgerAdmin

        done = await LedgerAdmin(engine, _currency()).record(owner, kind, amount, reason, _actor(by), ref)
        return done, await _balance(engine, owner)

    done, view = run_with_engine(go)
    if as_json:
        emit({**done, "amount": plain_amount(amount), "ref": ref, "balance_after": _balance_json(view)}, [], True)
        return
    tell("balance.topped_up" if kind == "topup" else "balance.adjusted", owner=done["owner"],
         amount=_money(amount), reason=done["reason"], balance=_money(view["balance"]))


@balance_app.command("topup", context_settings={"ignore_unknown_options": True})
def balance_topup(owner: str = typer.Argument(..., metavar="OWNER", help=_OWNER_HELP),
                  amount: str = typer.Argument(..., metavar="AMOUNT", help=_AMOUNT_HELP),
                  reason: str = typer.Option(..., help="Why (kept in the ledger and on statements)."),
                  by: str = typer.Option(None, help="Who made the change (default: $USER or 'cli')."),
                  ref: str = typer.Option(None, help="Payment reference, e.g. an invoice number."),
                  as_json: bool = json_option()) -> None:
    """Add money to an owner's balance (a 'topup' ledger entry)."""
    _record(owner, "topup", _amount(amount), reason, by, ref, as_json)


@balance_app.command("adjust", context_settings={"ignore_unknown_options": True})
def balance_adjust(owner: str = typer.Argument(..., metavar="OWNER", help=_OWNER_HELP),
                   amount: str = typer.Argument(..., metavar="AMOUNT", help="Signed decimal amount: 5 adds, "
                                                                           "-2.50 takes away."),
                   reason: str = typer.Option(..., help="Why (kept in the ledger and on statements)."),
                   by: str = typer.Option(None, help="Who made the change (default: $USER or 'cli')."),
                   ref: str = typer.Option(None, help="Reference, e.g. a support ticket."),
                   as_json: bool = json_option()) -> None:
    """Correct an owner's balance up or down (an 'adjustment' ledger entry)."""
    _record(owner, "adjustment", _amount(amount), reason, by, ref, as_json)


@balance_app.command("statement")
def balance_statement(subject: str = typer.Argument(..., metavar="OWNER|KEY",
                                                    help="Owner id or name, or key id / masked form."),
                      since: str = typer.Option(None, "--from", help="Start: ISO date/time (UTC) or 7d (ago)."),
                      until: str = typer.Option(None, "--to", help="End (exclusive): ISO date/time or 1d (ago)."),
                      fmt: str = typer.Option("md", "--format", help="md (readable), csv or json."),
                      output: Path = typer.Option(None, "--output", "-o", help="Write to this file.")) -> None:
    """Opening balance, every top-up and adjustment, usage by day/model/key, closing balance."""
    if fmt not in STATEMENT_FORMATS:
        fail("format.invalid", value=fmt, known=", ".join(STATEMENT_FORMATS))
    from_ms, to_ms = moment(since), moment(until)
    settings = settings_from()
    from relaygate.services.operate.statements import build_statement, render_statement

    statement = run_with_engine(lambda engine: build_statement(engine, subject, from_ms, to_ms, settings.currency))
    rendered = render_statement(statement, fmt, settings.lang_code())
    if output is None:
        sys.stdout.write(rendered if rendered.endswith("\n") else rendered + "\n")
        return
    try:
        output.write_text(rendered if rendered.endswith("\n") else rendered + "\n", encoding="utf-8")
    except OSError as exc:
        fail("file.unwritable", path=str(output), reason=exc.strerror or str(exc))
    tell("statement.written", path=str(output))


@balance_app.command("check")
def balance_check_cmd(as_json: bool = json_option()) -> None:
    """Reconcile every owner's stored balance and held amount with the sum of its ledger entries,
    and find holds that no running request owns and journals not replayed (left by a process that
    was killed)."""
    settings = settings_from()

    async def go(engine: AsyncEngine) -> tuple[list[dict[str, Any]], list[Any], dict[str, str]]:
        from relaygate.services.operate.accounts import AccountsAdmin
        from relaygate.services.operate.statements import balance_check, stale_holds_check

        names = {o["id"]: o["name"] for o in await AccountsAdmin(engine).list_owners()}
        rows = [{**row, "owner": names.get(row["owner_id"], row["owner_id"])} for row in await balance_check(engine)]
        stale = await stale_holds_check(engine, settings.data_path / "spool", settings.instance_stale_seconds)
        return rows, stale, names

    rows, stale, names = run_with_engine(go)
    from relaygate.services.operate.statements import journals_check  # loaded by go() already

    journals = journals_check(settings.data_path / "spool")
    bad = [r for r in rows if not r["ok"]]
    amounts = ("stored_balance", "entries_balance", "stored_held", "entries_held")
    if as_json:
        emit({"ok": not bad and not stale and not journals,
              "owners": [{**r, **{f: plain_amount(r[f]) for f in amounts}} for r in rows],
              "stale_holds": [{"request_id": h.request_id, "owner_id": h.owner_id, "key_id": h.key_id,
                               "held": plain_amount(h.held), "since": h.created_at, "instance": h.instance}
                              for h in stale],
              "unreplayed_journals": [{"instance": j.instance, "records": j.records, "running_streams": j.streams}
                                      for j in journals]}, [], True)
    else:
        cur = _currency()
        for r in bad:  # to the nano: a difference smaller than a cent still shows
            exact = {f: format_amount(r[f], cur, places=9) for f in amounts}
            tell("balance.mismatch", style="red", owner=r["owner"], ident=r["owner_id"],
                 stored=exact["stored_balance"], stored_held=exact["stored_held"],
                 entries=exact["entries_balance"], entries_held=exact["entries_held"])
        for h in stale:
            tell("balance.stale_hold", style="red", request_id=h.request_id,
                 owner=names.get(h.owner_id, h.owner_id), amount=format_amount(h.held, cur, places=9),
                 instance=h.instance or "?")
        for j in journals:
            tell("balance.unreplayed", style="red", instance=j.instance, records=j.records, streams=j.streams)
        if not bad and not stale and not journals:
            tell("balance.reconciled" if rows else "balance.nothing", count=len(rows))
    if bad or stale or journals:
        raise typer.Exit(1)


# --- prices ---------------------------------------------------------------------------------


def _pricing(engine: AsyncEngine) -> PricingAdmin:
    from relaygate.services.operate.pricing import PricingAdmin

    return PricingAdmin(engine, _currency())


def _price_summary(view: dict[str, Any]) -> str:
    cur = _currency()

    def money(value: str | None) -> str:
        return format_amount(parse_amount(value or "0"), cur)

    if view["free"]:
        return text("price.free")
    if view["per_request"] is not None:
        return text("price.per_request", amount=money(view["per_request"]))
    summary = text("price.tokens", input=money(view["input_per_m"]), output=money(view["output_per_m"]))
    if view["cached_input_per_m"] is not None:
        summary += text("price.cached", cached=money(view["cached_input_per_m"]))
    return summary


def _price_row(view: dict[str, Any]) -> dict[str, Any]:
    """Formatted amounts for people; a price that does not apply shows as '-'."""
    cur = _currency()
    row = dict(view)
    row["kind"] = text(_KIND_TEXT.get(view["kind"], "price.kind.tokens"))
    for field in ("input_per_m", "cached_input_per_m", "output_per_m", "per_request"):
        value = view[field]
        applies = not view["free"] and (field == "per_request") == (view["per_request"] is not None)
        row[field] = format_amount(parse_amount(value), cur) if value is not None and applies else None
    return row


@prices_app.command("list")
def prices_list(as_json: bool = json_option()) -> None:
    """List model prices (per 1M tokens unless per request or free)."""
    rows = run_with_engine(lambda engine: _pricing(engine).list_prices())
    if as_json:
        emit(rows, PRICE_COLUMNS, True)
        return
    if not rows:
        tell("prices.none", style="yellow")
        return
    emit([_price_row(r) for r in rows], PRICE_COLUMNS, False)


@prices_app.command("set")
def prices_set(model: str = typer.Argument(..., help="Public model name."),
               input_price: str = typer.Option(None, "--input", help="Price per 1M input tokens, e.g. 0.15."),
               output_price: str = typer.Option(None, "--output", help="Price per 1M output tokens, e.g. 0.60."),
               cached_input: str = typer.Option(None, help="Price per 1M cached input tokens (default: --input)."),
               per_request: str = typer.Option(None, help="A fixed price per request instead of per token."),
               free: bool = typer.Option(False, "--free", help="The model costs nothing."),
               max_output_tokens: int = typer.Option(None, help="Completion tokens to hold for when the caller "
                                                                "sends no max_tokens."),
               as_json: bool = json_option()) -> None:
    """Set (or replace) the price of a model."""
    view = run_with_engine(lambda engine: _pricing(engine).set_price(
        model, input_per_m=input_price, output_per_m=output_price, cached_input_per_m=cached_input,
        per_request=per_request, free=free, max_output_tokens=max_output_tokens))
    if as_json:
        show(view, True)
        return
    tell("price.saved", model=view["model"], summary=_price_summary(view))


@prices_app.command("delete")
def prices_delete(model: str = typer.Argument(..., help="Public model name.")) -> None:
    """Remove a model's price (the model is then unpriced: see RELAYGATE_UNPRICED_MODELS)."""
    run_with_engine(lambda engine: _pricing(engine).delete_price(model))
    tell("price.deleted", model=model)


# --- group terms ----------------------------------------------------------------------------


@groups_app.command("terms")
def groups_terms(name: str = typer.Argument(..., help="Group name."),
                 multiplier: str = typer.Option(None, help="Price multiplier: 0.8 is 20% off, 1.5 is 50% more."),
                 rpm: int = typer.Option(None, help="Requests per minute per key in the group."),
                 tpm: int = typer.Option(None, help="Tokens per minute per key in the group."),
                 concurrency: int = typer.Option(None, help="Requests in flight at once per key."),
                 clear: str = typer.Option(None, help="Comma-separated limits to remove: rpm, tpm, concurrency."),
                 as_json: bool = json_option()) -> None:
    """Set a group's price multiplier and rate limits."""
    cleared = tuple(split_list(clear) or ())
    unknown = [c for c in cleared if c not in CLEARABLE_TERMS]
    if unknown:
        fail("terms.clear_invalid", value=", ".join(unknown), known=", ".join(CLEARABLE_TERMS))
    both = [f for f, v in (("rpm", rpm), ("tpm", tpm), ("concurrency", concurrency)) if v is not None and f in cleared]
    if both:
        fail("terms.set_and_clear", value=", ".join(both))
    if multiplier is None and rpm is None and tpm is None and concurrency is None and not cleared:
        fail("update.nothing")
    view = run_with_engine(lambda engine: _pricing(engine).set_group_terms(
        name, multiplier=multiplier, rpm=rpm, tpm=tpm, concurrency=concurrency, clear=cleared))
    if as_json:
        show(view, True)
        return
    none = text("unlimited")
    tell("terms.saved", name=view["name"], multiplier=view["multiplier"], rpm=view["rpm"] or none,
         tpm=view["tpm"] or none, concurrency=view["concurrency"] or none)
