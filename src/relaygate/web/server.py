"""The ASGI application as uvicorn serves it: the raw relay surface, with the admin API (and, as they
come, the console and portal) mounted behind it. Composition lives here so that ``web/relay`` never
imports FastAPI and the hot path stays the raw ASGI of ``web/relay/asgi.py``.

The admin app and the console are imported on their first request, not at start: FastAPI, pydantic,
Starlette and the console's templates are about 20 MB of a worker that only relays (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Callable

from relaygate.app import Gateway
from relaygate.core.settings import Settings
from relaygate.web.asgi_types import ASGIApp
from relaygate.web.relay.asgi import RelayApp


def build_admin_app(gateway: Gateway) -> ASGIApp:
    """The FastAPI app under /api, imported when /api is first asked for."""
    from relaygate.web.api.app import build_admin_app as build

    return build(gateway)


def build_console_app(gateway: Gateway) -> ASGIApp:
    """The web console and portal, imported when a page is first asked for."""
    from relaygate.web.console.app import build_console_app as build

    return build(gateway)


def build_app(settings: Settings, gateway: Gateway | None = None,
              print_first_run: Callable[[Gateway], None] | None = None) -> RelayApp:
    """The relay app with ``/api`` (FastAPI admin app) and ``/console`` (the web console), each built on first use."""
    return RelayApp(settings, gateway, print_first_run, admin_factory=build_admin_app,
                    console_factory=build_console_app)


def create_app() -> RelayApp:
    """Factory for ``uvicorn --factory`` (one call per worker process)."""
    from relaygate.core.logs import configure_logging

    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)  # each worker process logs the same way
    return build_app(settings)


def run() -> None:
    """Serve with uvicorn as ``relaygate serve`` configured it (``python -m relaygate.web.server``).

    ``relaygate serve`` execs this after it prepared the database, so the serving process starts without
    the CLI's imports (Typer, Click, Rich) and the preparation's leftovers: about 10 MB less at rest. The
    settings come from the environment, as in every worker."""
    import uvicorn

    settings = Settings.from_env()
    uvicorn.run("relaygate.web.server:create_app", factory=True, host=settings.host, port=settings.port,
                workers=settings.workers if settings.workers > 1 else None, loop="uvloop", http="httptools",
                log_level="warning", access_log=False, timeout_graceful_shutdown=30, lifespan="on")


if __name__ == "__main__":
    run()
