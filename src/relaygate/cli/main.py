"""`relaygate` entry point: serve, demo, db; the resource commands live in sibling modules."""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

from relaygate.cli.common import console, settings_from
from relaygate.cli.text import say
from relaygate.core.settings import Settings

if TYPE_CHECKING:
    from typer import _click

# Command groups load their module only when used (or listed by --help): `relaygate keys list`
# imports the key commands and what they need, not the migration or rollout machinery.
# name -> (modules to import, module.attribute of the Typer app, its help for the root listing)
LAZY: dict[str, tuple[tuple[str, ...], str, str]] = {
    "owners": (("relaygate.cli.accounts",), "relaygate.cli.accounts:owners_app",
               "People, teams and services that hold keys."),
    "groups": (("relaygate.cli.accounts", "relaygate.cli.billing"), "relaygate.cli.accounts:groups_app",
               "Key groups and the models each may use."),
    "keys": (("relaygate.cli.accounts",), "relaygate.cli.accounts:keys_app",
             "Caller API keys (only masked forms are ever listed)."),
    "channels": (("relaygate.cli.routing",), "relaygate.cli.routing:channels_app",
                 "Upstream channels: where requests go, with failover and health."),
    "models": (("relaygate.cli.routing",), "relaygate.cli.routing:models_app",
               "The public model catalogue: aliases and retired models."),
    "logs": (("relaygate.cli.logs",), "relaygate.cli.logs:logs_app",
             "Usage records: one per request, never with prompts unless enabled."),
    "config": (("relaygate.cli.configfile",), "relaygate.cli.configfile:config_app",
               "Routing configuration as YAML: export, review, apply. Keys are never included."),
    "balance": (("relaygate.cli.billing",), "relaygate.cli.billing:balance_app",
                "Owner balances: show, top up, adjust, statements, reconciliation."),
    "prices": (("relaygate.cli.billing",), "relaygate.cli.billing:prices_app",
               "The price list: per 1M tokens, per request, or free."),
    "migrate": (("relaygate.cli.migrate",), "relaygate.cli.migrate:migrate_app",
                "Move a running One API or New API onto relaygate: inspect, plan, import, verify. "
                "(从 One API / New API 迁移：盘点、计划、导入、验证)"),
    "alerts": (("relaygate.cli.alerts",), "relaygate.cli.alerts:alerts_app",
               "Budget alerts: thresholds on balances and key caps."),
    "secrets": (("relaygate.cli.secrets",), "relaygate.cli.secrets:secrets_app",
                "Encryption of upstream secrets at rest: status, key rotation."),
    "support": (("relaygate.cli.support",), "relaygate.cli.support:support_app",
                "Answer support tickets from safe fields: never a full key, never a prompt."),
    "notices": (("relaygate.cli.support",), "relaygate.cli.support:notices_app",
                "Client-ready notices: announcement, per-client emails, FAQ, replies, checklist."),
    "stats": (("relaygate.cli.support",), "relaygate.cli.support:stats_app",
              "Errors per class per day and the most repeated codes per client and owner."),
    "users": (("relaygate.cli.users",), "relaygate.cli.users:users_app",
              "Portal users: key holders who sign in to see their balance, keys and requests."),
    "codes": (("relaygate.cli.codes",), "relaygate.cli.codes:codes_app",
              "Redemption codes: batches operators hand out, redeemed into an owner's balance."),
    "media": (("relaygate.cli.media",), "relaygate.cli.media:media_app",
              "Images, audio and video tasks: per-unit prices, tasks, callback secrets."),
    "operators": (("relaygate.cli.operators",), "relaygate.cli.operators:operators_app",
                  "Console operators (admin, support, viewer). (控制台操作员)"),
    "admin-tokens": (("relaygate.cli.operators",), "relaygate.cli.operators:tokens_app",
                     "Admin tokens for /api and console sign-in: create, list, revoke. (管理令牌)"),
    "rollout": (("relaygate.cli.rollout",), "relaygate.cli.rollout:rollout_app",
                "Gray rollout off One API / New API: the old entry keeps serving until each batch is safe. "
                "(灰度切换：旧入口持续服务，直到每个批次安全切换)"),
}


_I18N = "relaygate.cli.i18n"  # loaded only in zh-CN (or once a process has switched to it)


class LazyGroup(TyperGroup):
    """The root command: loads command groups on first use, and speaks zh-CN when asked to."""

    _listing = False
    _zh = False

    def main(self, *args: Any, **kwargs: Any) -> Any:
        self._zh = settings_from().lang_code() == "zh-CN"
        if self._zh or _I18N in sys.modules:  # English, never switched in this process: nothing to load
            from relaygate.cli import i18n

            i18n.install(self._zh)
            i18n.localize(self, self._zh)
        return super().main(*args, **kwargs)

    def list_commands(self, ctx: _click.Context) -> list[str]:
        names = super().list_commands(ctx)
        return names + [n for n in LAZY if n not in names]

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is None and cmd_name in LAZY:
            modules, target, short = LAZY[cmd_name]
            if self._listing:  # the root's --help lists groups without importing them
                if self._zh:
                    from relaygate.cli import i18n

                    short = i18n.translate_help(short) or short
                return TyperGroup(name=cmd_name, help=short)
            for module in modules:
                importlib.import_module(module)
            module, _, attr = target.partition(":")
            sub = getattr(importlib.import_module(module), attr)
            sub._add_completion = False  # completion is offered once, on the root (it is off there)
            cmd = typer.main.get_command(sub)
            cmd.name = cmd_name
            self.commands[cmd_name] = cmd
        if cmd is not None and (self._zh or _I18N in sys.modules):
            from relaygate.cli import i18n

            i18n.localize(cmd, self._zh)
        return cmd

    def format_help(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(cls=LazyGroup, help="relaygate: one OpenAI-compatible entry in front of many AI upstreams. "
                  "(中文：设置 RELAYGATE_LANG=zh-CN)", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.callback()
def _root(init: bool = typer.Option(False, "--init", help="Allow this command to create a new, empty database "
                                    "(RELAYGATE_INIT=true does the same).")) -> None:
    from relaygate.cli.common import INIT

    INIT["init"] = init


def _first_run_banner(settings: Settings, admin_token: str, api_key: str) -> None:
    base = settings.public_base_url or f"http://{settings.host}:{settings.port}/v1"
    curl = (f"curl {base}/chat/completions -H 'Authorization: Bearer {api_key}' "
            "-H 'Content-Type: application/json' "
            "-d '{\"model\":\"demo-chat\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}'")
    python = ("from openai import OpenAI\n"
              f"client = OpenAI(base_url=\"{base}\", api_key=\"{api_key}\")\n"
              "print(client.chat.completions.create(model=\"demo-chat\", "
              "messages=[{\"role\": \"user\", \"content\": \"hello\"}]).choices[0].message.content)")
    body = (f"[bold]{say(settings, 'first_run.admin')}[/bold]\n  {admin_token}\n\n"
            f"[bold]{say(settings, 'first_run.key')}[/bold]\n  {api_key}")
    from rich.panel import Panel

    console.print(Panel(body, title=say(settings, "first_run.title"), expand=False))
    console.print(say(settings, "first_run.try") + "\n")
    console.print(curl, soft_wrap=True, highlight=False, markup=False)
    console.print()
    console.print(python, soft_wrap=True, highlight=False, markup=False)
    console.print()


def _write_first_run_output(settings: Settings, admin_token: str, api_key: str) -> str:
    import os

    path = settings.data_path / "first-run-secrets.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(f"# relaygate first start: copy these, then delete this file (only hashes are stored)\n"
                 f"RELAYGATE_ADMIN_TOKEN={admin_token}\nFIRST_API_KEY={api_key}\n")
    return str(path)


async def _prepare(settings: Settings) -> Any:
    from relaygate.providers import protocols
    from relaygate.services.operate.setup import first_run
    from relaygate.store.db import make_engine, upgrade
    from relaygate.store.secret_rows import prepare_secrets

    engine = make_engine(settings.database_url)
    try:
        await upgrade(engine)
        await prepare_secrets(engine, settings.secrets_key, settings.secrets_key_file, str(settings.data_path))
        done = await first_run(engine, settings, protocols())
    finally:
        await engine.dispose()
    return done


# `serve` hands over to a fresh interpreter once the database is ready; bench/variant_serve.py turns this
# off, since the tweaks it measures are applied in its own process
FRESH_INTERPRETER = True


@app.command()
def serve(host: str = typer.Option(None, help="Listen address (RELAYGATE_HOST)."),
          port: int = typer.Option(None, help="Listen port (RELAYGATE_PORT, default 8790)."),
          workers: int = typer.Option(None, help="Worker processes (RELAYGATE_WORKERS)."),
          database_url: str = typer.Option(None, help="Database URL (RELAYGATE_DATABASE_URL)."),
          no_demo: bool = typer.Option(False, "--no-demo", help="Do not run the built-in demo upstream.")) -> None:
    """Start the gateway (migrates the database and seeds it on first start)."""
    import os

    overrides = {"host": host, "port": port, "workers": workers, "database_url": database_url}
    if no_demo:
        overrides["demo_upstream"] = False
    settings = settings_from(**overrides)
    if settings.workers > 1 and not settings.redis_url and (settings.billing or settings.limits):
        console.print(f"[red]{say(settings, 'workers.refused')}[/red]")
        raise typer.Exit(2)
    for name, value in overrides.items():  # workers re-read the environment
        if value is not None:
            os.environ[f"RELAYGATE_{name.upper()}"] = str(value)
    from relaygate.core.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    db_file = settings.sqlite_path()
    if db_file is not None and not db_file.exists():
        console.print(say(settings, "serve.new_db", path=db_file), markup=False, highlight=False)
    from relaygate.cli.common import run_db

    # a database sealed with a key this machine lacks, or one it cannot reach: one line, exit code 2
    done = run_db(settings, lambda: _prepare(settings))
    if done is not None and done.admin_token and settings.first_run_output.strip().lower() == "file":
        path = _write_first_run_output(settings, done.admin_token, done.api_key)
        console.print(say(settings, "first_run.file", path=path), markup=False, highlight=False)
    elif done is not None and done.admin_token:
        _first_run_banner(settings, done.admin_token, done.api_key)
    elif done is not None:
        console.print(say(settings, "first_run.supplied", source=done.token_source), markup=False, highlight=False)
    console.print(say(settings, "serve.listening", host=settings.host, port=settings.port,
                      db=settings.database_url.split("@")[-1]))
    console.print(say(settings, "serve.console", host=settings.host, port=settings.port))
    if not FRESH_INTERPRETER:  # the same module, run here (as uvicorn's "relaygate.web.server:create_app" was)
        import runpy

        runpy.run_module("relaygate.web.server", run_name="__main__", alter_sys=True)
        return
    # a fresh interpreter serves (same process id): without the CLI's imports, about 10 MB less at rest
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "relaygate.web.server"])


@app.command()
def demo(host: str = typer.Option("127.0.0.1"), port: int = typer.Option(8791)) -> None:
    """Run the demo upstream alone: a fake OpenAI-compatible server with deterministic answers."""
    from relaygate.fakeupstream import serve_forever

    console.print(say(settings_from(), "demo.listening", host=host, port=port))
    import asyncio

    try:
        asyncio.run(serve_forever(host, port))
    except KeyboardInterrupt:
        pass


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply database migrations (safe to repeat)."""
    from relaygate.store.db import current_revision, make_engine, upgrade

    settings = settings_from()
    from relaygate.cli.common import refuse_new_database

    refuse_new_database(settings)

    async def run() -> str | None:
        engine = make_engine(settings.database_url)
        try:
            if settings.sqlite_path() is None and not settings.init and await current_revision(engine) is None:
                return None  # a server database without relaygate's tables: refused below, nothing written
            await upgrade(engine, revision)
            return await current_revision(engine)
        finally:
            await engine.dispose()

    from relaygate.cli.common import run_db

    rev = run_db(settings, run)
    if rev is None and not settings.init:
        from relaygate.cli.common import _refuse

        _refuse(settings, settings.database_url.rpartition("@")[2])
    console.print(say(settings, "db.upgraded", rev=rev))


def _register() -> None:
    """Register every command group at once (tests, tools that walk the tree); `main` loads them lazily."""
    from relaygate.cli import resources

    resources.register(app)


def main() -> None:

    try:
        app()
    except SystemExit as exc:
        from relaygate.cli.auditgate import may_audit

        if may_audit(sys.argv[1:]):  # changing commands go to the audit log; a read loads nothing more
            from relaygate.cli.operators import audit_command

            audit_command(sys.argv[1:], exc.code)
        raise
