"""`relaygate channels|models`: upstream channels with their health, and the public model catalogue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from relaygate.cli.common import emit, run_with_engine
from relaygate.cli.helpers import fail, json_option, model_map, show, split_list, tell, text
from relaygate.providers import protocols
from relaygate.providers.vendors import VENDORS

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from relaygate.services.operate.routing import RoutingAdmin

channels_app = typer.Typer(help="Upstream channels: where requests go, with failover and health.",
                           no_args_is_help=True)
models_app = typer.Typer(help="The public model catalogue: aliases and retired models.", no_args_is_help=True)

CHANNEL_COLUMNS = ("id", "name", "models", "priority", "weight", "enabled", "state", "reason",
                   "cooldown_until")
HEALTH_COLUMNS = ("id", "name", "enabled", "state", "consecutive_failures", "reason", "cooldown_until",
                  "updated_at")
MODEL_COLUMNS = ("name", "aliases", "status", "replacement", "channels", "description")

_SECRET_HELP = "Upstream API key; repeat for several (they are rotated). Listed masked only."
_MODELS_HELP = "Models served: 'public=upstream,other' (a bare name is served under the same name)."
_VENDOR_HELP = f"Fill the base URL and protocol of a known vendor: {', '.join(VENDORS)}."
_GROUPS_HELP = "Comma-separated key groups allowed to use the channel (omit or '' for every group)."


def _routing(engine: AsyncEngine) -> RoutingAdmin:
    from relaygate.services.operate.routing import RoutingAdmin

    return RoutingAdmin(engine, protocols())


def _health_row(view: dict[str, Any]) -> dict[str, Any]:
    health = view["health"]
    return {**view, "state": health["state"], "consecutive_failures": health["consecutive_failures"],
            "reason": view["disabled_reason"] if not view["enabled"] else health["reason"],
            "cooldown_until": health["cooldown_until"], "updated_at": health["updated_at"]}


def _channel_values(name: str | None, base_url: str | None, secret: list[str] | None, models: str | None,
                    protocol: str | None, vendor: str | None, groups: str | None, priority: int | None,
                    weight: int | None, connect_timeout: float | None, first_byte_timeout: float | None,
                    total_timeout: float | None) -> dict[str, Any]:
    """The options that were given, as service fields; a vendor fills base URL and protocol."""
    if vendor is not None:
        if vendor not in VENDORS:
            fail("vendor.unknown", name=vendor, known=", ".join(VENDORS))
        protocol = protocol or VENDORS[vendor][0]
        base_url = base_url or VENDORS[vendor][1]
    values = {"name": name, "base_url": base_url, "secrets": secret or None, "models": model_map(models),
              "protocol": protocol, "groups": split_list(groups), "priority": priority, "weight": weight,
              "connect_timeout": connect_timeout, "first_byte_timeout": first_byte_timeout,
              "total_timeout": total_timeout}
    return {k: v for k, v in values.items() if v is not None}


@channels_app.command("list")
def channels_list(as_json: bool = json_option()) -> None:
    """List channels with their health state, reason and cool-down."""
    rows = run_with_engine(lambda engine: _routing(engine).list_channels())
    emit(rows if as_json else [_health_row(r) for r in rows], CHANNEL_COLUMNS, as_json)


@channels_app.command("health")
def channels_health(as_json: bool = json_option()) -> None:
    """Health of every channel as last recorded: state, failures, reason, cool-down."""
    rows = [_health_row(r) for r in run_with_engine(lambda engine: _routing(engine).list_channels())]
    if as_json:
        emit([{"id": r["id"], "name": r["name"], "enabled": r["enabled"],
               "disabled_reason": r["disabled_reason"], **r["health"]} for r in rows], HEALTH_COLUMNS, True)
        return
    emit(rows, HEALTH_COLUMNS, False)


@channels_app.command("show")
def channels_show(ident: str = typer.Argument(..., metavar="ID", help="Channel id or name."),
                  as_json: bool = json_option()) -> None:
    """Show one channel (secrets masked)."""
    show(run_with_engine(lambda engine: _routing(engine).get_channel(ident)), as_json)


@channels_app.command("add")
def channels_add(name: str = typer.Option(..., help="Unique channel name."),
                 base_url: str = typer.Option(None, help="Upstream base URL, e.g. https://api.example.com/v1."),
                 secret: list[str] = typer.Option(None, help=_SECRET_HELP),
                 models: str = typer.Option(None, help=_MODELS_HELP),
                 protocol: str = typer.Option(None, help="Upstream protocol (default openai)."),
                 vendor: str = typer.Option(None, help=_VENDOR_HELP),
                 groups: str = typer.Option(None, help=_GROUPS_HELP),
                 priority: int = typer.Option(None, help="Higher is tried first (default 0)."),
                 weight: int = typer.Option(None, help="Share among channels of equal priority (default 1)."),
                 connect_timeout: float = typer.Option(None, help="Seconds (default 10)."),
                 first_byte_timeout: float = typer.Option(None, help="Seconds (default 60)."),
                 total_timeout: float = typer.Option(None, help="Seconds (default 600)."),
                 as_json: bool = json_option()) -> None:
    """Add an upstream channel."""
    values = _channel_values(name, base_url, secret, models, protocol, vendor, groups, priority, weight,
                             connect_timeout, first_byte_timeout, total_timeout)
    view = run_with_engine(lambda engine: _routing(engine).create_channel(**values))
    if as_json:
        show(view, True)
        return
    tell("channel.created", name=view["name"], ident=view["id"])
    show(view, False)


@channels_app.command("update")
def channels_update(ident: str = typer.Argument(..., metavar="ID", help="Channel id or name."),
                    name: str = typer.Option(None, help="New name."),
                    base_url: str = typer.Option(None, help="New upstream base URL."),
                    secret: list[str] = typer.Option(None, help="Replace all secrets; repeat for several."),
                    models: str = typer.Option(None, help=_MODELS_HELP + " Replaces the whole map."),
                    protocol: str = typer.Option(None, help="Upstream protocol."),
                    vendor: str = typer.Option(None, help=_VENDOR_HELP),
                    groups: str = typer.Option(None, help=_GROUPS_HELP),
                    priority: int = typer.Option(None),
                    weight: int = typer.Option(None),
                    connect_timeout: float = typer.Option(None),
                    first_byte_timeout: float = typer.Option(None),
                    total_timeout: float = typer.Option(None),
                    as_json: bool = json_option()) -> None:
    """Change a channel; only the options given change."""
    values = _channel_values(name, base_url, secret, models, protocol, vendor, groups, priority, weight,
                             connect_timeout, first_byte_timeout, total_timeout)
    if not values:
        fail("update.nothing")
    view = run_with_engine(lambda engine: _routing(engine).update_channel(ident, **values))
    if as_json:
        show(view, True)
        return
    tell("channel.updated", name=view["name"])
    show(view, False)


@channels_app.command("disable")
def channels_disable(ident: str = typer.Argument(..., metavar="ID", help="Channel id or name."),
                     reason: str = typer.Option(..., help="Why (shown in listings)."),
                     as_json: bool = json_option()) -> None:
    """Take a channel out of routing."""
    view = run_with_engine(lambda engine: _routing(engine).update_channel(
        ident, enabled=False, disabled_reason=reason))
    if as_json:
        show(view, True)
        return
    tell("channel.disabled", name=view["name"], reason=reason)


@channels_app.command("enable")
def channels_enable(ident: str = typer.Argument(..., metavar="ID", help="Channel id or name."),
                    as_json: bool = json_option()) -> None:
    """Put a channel back into routing and clear its health record."""
    view = run_with_engine(lambda engine: _routing(engine).update_channel(ident, enabled=True))
    if as_json:
        show(view, True)
        return
    tell("channel.enabled", name=view["name"])


@channels_app.command("delete")
def channels_delete(ident: str = typer.Argument(..., metavar="ID", help="Channel id or name.")) -> None:
    """Delete a channel."""
    run_with_engine(lambda engine: _routing(engine).delete_channel(ident))
    tell("deleted", what=text("noun.channel"), ident=ident)


@channels_app.command("test")
def channels_test(ident: str = typer.Argument(None, metavar="[ID]", help="Channel id or name; none: every channel."),
                  model: str = typer.Option(None, help="Only this public model."),
                  as_json: bool = json_option()) -> None:
    """Send one minimal request per served model: status, latency, the answer or the upstream's error."""
    from relaygate.providers import load_providers
    from relaygate.services.operate.channel_test import ChannelTester

    rows = run_with_engine(lambda engine: ChannelTester(engine, load_providers()).test(ident, model))
    emit(rows, ["channel", "model", "ok", "status", "latency_ms", "answer", "error"], as_json)
    if not all(r["ok"] for r in rows):
        raise typer.Exit(1)


# --- models ---------------------------------------------------------------------------------


@models_app.command("list")
def models_list(as_json: bool = json_option()) -> None:
    """List catalogue models and the channels serving each."""
    emit(run_with_engine(lambda engine: _routing(engine).list_models()), MODEL_COLUMNS, as_json)


@models_app.command("add")
def models_add(name: str = typer.Argument(..., help="Public model name."),
               alias: list[str] = typer.Option(None, help="Another name callers may use; repeatable."),
               description: str = typer.Option(None, help="Shown in listings."),
               reasoning: bool = typer.Option(None, "--reasoning/--no-reasoning", help=(
                   "A reasoning model (max_completion_tokens, no sampling knobs) or not (no reasoning_effort) / "
                   "是否为推理模型；不给则保持原值")),
               as_json: bool = json_option()) -> None:
    """Add a model to the catalogue, or replace its aliases and description (marks it active)."""
    caps = None if reasoning is None else {"reasoning": reasoning}
    view = run_with_engine(lambda engine: _routing(engine).upsert_model(name, list(alias or []), "active",
                                                                        None, description, caps))
    if as_json:
        show(view, True)
        return
    tell("model.saved", name=view["name"])


@models_app.command("unsupported")
def models_unsupported(name: str = typer.Argument(..., help="Model to retire."),
                       replacement: str = typer.Option(None, help="Model callers should use instead "
                                                                  "(required)."),
                       as_json: bool = json_option()) -> None:
    """Retire a model: callers asking for it are told which model to use instead."""
    async def go(engine: AsyncEngine) -> dict[str, Any]:
        routing = _routing(engine)
        current = next((m for m in await routing.list_models()
                        if m["name"] == name and not m.get("implicit")), None)
        aliases = current["aliases"] if current else []
        description = current["description"] if current else None
        return await routing.upsert_model(name, aliases, "unsupported", replacement, description)

    view = run_with_engine(go)
    if as_json:
        show(view, True)
        return
    tell("model.unsupported", name=view["name"], replacement=view["replacement"])


@models_app.command("delete")
def models_delete(name: str = typer.Argument(...)) -> None:
    """Remove a model from the catalogue (channels may still serve the name)."""
    run_with_engine(lambda engine: _routing(engine).delete_model(name))
    tell("deleted", what=text("noun.model"), ident=name)
