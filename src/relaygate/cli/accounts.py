"""`relaygate owners|groups|keys`: who holds keys, which models a group may use, and the keys themselves."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from relaygate.cli.common import console, emit, run_with_engine, settings_from
from relaygate.cli.helpers import expiry, fail, json_option, show, split_list, tell, text
from relaygate.core.money import MoneyError, format_amount, parse_amount

if TYPE_CHECKING:  # the services and SQLAlchemy load when a command runs, not for --help
    from sqlalchemy.ext.asyncio import AsyncEngine

    from relaygate.services.operate.accounts import AccountsAdmin


def _accounts(engine: AsyncEngine) -> AccountsAdmin:
    from relaygate.services.operate.accounts import AccountsAdmin

    return AccountsAdmin(engine)


owners_app = typer.Typer(help="People, teams and services that hold keys.", no_args_is_help=True)
groups_app = typer.Typer(help="Key groups and the models each may use.", no_args_is_help=True)
keys_app = typer.Typer(help="Caller API keys (only masked forms are ever listed).", no_args_is_help=True)

OWNER_COLUMNS = ("id", "name", "kind", "email", "keys", "note")
GROUP_COLUMNS = ("name", "models", "description")
KEY_COLUMNS = ("id", "masked", "name", "owner", "group", "environment", "enabled", "expires_at",
               "disabled_reason")

_ENV_HELP = "Environment: production, testing, personal or high-cost."
_EXPIRES_HELP = "Expiry: a duration from now (30d, 12h), an ISO date/time (UTC), or 'never'."
_MODELS_HELP = "Comma-separated models the key may use ('' on update: every model its group allows)."
_NETWORKS_HELP = "Comma-separated CIDRs or addresses the key may be used from ('' on update: any)."
_CAP_HELP = "Most the key may spend {period}, a decimal amount such as 25 ('none' on update: no cap)."
_LIMIT_HELP = "{what} for this key (0 on update: no key limit; group limits still apply)."


# --- owners ---------------------------------------------------------------------------------


@owners_app.command("list")
def owners_list(as_json: bool = json_option()) -> None:
    """List owners with how many keys each holds."""
    emit(run_with_engine(lambda engine: _accounts(engine).list_owners()), OWNER_COLUMNS, as_json)


@owners_app.command("add")
def owners_add(name: str = typer.Argument(..., help="Unique owner name."),
               kind: str = typer.Option("person", help="person, team or service."),
               email: str = typer.Option(None, help="Contact e-mail."),
               note: str = typer.Option(None, help="Free-text note."),
               as_json: bool = json_option()) -> None:
    """Add an owner."""
    view = run_with_engine(lambda engine: _accounts(engine).create_owner(name, kind, email, note))
    if as_json:
        show(view, True)
        return
    tell("owner.created", name=view["name"], ident=view["id"])


@owners_app.command("delete")
def owners_delete(ident: str = typer.Argument(..., metavar="ID_OR_NAME")) -> None:
    """Delete an owner that holds no keys."""
    run_with_engine(lambda engine: _accounts(engine).delete_owner(ident))
    tell("deleted", what=text("noun.owner"), ident=ident)


# --- groups ---------------------------------------------------------------------------------


@groups_app.command("list")
def groups_list(as_json: bool = json_option()) -> None:
    """List groups and the models each may use (empty: every model)."""
    rows = run_with_engine(lambda engine: _accounts(engine).list_groups())
    if as_json:
        emit(rows, GROUP_COLUMNS, True)
        return
    everything = text("group.all_models")
    emit([{**r, "models": r["models"] if r["models"] is not None else everything} for r in rows],
         GROUP_COLUMNS, False)


@groups_app.command("add")
def groups_add(name: str = typer.Argument(..., help="Group name."),
               models: str = typer.Option(None, help="Comma-separated public model names; omit for every "
                                                     "model. Replaces the list of an existing group."),
               description: str = typer.Option(None, help="What the group is for."),
               as_json: bool = json_option()) -> None:
    """Create a group, or replace an existing group's models and description."""
    view = run_with_engine(lambda engine: _accounts(engine).upsert_group(name, split_list(models),
                                                                            description))
    if as_json:
        show(view, True)
        return
    listed = ", ".join(view["models"]) if view["models"] is not None else text("group.all_models")
    tell("group.saved", name=view["name"], models=listed)


@groups_app.command("delete")
def groups_delete(name: str = typer.Argument(...)) -> None:
    """Delete a group that no key uses."""
    run_with_engine(lambda engine: _accounts(engine).delete_group(name))
    tell("deleted", what=text("noun.group"), ident=name)


# --- keys -----------------------------------------------------------------------------------


async def _with_owner_names(engine: AsyncEngine, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = {o["id"]: o["name"] for o in await _accounts(engine).list_owners()}
    return [{**row, "owner": names.get(row["owner_id"], row["owner_id"])} for row in rows]


@keys_app.command("list")
def keys_list(owner: str = typer.Option(None, help="Only keys of this owner (id or name)."),
              group: str = typer.Option(None, help="Only keys in this group."),
              as_json: bool = json_option()) -> None:
    """List keys (masked; the full secret is never stored)."""
    async def go(engine: AsyncEngine) -> list[dict[str, Any]]:
        return await _with_owner_names(engine, await _accounts(engine).list_keys(owner, group))

    emit(run_with_engine(go), KEY_COLUMNS, as_json)


@keys_app.command("create")
def keys_create(name: str = typer.Option(..., help="What the key is for, e.g. 'ci pipeline'."),
                owner: str = typer.Option(..., help="Owner id or name."),
                group: str = typer.Option("default", help="Group the key belongs to."),
                environment: str = typer.Option("production", "--env", help=_ENV_HELP),
                expires: str = typer.Option(None, help=_EXPIRES_HELP),
                models: str = typer.Option(None, help=_MODELS_HELP),
                networks: str = typer.Option(None, help=_NETWORKS_HELP),
                cap_total: str = typer.Option(None, help=_CAP_HELP.format(period="in total")),
                cap_daily: str = typer.Option(None, help=_CAP_HELP.format(period="per day (UTC)")),
                cap_monthly: str = typer.Option(None, help=_CAP_HELP.format(period="per month (UTC)")),
                rpm: int = typer.Option(None, help=_LIMIT_HELP.format(what="Requests per minute")),
                tpm: int = typer.Option(None, help=_LIMIT_HELP.format(what="Tokens per minute")),
                concurrency: int = typer.Option(None, help=_LIMIT_HELP.format(what="Requests in flight at once")),
                as_json: bool = json_option()) -> None:
    """Create a key and print its secret this one time."""
    expires_at = expiry(expires)
    terms = _terms(cap_total, cap_daily, cap_monthly, rpm, tpm, concurrency, clearing=False)

    async def go(engine: AsyncEngine) -> tuple[dict[str, Any], str]:
        view, secret = await _accounts(engine).create_key(
            name, owner, group, environment, expires_at, split_list(models), split_list(networks), **terms)
        return (await _with_owner_names(engine, [view]))[0], secret

    view, secret = run_with_engine(go)
    if as_json:
        show({**view, "secret": secret}, True)
        return
    tell("key.created")
    console.print(secret, markup=False, highlight=False, soft_wrap=True)
    tell("key.secret_warning", style="bold yellow")
    show(_readable(view), False)


@keys_app.command("show")
def keys_show(ident: str = typer.Argument(..., metavar="ID", help="Key id, masked form or full key."),
              as_json: bool = json_option()) -> None:
    """Show one key."""
    async def go(engine: AsyncEngine) -> dict[str, Any]:
        return (await _with_owner_names(engine, [await _accounts(engine).get_key(ident)]))[0]

    view = run_with_engine(go)
    show(view if as_json else _readable(view), as_json)


def _terms(cap_total: str | None, cap_daily: str | None, cap_monthly: str | None, rpm: int | None,
           tpm: int | None, concurrency: int | None, clearing: bool) -> dict[str, Any]:
    """Caps and limits as given (None: not given); on update 'none' / 0 become None, which clears."""
    given: dict[str, Any] = {}
    for field, cap in (("cap_total", cap_total), ("cap_daily", cap_daily), ("cap_monthly", cap_monthly)):
        if cap is None:
            continue
        if clearing and cap.strip().lower() in ("none", "no", "never", ""):
            given[field] = None
            continue
        try:
            parse_amount(cap)
        except MoneyError:
            fail("amount.invalid", value=cap)
        given[field] = cap
    for field, limit in (("rpm", rpm), ("tpm", tpm), ("concurrency", concurrency)):
        if limit is not None:
            given[field] = None if clearing and limit == 0 else limit
    return given


def _readable(view: dict[str, Any]) -> dict[str, Any]:
    """Caps as amounts in the deployment's currency; absent caps and limits read 'unlimited'."""
    currency = settings_from().currency
    unlimited = text("unlimited")
    caps = {k: unlimited if v is None else format_amount(parse_amount(v), currency) for k, v in view["caps"].items()}
    limits = {k: unlimited if v is None else v for k, v in view["limits"].items()}
    return {**view, "caps": caps, "limits": limits}


def _update(ident: str, changes: dict[str, Any]) -> dict[str, Any]:
    return run_with_engine(lambda engine: _accounts(engine).update_key(ident, **changes))


@keys_app.command("disable")
def keys_disable(ident: str = typer.Argument(..., metavar="ID"),
                 reason: str = typer.Option(None, help="Shown to callers that use the key."),
                 as_json: bool = json_option()) -> None:
    """Disable a key (callers get 'key_disabled' with the reason)."""
    view = _update(ident, {"enabled": False, "disabled_reason": reason})
    if as_json:
        show(view, True)
        return
    tell("key.disabled", ident=view["id"])


@keys_app.command("enable")
def keys_enable(ident: str = typer.Argument(..., metavar="ID"), as_json: bool = json_option()) -> None:
    """Enable a disabled key."""
    view = _update(ident, {"enabled": True})
    if as_json:
        show(view, True)
        return
    tell("key.enabled", ident=view["id"])


@keys_app.command("update")
def keys_update(ident: str = typer.Argument(..., metavar="ID"),
                name: str = typer.Option(None, help="New name."),
                owner: str = typer.Option(None, help="Move to this owner (id or name)."),
                group: str = typer.Option(None, help="Move to this group."),
                environment: str = typer.Option(None, "--env", help=_ENV_HELP),
                expires: str = typer.Option(None, help=_EXPIRES_HELP),
                models: str = typer.Option(None, help=_MODELS_HELP),
                networks: str = typer.Option(None, help=_NETWORKS_HELP),
                cap_total: str = typer.Option(None, help=_CAP_HELP.format(period="in total")),
                cap_daily: str = typer.Option(None, help=_CAP_HELP.format(period="per day (UTC)")),
                cap_monthly: str = typer.Option(None, help=_CAP_HELP.format(period="per month (UTC)")),
                rpm: int = typer.Option(None, help=_LIMIT_HELP.format(what="Requests per minute")),
                tpm: int = typer.Option(None, help=_LIMIT_HELP.format(what="Tokens per minute")),
                concurrency: int = typer.Option(None, help=_LIMIT_HELP.format(what="Requests in flight at once")),
                as_json: bool = json_option()) -> None:
    """Change a key's name, owner, group, environment, expiry, restrictions, spend caps or rate limits."""
    changes: dict[str, Any] = {k: v for k, v in {"name": name, "owner_id": owner, "group_name": group,
                                                 "environment": environment}.items() if v is not None}
    if expires is not None:
        changes["expires_at"] = expiry(expires)
    if models is not None:
        changes["allowed_models"] = split_list(models) or None
    if networks is not None:
        changes["allowed_networks"] = split_list(networks) or None
    changes.update(_terms(cap_total, cap_daily, cap_monthly, rpm, tpm, concurrency, clearing=True))
    if not changes:
        fail("update.nothing")
    view = _update(ident, changes)
    if as_json:
        show(view, True)
        return
    tell("key.updated", ident=view["id"])
    show(_readable(view), False)


@keys_app.command("delete")
def keys_delete(ident: str = typer.Argument(..., metavar="ID")) -> None:
    """Delete a key for good (`keys disable` is reversible)."""
    run_with_engine(lambda engine: _accounts(engine).delete_key(ident))
    tell("deleted", what=text("noun.key"), ident=ident)
