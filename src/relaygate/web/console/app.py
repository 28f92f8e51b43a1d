"""The console's ASGI app: routes of every page module, the vendored static files, the security wrapper."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount

from relaygate.app import Gateway
from relaygate.services.operate.audit import AuditLog
from relaygate.services.operate.operators import OperatorsAdmin
from relaygate.services.operate.websessions import IDLE_MS, WebSessions
from relaygate.web.asgi_types import ASGIApp
from relaygate.web.console.assets import Assets
from relaygate.web.console.context import Services
from relaygate.web.console.pages import (
    auth,
    balances,
    channels,
    codes,
    holders,
    keys,
    migration,
    models,
    overview,
    owners,
    portal,
    portal_public,
    rollout,
    support,
    tasks,
    team,
    usage,
)
from relaygate.web.console.security import Guarded

STATIC = Path(__file__).parent / "static"


def build_services(gw: Gateway) -> Services:
    hours = gw.settings.console_session_hours
    return Services(gw, OperatorsAdmin(gw.engine),
                    WebSessions(gw.engine, idle_ms=min(IDLE_MS, int(hours * 3_600_000)),
                                absolute_ms=int(hours * 3_600_000)), AuditLog(gw.engine))


def build_console_app(gw: Gateway) -> ASGIApp:
    svc = build_services(gw)
    routes: list[BaseRoute] = [Mount("/console/static", app=Assets(STATIC, "/console/static"), name="static")]
    for module in (auth, overview, channels, models, owners, keys, balances, usage, tasks, support, rollout, team,
                   portal, portal_public, holders, codes, migration):
        routes.extend(module.routes(svc))
    return Guarded(Starlette(routes=routes), gw.settings)
