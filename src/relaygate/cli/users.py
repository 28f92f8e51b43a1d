"""`relaygate users …`: key holders who sign in to the portal (/portal/login), each for one owner."""

from __future__ import annotations

import getpass
import os
from typing import TYPE_CHECKING, Any

import typer

from relaygate.cli.common import console, emit, run_with_engine, settings_from

if TYPE_CHECKING:  # the services (and SQLAlchemy) load when a command runs, not for --help
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


def _users(engine: Any) -> PortalUsers:
    from relaygate.services.operate.portal_users import PortalUsers

    return PortalUsers(engine)


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
    view = run_with_engine(lambda e: _users(e).add(name, owner, secret, email=email))
    console.print(_t("added", name=view["username"], owner=view["owner_id"]), style="green", markup=False)


@users_app.command("import-hash")
def import_hash(name: str = typer.Argument(..., help="Username as on the old system."),
                owner: str = typer.Option(..., "--owner", help="Owner id or name."),
                password_hash: str = typer.Option(..., "--hash", help="The bcrypt hash from One API / New API."),
                source: str = typer.Option("oneapi", "--source", help="oneapi or newapi.")) -> None:
    """Import a One API / New API user with their bcrypt hash: their password keeps working."""
    view = run_with_engine(lambda e: _users(e).import_hashed(name, owner, password_hash, source))
    console.print(_t("imported" if view else "exists", name=name), style="green", markup=False)


@users_app.command("import-legacy")
def import_legacy(source: str = typer.Argument(..., help="The One API / New API database (SQLite path, mysql://…, "
                                                         "postgresql://…)."),
                  tag: str = typer.Option(None, "--tag", help="The migration plan's source tag (oa for One API, na "
                                                              "for New API by default)."),
                  dry_run: bool = typer.Option(False, "--dry-run"),
                  as_json: bool = typer.Option(False, "--json")) -> None:
    """Users of the old system become portal users of their imported owners; their old passwords work."""

    async def go(engine: Any) -> dict[str, list[dict[str, Any]]]:
        from relaygate.services.migration.import_portal_users import import_portal_users
        from relaygate.services.migration.plan import default_tag
        from relaygate.services.migration.source import Source

        src = await Source.open(source)
        try:
            return await import_portal_users(engine, src, tag or default_tag(src.kind), apply=not dry_run)
        finally:
            await src.close()

    done = run_with_engine(go)
    rows = [{"username": u["username"], "owner_id": u["owner_id"], "result": kind, "reason": u.get("reason", "")}
            for kind, users in done.items() for u in users]
    emit(rows, ["username", "owner_id", "result", "reason"], as_json)


@users_app.command("list")
def list_users(owner: str = typer.Option(None, "--owner"), as_json: bool = typer.Option(False, "--json")) -> None:
    """List portal users."""
    emit(run_with_engine(lambda e: _users(e).list(owner)),
         ("id", "username", "owner_id", "enabled", "source", "last_login_at", "locked_until"), as_json)


@users_app.command("passwd")
def passwd(name: str = typer.Argument(...), password: str = typer.Option(None, "--password")) -> None:
    """Set a user's password (clears a lock-out)."""
    secret = _password(name, password)
    run_with_engine(lambda e: _users(e).passwd(name, secret))
    console.print(_t("passwd", name=name), style="green", markup=False)


@users_app.command("disable")
def disable(name: str = typer.Argument(...)) -> None:
    """Disable a user: their portal sessions end at once."""
    run_with_engine(lambda e: _users(e).disable(name))
    console.print(_t("disabled", name=name), style="green", markup=False)


@users_app.command("enable")
def enable(name: str = typer.Argument(...)) -> None:
    """Enable a user again."""
    run_with_engine(lambda e: _users(e).enable(name))
    console.print(_t("enabled", name=name), style="green", markup=False)


TEXT.update({
    "invite": ("Invite link (shown this once; only its hash is stored; expires {expires}):",
               "邀请链接（只显示这一次，系统只保存其哈希；过期时间 {expires}）："),
    "code": ("Sign-up code for {uses} account(s) (shown this once; expires {expires}):",
             "可注册 {uses} 个账户的注册码（只显示这一次；过期时间 {expires}）："),
    "emailed": ("Also e-mailed to {email}.", "也已发送至 {email}。"),
    "relative": ("Set RELAYGATE_PUBLIC_BASE_URL (or pass --base-url) so links carry your gateway's address.",
                 "请设置 RELAYGATE_PUBLIC_BASE_URL（或使用 --base-url），让链接带上网关的地址。"),
    "reset": ("Reset link for {name} (works once; expires {expires}):",
              "{name} 的重置链接（仅可使用一次；过期时间 {expires}）："),
    "revoked": ("Invite {id} revoked.", "已撤销邀请 {id}。"),
})


def _base(given: str | None) -> str:
    from relaygate.services.operate.portal_accounts import link_base

    base = link_base(settings_from().public_base_url, "http", "") if given is None else given.rstrip("/")
    if not base:
        console.print(_t("relative"), style="yellow", markup=False)
    return base


def _accounts(engine: Any) -> Any:
    from relaygate.services.operate.mail import Mailer
    from relaygate.services.operate.portal_accounts import PortalAccounts

    settings = settings_from()
    return PortalAccounts(engine, settings, Mailer(settings))


@users_app.command("invite")
def invite(owner: str = typer.Option(None, "--owner", help="Owner id or name the account joins; without it: a "
                                                           "sign-up code, each account its own owner."),
           username: str = typer.Option(None, "--username", help="The username it is for (else the person picks)."),
           email: str = typer.Option(None, "--email", help="Also send the link there (needs RELAYGATE_SMTP_HOST)."),
           days: float = typer.Option(7.0, "--days", help="Days the link works."),
           uses: int = typer.Option(1, "--uses", help="Accounts it may make (sign-up codes)."),
           note: str = typer.Option(None, "--note", help="What it is for (shown in listings)."),
           base_url: str = typer.Option(None, "--base-url", help="Gateway address for the link; default: "
                                                                 "RELAYGATE_PUBLIC_BASE_URL."),
           as_json: bool = typer.Option(False, "--json")) -> None:
    """Create an invite link for an owner, or a sign-up code (shown once)."""
    base = _base(base_url)
    lang = settings_from().lang_code()
    made = run_with_engine(lambda e: _accounts(e).invite(owner=owner, actor="cli", username=username, email=email,
                                                         days=days, uses=uses, note=note, base=base, lang=lang))
    if as_json:
        emit(made, (), True)
        return
    text = _t("invite", expires=made["expires_at"]) if owner else _t("code", uses=uses, expires=made["expires_at"])
    console.print(text, markup=False)
    console.print(made["link"] if owner or username or email else f"{made['token']}  ({made['link']})",
                  style="bold", markup=False, soft_wrap=True)
    if made["emailed"]:
        console.print(_t("emailed", email=email), style="green", markup=False)


@users_app.command("invites")
def invites(as_json: bool = typer.Option(False, "--json")) -> None:
    """List invite links and sign-up codes (never the links themselves)."""
    emit(run_with_engine(lambda e: _accounts(e).invites()),
         ("id", "owner", "username", "email", "uses_left", "max_uses", "state", "expires_at", "created_by"), as_json)


@users_app.command("invite-revoke")
def invite_revoke(invite_id: str = typer.Argument(..., help="Invite id from `relaygate users invites`.")) -> None:
    """Revoke an invite link or sign-up code."""
    run_with_engine(lambda e: _accounts(e).revoke_invite(invite_id))
    console.print(_t("revoked", id=invite_id), style="green", markup=False)


@users_app.command("reset-link")
def reset_link(name: str = typer.Argument(..., help="Username or user id."),
               send: bool = typer.Option(False, "--email", help="Also e-mail it to the user's address."),
               base_url: str = typer.Option(None, "--base-url", help="Gateway address for the link; default: "
                                                                     "RELAYGATE_PUBLIC_BASE_URL.")) -> None:
    """Make a single-use link for a user to choose a new password."""
    base = _base(base_url)
    lang = settings_from().lang_code()
    made = run_with_engine(lambda e: _accounts(e).reset_link(name, "cli", base, send=send, lang=lang))
    console.print(_t("reset", name=made["user"], expires=made["expires_at"]), markup=False)
    console.print(made["link"], style="bold", markup=False, soft_wrap=True)
    if made["emailed"]:
        console.print(_t("emailed", email=name), style="green", markup=False)


@users_app.command("policy")
def policy(owner: str = typer.Argument(..., help="Owner id or name."),
           self_keys: bool = typer.Option(None, "--self-keys/--no-self-keys",
                                          help="Whether its key holders may create their own keys."),
           max_keys: int = typer.Option(None, "--max-keys", help="Most enabled keys the owner may hold."),
           group: str = typer.Option(None, "--group", help="Group of the keys they create."),
           models: str = typer.Option(None, "--models", help="Comma-separated models their keys may use."),
           max_cap_total: str = typer.Option(None, "--max-cap-total", help="Most a key's total cap may be."),
           max_cap_daily: str = typer.Option(None, "--max-cap-daily", help="Most a key's daily cap may be."),
           max_cap_monthly: str = typer.Option(None, "--max-cap-monthly", help="Most a key's monthly cap may be."),
           max_rpm: int = typer.Option(None, "--max-rpm", help="Most requests per minute per key."),
           max_tpm: int = typer.Option(None, "--max-tpm", help="Most tokens per minute per key."),
           max_concurrency: int = typer.Option(None, "--max-concurrency", help="Most requests at once per key."),
           max_days: int = typer.Option(None, "--max-days", help="Longest life of a key, in days."),
           as_json: bool = typer.Option(False, "--json")) -> None:
    """Show or change what an owner's key holders may do themselves (their own keys and the bounds)."""
    from relaygate.services.operate.self_keys import SelfKeys

    given = {"self_keys": self_keys, "max_keys": max_keys, "group": group, "models": models,
             "max_cap_total": max_cap_total, "max_cap_daily": max_cap_daily, "max_cap_monthly": max_cap_monthly,
             "max_rpm": max_rpm, "max_tpm": max_tpm, "max_concurrency": max_concurrency, "max_days": max_days}
    changes = {k: v for k, v in given.items() if v is not None}
    currency = settings_from().currency
    view = run_with_engine(lambda e: SelfKeys(e, currency).set_policy(owner, "cli", **changes) if changes
                           else SelfKeys(e, currency).policy_of(owner))
    emit(view, ("owner", "self_keys", "max_keys", "group", "models", "max_cap_total", "max_cap_daily",
                "max_cap_monthly", "max_rpm", "max_tpm", "max_concurrency", "max_days"), as_json)
