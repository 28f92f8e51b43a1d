"""`relaygate secrets status|rotate|new-key`: the key that encrypts upstream (channel) secrets at rest."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer

from relaygate.cli.common import emit, settings_from
from relaygate.cli.helpers import json_option, tell
from relaygate.core.settings import Settings

T = TypeVar("T")
secrets_app = typer.Typer(help="Encryption of upstream secrets at rest: status, key rotation.",
                          no_args_is_help=True)


def _run(fn: Callable[[Any, Settings], Awaitable[T]]) -> T:
    from relaygate.cli.common import refuse_empty_server, refuse_new_database, run_db
    from relaygate.store.db import make_engine, upgrade

    settings = settings_from()
    refuse_new_database(settings)  # nor a new key file beside an empty database

    async def go() -> T:
        engine = make_engine(settings.database_url)
        try:
            await refuse_empty_server(settings, engine)
            if settings.auto_migrate:
                await upgrade(engine)
            return await fn(engine, settings)
        finally:
            await engine.dispose()

    return run_db(settings, go)


@secrets_app.command("status")
def status(as_json: bool = json_option()) -> None:
    """Where the key comes from and which key sealed how many channels."""
    async def go(engine: Any, s: Settings) -> dict[str, Any]:
        from relaygate.store.secret_rows import prepare_secrets

        state = await prepare_secrets(engine, s.secrets_key, s.secrets_key_file, str(s.data_path))
        return {"source": state.ring.source, "current_key": state.ring.current_id,
                "keys": state.ring.ids, "sealed_channels": state.sealed, "clear_channels": state.clear}

    view = _run(go)
    if as_json:
        emit(view, [], True)
        return
    tell("secrets.status", style="", source=view["source"], kid=view["current_key"],
         sealed=sum(view["sealed_channels"].values()), clear=view["clear_channels"])


@secrets_app.command("rotate")
def rotate(new: str = typer.Option(None, "--new-key", help="Use this key (base64url, 32 bytes) instead of a "
                                                           "fresh one; key file only.")) -> None:
    """Re-encrypt every channel secret under a new key.

    With the key file (the default), a new key is generated, every channel is re-sealed, and the file
    keeps only the new key; running gateways read the file again by themselves. With
    RELAYGATE_SECRETS_KEY, set it to "<new>,<old>" on every process first, run this, then drop <old>.
    """
    async def go(engine: Any, s: Settings) -> tuple[str | None, str | None, int]:
        from relaygate.store.secret_rows import rotate_secrets

        return await rotate_secrets(engine, s.secrets_key, s.secrets_key_file, str(s.data_path), new)

    old_id, new_id, count = _run(go)
    tell("secrets.rotated", old=old_id or "-", new=new_id or "-", count=count)


@secrets_app.command("new-key")
def make_key() -> None:
    """Print a fresh key for RELAYGATE_SECRETS_KEY."""
    from relaygate.core.secrets import new_key

    typer.echo(new_key())
