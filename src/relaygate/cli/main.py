"""`relaygate` entry point: serve, demo, db; the resource commands live in sibling modules."""

from __future__ import annotations

import asyncio
import logging

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


async def _prepare(settings: Settings) -> tuple[str, str] | None:
    from relaygate.providers import protocols
    from relaygate.services.operate.setup import first_run
    from relaygate.store.db import make_engine, upgrade

    engine = make_engine(settings.database_url)
    try:
        await upgrade(engine)
        done = await first_run(engine, settings, protocols())
    finally:
        await engine.dispose()
    return (done.admin_token, done.api_key) if done else None


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
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    secrets = asyncio.run(_prepare(settings))
    if secrets:
        _first_run_banner(settings, *secrets)
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
