"""`relaygate operators …` and `relaygate admin-tokens …`: who may sign in to the console, and replacing a
lost admin token. Also the CLI's entry in the audit log (every changing command is recorded)."""

from __future__ import annotations

import getpass
import os
import sys
from typing import Any

import typer

from relaygate.cli.auditgate import may_audit
from relaygate.cli.common import console, emit, run_with_engine, settings_from
from relaygate.core.redact import redact

operators_app = typer.Typer(help="Console operators (admin, support, viewer). (控制台操作员)", no_args_is_help=True)
tokens_app = typer.Typer(help="Admin tokens for /api and console sign-in: create, list, revoke. (管理令牌)",
                         no_args_is_help=True)

TEXT: dict[str, tuple[str, str]] = {
    "added": ("Operator {name} added with role {role}.", "已添加操作员 {name}，角色 {role}。"),
    "passwd": ("Password of {name} changed; its failed sign-ins are cleared.", "已修改 {name} 的密码并清除失败记录。"),
    "disabled": ("Operator {name} disabled; their console sessions ended.", "已停用操作员 {name}，其会话已结束。"),
    "enabled": ("Operator {name} enabled.", "已启用操作员 {name}。"),
    "imported": ("Operator {name} imported; their old password works.", "已导入操作员 {name}，原密码可用。"),
    "exists": ("Operator {name} already exists; nothing changed.", "操作员 {name} 已存在，未做改动。"),
    "token": ("Admin token {name} created. It is shown this once:", "已创建管理令牌 {name}，只显示这一次："),
    "revoked": ("Admin token {name} revoked; its console sessions ended.", "已撤销管理令牌 {name}，其会话已结束。"),
    "prompt": ("Password for {name}", "{name} 的密码"),
    "again": ("Repeat it", "再输入一次"),
    "mismatch": ("The two passwords differ.", "两次输入的密码不一致。"),
}


def _t(key: str, **values: Any) -> str:
    en, zh = TEXT[key]
    return (zh if settings_from().lang_code().startswith("zh") else en).format(**values)


def _actor() -> str:
    return os.environ.get("USER") or os.environ.get("LOGNAME") or "cli"


def _password(name: str, given: str | None) -> str:
    if given:
        return given
    env = os.environ.get("RELAYGATE_OPERATOR_PASSWORD")
    if env:
        return env
    first = getpass.getpass(_t("prompt", name=name) + ": ")
    if getpass.getpass(_t("again") + ": ") != first:
        console.print(_t("mismatch"), style="red")
        raise typer.Exit(2)
    return first


async def _audit(engine: Any, action: str, target: str, before: Any, after: Any) -> None:
    from relaygate.services.operate.audit import AuditLog

    await AuditLog(engine).record(_actor(), "cli", action, target, before, after)


@operators_app.command("add")
def operators_add(name: str = typer.Argument(...),
                  role: str = typer.Option(..., help="admin, support or viewer."),
                  password: str = typer.Option(None, help="Else asked for (or RELAYGATE_OPERATOR_PASSWORD).")) -> None:
    """Add an operator who signs in to the console with a name and password."""
    secret = _password(name, password)

    async def go(engine: Any) -> dict[str, Any]:
        from relaygate.services.operate.operators import OperatorsAdmin

        view = await OperatorsAdmin(engine).add(name, role, secret)
        await _audit(engine, "operator.create", name, None, view)
        return view

    view = run_with_engine(go)
    console.print(_t("added", name=view["name"], role=view["role"]), style="green", markup=False)


@operators_app.command("import-hash")
def operators_import_hash(name: str = typer.Argument(...), role: str = typer.Option("admin"),
                          hash_: str = typer.Option(..., "--hash", help="The bcrypt hash from One API / New API "
                                                                       "(users.password)."),
                          source: str = typer.Option("oneapi", help="oneapi or newapi.")) -> None:
    """Add an operator with a bcrypt hash kept as imported: their old One API / New API password works."""

    async def go(engine: Any) -> dict[str, Any] | None:
        from relaygate.services.operate.operators import OperatorsAdmin

        view = await OperatorsAdmin(engine).import_hashed(name, role, hash_, source)
        if view is not None:
            await _audit(engine, "operator.import", name, None, view)
        return view

    view = run_with_engine(go)
    console.print(_t("imported" if view else "exists", name=name), style="green", markup=False)


@operators_app.command("import-legacy")
def operators_import_legacy(source: str = typer.Argument(..., help="The One API / New API database (SQLite path, "
                                                                   "mysql://…, postgresql://…)."),
                            min_role: int = typer.Option(10, help="10: admins and root; 100: root only."),
                            role: str = typer.Option("admin", help="Console role they get."),
                            dry_run: bool = typer.Option(False, "--dry-run"),
                            as_json: bool = typer.Option(False, "--json")) -> None:
    """Admin users of the old system become operators; their old passwords work (bcrypt hashes kept)."""

    async def go(engine: Any) -> dict[str, list[dict[str, Any]]]:
        from relaygate.services.migration.import_operators import import_operators
        from relaygate.services.migration.source import Source

        src = await Source.open(source)
        try:
            done = await import_operators(engine, src, min_role, role, apply=not dry_run)
        finally:
            await src.close()
        if not dry_run:
            await _audit(engine, "operator.import_legacy", src.name, None,
                         {k: [u["username"] for u in v] for k, v in done.items()})
        return done

    done = run_with_engine(go)
    rows = [{"username": u["username"], "result": kind, "reason": u.get("reason", "")}
            for kind, users in done.items() for u in users]
    emit(rows, ["username", "result", "reason"], as_json)


@operators_app.command("passwd")
def operators_passwd(name: str = typer.Argument(...), password: str = typer.Option(None)) -> None:
    """Set a new password (also unlocks an operator locked by wrong passwords)."""
    secret = _password(name, password)

    async def go(engine: Any) -> None:
        from relaygate.services.operate.operators import OperatorsAdmin

        view = await OperatorsAdmin(engine).passwd(name, secret)
        await _audit(engine, "operator.passwd", name, None, {"id": view["id"]})

    run_with_engine(go)
    console.print(_t("passwd", name=name), style="green", markup=False)


@operators_app.command("list")
def operators_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Operators with role, state and last sign-in."""

    async def go(engine: Any) -> list[dict[str, Any]]:
        from relaygate.services.operate.operators import OperatorsAdmin

        return await OperatorsAdmin(engine).list()

    emit(run_with_engine(go), ["name", "role", "enabled", "source", "locked_until", "last_login_at"], as_json)


def _toggle(name: str, enable: bool) -> None:
    async def go(engine: Any) -> None:
        from relaygate.services.operate.operators import OperatorsAdmin
        from relaygate.services.operate.websessions import WebSessions

        ops = OperatorsAdmin(engine)
        before = await ops.get(name)
        after = await (ops.enable(name) if enable else ops.disable(name))
        if not enable:
            await WebSessions(engine).revoke_subject("operator", after["id"])
        await _audit(engine, "operator.enable" if enable else "operator.disable", name,
                     {"enabled": before["enabled"]}, {"enabled": after["enabled"]})

    run_with_engine(go)
    console.print(_t("enabled" if enable else "disabled", name=name), style="green", markup=False)


@operators_app.command("disable")
def operators_disable(name: str = typer.Argument(...)) -> None:
    """Stop an operator from signing in; their open sessions end at once."""
    _toggle(name, False)


@operators_app.command("enable")
def operators_enable(name: str = typer.Argument(...)) -> None:
    """Let a disabled operator sign in again."""
    _toggle(name, True)


@tokens_app.command("create")
def tokens_create(name: str = typer.Argument("admin")) -> None:
    """A new admin token (for /api and console sign-in); shown once."""

    async def go(engine: Any) -> tuple[dict[str, Any], str]:
        from relaygate.services.operate.operators import AdminTokens

        view, token = await AdminTokens(engine).create(name)
        await _audit(engine, "admin_token.create", view["id"], None, view)
        return view, token

    view, token = run_with_engine(go)
    console.print(_t("token", name=view["name"]), style="green", markup=False)
    console.print(token, markup=False, highlight=False)


@tokens_app.command("list")
def tokens_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Admin tokens by id and name (never the token)."""

    async def go(engine: Any) -> list[dict[str, Any]]:
        from relaygate.services.operate.operators import AdminTokens

        return await AdminTokens(engine).list()

    emit(run_with_engine(go), ["id", "name", "created_at"], as_json)


@tokens_app.command("revoke")
def tokens_revoke(ident: str = typer.Argument(..., help="Token id (or its name when unique).")) -> None:
    """Revoke an admin token: /api refuses it within a second, its console sessions end."""

    async def go(engine: Any) -> dict[str, Any]:
        from relaygate.services.operate.operators import AdminTokens

        view = await AdminTokens(engine).revoke(ident)
        await _audit(engine, "admin_token.revoke", view["id"], {"name": view["name"]}, {"revoked": True})
        return view

    view = run_with_engine(go)
    console.print(_t("revoked", name=view["name"]), style="green", markup=False)


# --- the audit entry of every other changing command ----------------------------------------------

HIDDEN_AFTER = {"--password", "--secret", "--secrets", "--hash", "--key", "--token", "--source", "--logs-source"}


def scrub_argv(argv: list[str]) -> list[str]:
    out, hide = [], False
    for arg in argv:
        if hide:
            out.append("[hidden]")
            hide = False
            continue
        name, eq, _ = arg.partition("=")
        if name in HIDDEN_AFTER:
            out.append(f"{name}=[hidden]" if eq else name)
            hide = not eq
            continue
        out.append(redact(arg))
    return out


def audit_command(argv: list[str], code: object) -> None:
    """Record a changing command (who, what, when, arguments without secrets, outcome)."""
    if not may_audit(argv):
        return
    words = [a for a in argv if not a.startswith("-")]
    from relaygate.cli.common import UNREACHABLE

    if UNREACHABLE["hit"]:
        return  # the command could not reach the database and said so: no second line about the audit log
    path = settings_from().sqlite_path()
    if path is not None and (not path.exists() or path.stat().st_size == 0):
        return  # the command found no database (it refused): the audit log must not create one either
    from relaygate.services.operate.audit import AuditLog
    from relaygate.store.db import make_engine

    async def go() -> None:
        engine = make_engine(settings_from().database_url)
        try:
            await AuditLog(engine).record(_actor(), "cli", ".".join(words[:2]), " ".join(words[2:3]) or None,
                                          None, {"argv": scrub_argv(argv)},
                                          outcome="ok" if code in (0, None) else "failed")
        finally:
            await engine.dispose()

    import asyncio

    try:
        asyncio.run(go())
    except Exception as exc:  # the command's own outcome stands; say why the record is missing
        print(f"note: could not write the audit log ({type(exc).__name__})", file=sys.stderr)
