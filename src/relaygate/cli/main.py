"""`relaygate` entry point: serve, demo, db; the resource commands live in sibling modules."""

from __future__ import annotations

import asyncio
from typing import Any

import typer
from rich.console import Console
from rich.panel import Panel

from relaygate.cli.common import settings_from
from relaygate.cli.text import say
from relaygate.core.settings import Settings

app = typer.Typer(help="relaygate: one OpenAI-compatible entry in front of many AI upstreams. "
                       "(中文：设置 RELAYGATE_LANG=zh-CN)", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.callback()
def _root(init: bool = typer.Option(False, "--init", help="Allow this command to create a new, empty database "
                                    "(RELAYGATE_INIT=true does the same).")) -> None:
    from relaygate.cli.common import INIT

    INIT["init"] = init
console = Console()


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

    engine = make_engine(settings.database_url)
    try:
        await upgrade(engine)
        done = await first_run(engine, settings, protocols())
    finally:
        await engine.dispose()
    return done


@app.command()
def serve(host: str = typer.Option(None, help="Listen address (RELAYGATE_HOST)."),
          port: int = typer.Option(None, help="Listen port (RELAYGATE_PORT, default 8790)."),
          workers: int = typer.Option(None, help="Worker processes (RELAYGATE_WORKERS)."),
          database_url: str = typer.Option(None, help="Database URL (RELAYGATE_DATABASE_URL)."),
          no_demo: bool = typer.Option(False, "--no-demo", help="Do not run the built-in demo upstream.")) -> None:
    """Start the gateway (migrates the database and seeds it on first start)."""
    import os

    import uvicorn

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
    from relaygate.core.errors import InvalidInput
    from relaygate.core.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    db_file = settings.sqlite_path()
    if db_file is not None and not db_file.exists():
        console.print(say(settings, "serve.new_db", path=db_file), markup=False, highlight=False)
    try:
        done = asyncio.run(_prepare(settings))
    except InvalidInput as exc:
        console.print(say(settings, "error", message=exc.message(settings.lang_code())), style="red",
                      markup=False, highlight=False)
        raise typer.Exit(2) from None
    if done is not None and done.admin_token and settings.first_run_output.strip().lower() == "file":
        path = _write_first_run_output(settings, done.admin_token, done.api_key)
        console.print(say(settings, "first_run.file", path=path), markup=False, highlight=False)
    elif done is not None and done.admin_token:
        _first_run_banner(settings, done.admin_token, done.api_key)
    elif done is not None:
        console.print(say(settings, "first_run.supplied", source=done.token_source), markup=False, highlight=False)
    console.print(say(settings, "serve.listening", host=settings.host, port=settings.port,
                      db=settings.database_url.split("@")[-1]))
    uvicorn.run("relaygate.web.server:create_app", factory=True, host=settings.host, port=settings.port,
                workers=settings.workers if settings.workers > 1 else None, loop="uvloop", http="httptools",
                log_level="warning", access_log=False, timeout_graceful_shutdown=30, lifespan="on")


@app.command()
def demo(host: str = typer.Option("127.0.0.1"), port: int = typer.Option(8791)) -> None:
    """Run the demo upstream alone: a fake OpenAI-compatible server with deterministic answers."""
    from relaygate.fakeupstream import serve_forever

    console.print(say(settings_from(), "demo.listening", host=host, port=port))
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
            await upgrade(engine, revision)
            return await current_revision(engine)
        finally:
            await engine.dispose()

    console.print(say(settings, "db.upgraded", rev=asyncio.run(run())))


def _register() -> None:
    from relaygate.cli import resources

    resources.register(app)


def main() -> None:
    _register()
    app()
