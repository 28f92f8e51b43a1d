"""`relaygate users …`: key holders who sign in to the portal (/portal/login), each for one owner."""

from __future__ import annotations

import getpass
import os
from typing import Any

import typer

from relaygate.cli.common import console, emit, run_with_engine, settings_from
from relaygate.services.operate.portal_users import PortalUsers

users_app = typer.Typer(help="Portal users: key holders who sign in to see their balance, keys and requests.",
                        no_args_is_help=True)

TEXT: dict[str, tuple[str, str]] = {
    "added": ("User {name} added for owner {owner}; they sign in at /portal/login.",
              "已为负责人 {owner} 添加用户 {name}，登录地址 /portal/login。"),
    "imported": ("User {name} imported; their old password works.", "已导入用户 {name}，原密码可用。"),
    "exists": ("User {name} already exists; nothing changed.", "用户 {name} 已存在，未做改动。"),
    "passwd": ("Password of {name} changed.", "已修改 {name} 的密码。"),
    "disabled": ("User {name} disabled; their portal sessions ended.", "已停用用户 {name}，其会话已结束。"),
    "enabled": ("User {name} enabled.", "已启用用户 {name}。"),
    "prompt": ("Password for {name}", "{name} 的密码"),
    "again": ("Repeat it", "再输入一次"),
    "mismatch": ("The two passwords differ.", "两次输入的密码不一致。"),
}


def _t(key: str, **values: Any) -> str:
    en, zh = TEXT[key]
    return (zh if settings_from().lang_code().startswith("zh") else en).format(**values)


def _password(name: str, given: str | None) -> str:
    if given:
        return given
    env = os.environ.get("RELAYGATE_USER_PASSWORD")
    if env:
        return env
    first = getpass.getpass(_t("prompt", name=name) + ": ")
    if getpass.getpass(_t("again") + ": ") != first:
        console.print(_t("mismatch"), style="red")
        raise typer.Exit(2)
    return first


@users_app.command("add")
def add(name: str = typer.Argument(..., help="Username."),
        owner: str = typer.Option(..., "--owner", help="Owner id or name whose data the user sees."),
        password: str = typer.Option(None, "--password", help="Else RELAYGATE_USER_PASSWORD, else asked."),
        email: str = typer.Option(None, "--email")) -> None:
    """Add a portal user for an owner."""
    secret = _password(name, password)
    view = run_with_engine(lambda e: PortalUsers(e).add(name, owner, secret, email=email))
    console.print(_t("added", name=view["username"], owner=view["owner_id"]), style="green", markup=False)


@users_app.command("import-hash")
def import_hash(name: str = typer.Argument(..., help="Username as on the old system."),
                owner: str = typer.Option(..., "--owner", help="Owner id or name."),
                password_hash: str = typer.Option(..., "--hash", help="The bcrypt hash from One API / New API."),
                source: str = typer.Option("oneapi", "--source", help="oneapi or newapi.")) -> None:
    """Import a One API / New API user with their bcrypt hash: their password keeps working."""
    view = run_with_engine(lambda e: PortalUsers(e).import_hashed(name, owner, password_hash, source))
    console.print(_t("imported" if view else "exists", name=name), style="green", markup=False)


@users_app.command("list")
def list_users(owner: str = typer.Option(None, "--owner"), as_json: bool = typer.Option(False, "--json")) -> None:
    """List portal users."""
    emit(run_with_engine(lambda e: PortalUsers(e).list(owner)),
         ("id", "username", "owner_id", "enabled", "source", "last_login_at", "locked_until"), as_json)


@users_app.command("passwd")
def passwd(name: str = typer.Argument(...), password: str = typer.Option(None, "--password")) -> None:
    """Set a user's password (clears a lock-out)."""
    secret = _password(name, password)
    run_with_engine(lambda e: PortalUsers(e).passwd(name, secret))
    console.print(_t("passwd", name=name), style="green", markup=False)


@users_app.command("disable")
def disable(name: str = typer.Argument(...)) -> None:
    """Disable a user: their portal sessions end at once."""
    run_with_engine(lambda e: PortalUsers(e).disable(name))
    console.print(_t("disabled", name=name), style="green", markup=False)


@users_app.command("enable")
def enable(name: str = typer.Argument(...)) -> None:
    """Enable a user again."""
    run_with_engine(lambda e: PortalUsers(e).enable(name))
    console.print(_t("enabled", name=name), style="green", markup=False)
