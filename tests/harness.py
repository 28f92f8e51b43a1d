"""Test harness: the real app on a real socket, fake upstreams on real sockets, real databases."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import uvicorn

from relaygate.app import Gateway
from relaygate.core.settings import Settings
from relaygate.fakeupstream import FakeUpstream
from relaygate.store.db import make_engine, upgrade
from relaygate.web.server import build_app

PG_URL = os.environ.get("RELAYGATE_TEST_POSTGRES_URL", "")
MYSQL_URL = os.environ.get("RELAYGATE_TEST_MYSQL_URL", "")
# Set to migrate every test's new SQLite file from empty (as before the schema template); the template is
# itself built by the same Alembic upgrade once per session, so a broken migration still fails every test
FRESH_SCHEMA = bool(os.environ.get("RELAYGATE_TEST_FRESH_SCHEMA"))

_template: list[str] = []


async def sqlite_template() -> str:
    """A SQLite file migrated to head once per session (Alembic from empty: ~0.2 s CPU, ~40 ms to copy)."""
    if not _template:
        path = _template_path()
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()  # the last connection checkpoints the WAL into the file
        _template.append(path)
    return _template[0]


def _template_path() -> str:
    return os.path.join(tempfile.mkdtemp(prefix="relaygate-test-template-"), "template.db")


def _new_sqlite_file(database_url: str) -> str | None:
    """The file of a SQLite URL when it does not exist yet (None for other databases, memory, or a file)."""
    if FRESH_SCHEMA or not database_url.startswith("sqlite"):
        return None
    path = database_url.split(":///", 1)[-1].split("?", 1)[0]
    return None if not path or path == ":memory:" or os.path.exists(path) else path


def _copy(template: str, path: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    shutil.copyfile(template, path)


async def seed_schema(database_url: str) -> None:
    """A new SQLite file starts as a copy of the migrated template: what the gateway's first start would make."""
    path = _new_sqlite_file(database_url)
    if path is not None:
        _copy(await sqlite_template(), path)


def free_socket() -> socket.socket:
    # IPPROTO_TCP, not 0: asyncio disables Nagle only on sockets that say they are TCP, and without that every
    # reused keep-alive connection waited ~40 ms per response (a delayed ACK), as `relaygate serve` (uvloop) does not
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class Running:
    gateway: Gateway
    server: uvicorn.Server
    port: int
    task: asyncio.Task[None]
    admin_token: str = ""
    api_key: str = ""
    fakes: list[FakeUpstream] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def add_key(self, owner: str = "alice", group: str = "default", **kw: Any) -> tuple[str, str]:
        """Create (owner if needed and) a key; return (secret, key id). Reloads the snapshot."""
        owners = {o["name"]: o for o in await self.gateway.accounts.list_owners()}
        if owner not in owners:
            await self.gateway.accounts.create_owner(owner)
        groups = {g["name"] for g in await self.gateway.accounts.list_groups()}
        if group not in groups:
            await self.gateway.accounts.upsert_group(group, None)
        view, secret = await self.gateway.accounts.create_key(kw.pop("name", "test key"), owner, group, **kw)
        await self.gateway.state.reload()
        return secret, view["id"]

    async def add_channel(self, fake: FakeUpstream, name: str, models: dict[str, str] | list[str],
                          **kw: Any) -> int:
        view = await self.gateway.routing.create_channel(
            name=name, base_url=fake.base_url, secrets=kw.pop("secrets", ["sk-upstream-test-secret-0001"]),
            models=models, **kw)
        await self.gateway.state.reload()
        return int(view["id"])

    async def usage_rows(self) -> list[dict[str, Any]]:
        from relaygate.services.operate.usage import UsageFilter

        await self.gateway.usage.flush()
        return await self.gateway.usage_query.search(UsageFilter(), limit=1000)

    async def usage_for(self, request_id: str) -> dict[str, Any]:
        for _ in range(100):
            for row in await self.usage_rows():
                if row["request_id"] == request_id:
                    return row
            await asyncio.sleep(0.02)
        raise AssertionError(f"no usage record for {request_id}")


class _Server(uvicorn.Server):
    """uvicorn's server, woken when told to exit: its main loop otherwise notices ``should_exit`` on its next
    0.1 s tick, which cost every gateway test ~0.1 s at the end. Ticks (the Date header) run as before."""

    _exit: asyncio.Event | None = None

    @property  # type: ignore[override]
    def should_exit(self) -> bool:
        return self.__dict__.get("_should_exit", False)

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self.__dict__["_should_exit"] = value
        if value and self._exit is not None:
            self._exit.set()

    async def main_loop(self) -> None:
        self._exit = asyncio.Event()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit.wait(), 0.1)


async def start_fake(**kw: Any) -> FakeUpstream:
    fake = FakeUpstream(**kw)
    await fake.start()
    return fake


async def plan(fake: FakeUpstream, model: str, *behaviors: dict[str, Any], sticky: bool = False) -> None:
    async with aiohttp.ClientSession() as s:
        await s.post(f"http://127.0.0.1:{fake.port}/_fake/plan",
                     json={"model": model, "behaviors": list(behaviors), "sticky": sticky})


@asynccontextmanager
async def running_gateway(database_url: str, **settings: Any) -> AsyncIterator[Running]:
    """Start relaygate on an ephemeral port (uvicorn, httptools) with the given database."""
    values: dict[str, Any] = {"database_url": database_url, "demo_upstream": False,
                              "usage_flush_seconds": 0.05, "config_poll_seconds": 0.2,
                              "probe_interval_seconds": 0.1, "cooldown_seconds": 0.5,
                              "unpriced_models": "default"}
    values.update(settings)
    if values.get("auto_migrate", True):
        await seed_schema(database_url)
    cfg = Settings(**values)
    gateway = Gateway.build(cfg)
    app = build_app(cfg, gateway)
    sock = free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, http="httptools", loop="asyncio", lifespan="on", log_level="warning",
                            access_log=False)
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(3000):  # 30 s: a schema upgrade on a MariaDB shared by busy neighbours takes 5 s and more
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if task.done():
        task.result()
    assert server.started, "gateway did not start"
    first = gateway.first_run
    running = Running(gateway, server, port, task, first.admin_token if first else "",
                      first.api_key if first else "")
    try:
        yield running
    finally:
        server.should_exit = True
        await task
        for fake in running.fakes:
            await fake.stop()
        sock.close()
