"""`relaygate alerts`: budget alert rules (balance below, percent of a key cap) and the events they raised."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from relaygate.cli.common import emit, run_with_engine, settings_from
from relaygate.cli.helpers import json_option, show, tell

if TYPE_CHECKING:
    from relaygate.services.operate.alerts import AlertsAdmin

alerts_app = typer.Typer(help="Budget alerts: thresholds on balances and key caps.", no_args_is_help=True)


def _admin(engine: Any) -> AlertsAdmin:
    from relaygate.services.operate.alerts import AlertsAdmin

    return AlertsAdmin(engine, settings_from().currency)


@alerts_app.command("add")
def add(owner: str = typer.Option(None, "--owner", help="Owner id or name (with --balance-below)."),
        balance_below: str = typer.Option(None, "--balance-below", help="Alert when the balance falls below."),
        key: str = typer.Option(None, "--key", help="Key id (with --cap-percent)."),
        cap_percent: int = typer.Option(None, "--cap-percent", help="Alert at this percent of a key cap."),
        cap: str = typer.Option(None, "--cap", help="total, daily or monthly (default: every cap)."),
        as_json: bool = json_option()) -> None:
    """Add an alert rule."""
    rule = run_with_engine(lambda e: _admin(e).add_rule(owner=owner, key=key, balance_below=balance_below,
                                                        cap_percent=cap_percent, cap=cap))
    show(rule, as_json)


@alerts_app.command("list")
def list_rules(as_json: bool = json_option()) -> None:
    """List alert rules."""
    emit(run_with_engine(lambda e: _admin(e).list_rules()), ("id", "scope", "target", "kind", "threshold", "cap"),
         as_json)


@alerts_app.command("delete")
def delete(rule_id: int) -> None:
    """Delete an alert rule."""
    run_with_engine(lambda e: _admin(e).delete_rule(rule_id))
    tell("deleted", what="alert", ident=str(rule_id))


@alerts_app.command("events")
def events(limit: int = typer.Option(50, help="How many, newest first."), as_json: bool = json_option()) -> None:
    """Alerts raised so far, newest first, and whether the webhook accepted them."""
    emit(run_with_engine(lambda e: _admin(e).events(limit)), ("id", "time", "kind", "target", "message",
                                                              "delivered"), as_json)
