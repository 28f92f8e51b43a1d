"""Upstream secrets at rest: sealed in every database, clear rows sealed at start, a missing key stops the
start with a message that says what to set, rotation by the CLI while a gateway keeps serving."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import JSON, select, text, type_coerce
from typer.testing import CliRunner

from relaygate.app import Gateway
from relaygate.cli import main as cli_main
from relaygate.core.clock import now_ms
from relaygate.core.secrets import SecretsKeyError, key_id, new_key, parse_key
from relaygate.core.settings import Settings
from relaygate.fakeupstream import FakeUpstream
from relaygate.store import tables as t
from relaygate.store.db import make_engine, upgrade
from relaygate.store.secret_rows import prepare_secrets, rotate_secrets
from tests.harness import Running, running_gateway

SECRET = "sk-upstream-very-secret-0123456789"


async def raw_secrets(engine: Any) -> list[Any]:
    async with engine.connect() as conn:
        return [r[0] for r in await conn.execute(select(type_coerce(t.channels.c.secrets, JSON)))]


async def raw_text(engine: Any) -> str:
    async with engine.connect() as conn:
        return " ".join(str(r[0]) for r in await conn.execute(text("SELECT secrets FROM channels")))


async def call(gw: Running, secret: str) -> int:
    async with aiohttp.ClientSession() as s:
        async with s.post(gw.base_url + "/chat/completions", headers={"Authorization": f"Bearer {secret}"},
                          json={"model": "m", "messages": [{"role": "user", "content": "hi"}]}) as resp:
            return resp.status


def cli(env: dict[str, str], *args: str) -> Any:
    cli_main._register()
    return CliRunner().invoke(cli_main.app, list(args), env={"RELAYGATE_LANG": "en", "COLUMNS": "200",
                                                             "RELAYGATE_DEMO_UPSTREAM": "false", **env})


async def test_secrets_are_sealed_at_rest_and_used_in_clear(backend_url: str, tmp_path: Path,
                                                             fake: FakeUpstream) -> None:
    async with running_gateway(backend_url, data_dir=str(tmp_path)) as gw:
        await gw.add_channel(fake, "up", ["m"], secrets=[SECRET, SECRET + "-b"])
        stored = await raw_secrets(gw.gateway.engine)
        assert len(stored) == 1 and isinstance(stored[0], str) and stored[0].startswith("rgenc1:")
        assert SECRET not in await raw_text(gw.gateway.engine) and "very-secret" not in stored[0]
        assert gw.gateway.state.snapshot.channels[1].secrets == (SECRET, SECRET + "-b")
        key, _ = await gw.add_key()
        assert await call(gw, key) == 200
        assert fake.state.requests[-1]["headers"]["authorization"] == f"Bearer {SECRET}"
        async with aiohttp.ClientSession() as s:
            async with s.get(gw.root + "/api/channels", headers={"Authorization": f"Bearer {gw.admin_token}"}) as r:
                listing = await r.text()
        assert SECRET not in listing and "very-secret" not in listing
        assert (tmp_path / "secrets.key").stat().st_mode & 0o077 == 0 or not backend_url.startswith("sqlite")


async def test_clear_rows_from_before_are_sealed_at_start(sqlite_url: str, tmp_path: Path,
                                                          fake: FakeUpstream) -> None:
    engine = make_engine(sqlite_url)
    await upgrade(engine)
    now = now_ms()
    async with engine.begin() as conn:  # a row as an older relaygate wrote it: secrets in clear
        await conn.execute(t.channels.insert().values(
            name="old", protocol="openai", base_url=fake.base_url, secrets=type_coerce([SECRET], JSON),
            models={"m": "m"}, priority=0, weight=1, enabled=True, connect_timeout=5.0, first_byte_timeout=5.0,
            total_timeout=30.0, created_at=now, updated_at=now))
    assert await raw_secrets(engine) == [[SECRET]]
    await engine.dispose()
    async with running_gateway(sqlite_url, data_dir=str(tmp_path)) as gw:
        stored = await raw_secrets(gw.gateway.engine)
        assert stored[0].startswith("rgenc1:") and SECRET not in await raw_text(gw.gateway.engine)
        key, _ = await gw.add_key()
        assert await call(gw, key) == 200
        assert fake.state.requests[-1]["headers"]["authorization"] == f"Bearer {SECRET}"


async def test_a_missing_key_stops_the_start_and_says_what_to_set(sqlite_url: str, tmp_path: Path,
                                                                  fake: FakeUpstream) -> None:
    async with running_gateway(sqlite_url, data_dir=str(tmp_path)) as gw:
        await gw.add_channel(fake, "up", ["m"], secrets=[SECRET])
        kid = gw.gateway.engine.sync_engine.dialect._relaygate_keys.ring.current_id
    key_file = tmp_path / "secrets.key"
    saved = key_file.read_text()
    key_file.unlink()  # the key is lost (or this machine never had it)
    gateway = Gateway.build(Settings(database_url=sqlite_url, data_dir=str(tmp_path), demo_upstream=False))
    with pytest.raises(SecretsKeyError) as info:
        await gateway.start()
    await gateway.engine.dispose()
    assert kid in info.value.en and "RELAYGATE_SECRETS_KEY" in info.value.en and kid in info.value.zh
    assert not key_file.exists(), "a new key must not be made for a database sealed with another"
    result = await asyncio.to_thread(cli, {"RELAYGATE_DATABASE_URL": sqlite_url}, "channels", "list")
    assert result.exit_code == 2 and kid in result.output and "RELAYGATE_SECRETS_KEY" in result.output
    wrong = new_key()
    result = await asyncio.to_thread(cli, {"RELAYGATE_DATABASE_URL": sqlite_url, "RELAYGATE_SECRETS_KEY": wrong},
                                     "secrets", "status")
    assert result.exit_code == 2 and kid in result.output and key_id(parse_key(wrong)) in result.output
    key_file.write_text(saved)
    result = await asyncio.to_thread(cli, {"RELAYGATE_DATABASE_URL": sqlite_url}, "channels", "list", "--json")
    assert result.exit_code == 0 and SECRET not in result.output


async def test_rotation_by_the_cli_while_a_gateway_serves(sqlite_url: str, tmp_path: Path,
                                                         fake: FakeUpstream) -> None:
    async with running_gateway(sqlite_url, data_dir=str(tmp_path)) as gw:
        await gw.add_channel(fake, "up", ["m"], secrets=[SECRET])
        key, _ = await gw.add_key()
        old = (tmp_path / "secrets.key").read_text()
        env = {"RELAYGATE_DATABASE_URL": sqlite_url}
        result = await asyncio.to_thread(cli, env, "secrets", "rotate")
        assert result.exit_code == 0, result.output
        assert "Re-encrypted 1 channel(s)" in result.output
        new = (tmp_path / "secrets.key").read_text()
        assert new != old and len([ln for ln in new.splitlines() if not ln.startswith("#")]) == 1
        new_id = key_id(parse_key(new.splitlines()[-1]))
        stored = await raw_secrets(gw.gateway.engine)
        assert stored[0].startswith(f"rgenc1:{new_id}:")
        # a change makes the running gateway read the rows again: it finds the new key in the file itself
        await gw.gateway.routing.update_channel("up", weight=2)
        await gw.gateway.state.reload()
        assert gw.gateway.state.snapshot.channels[1].secrets == (SECRET,)
        assert await call(gw, key) == 200
        assert fake.state.requests[-1]["headers"]["authorization"] == f"Bearer {SECRET}"
        status = await asyncio.to_thread(cli, env, "secrets", "status", "--json")
        assert status.exit_code == 0 and new_id in status.output and '"clear_channels": 0' in status.output


async def test_keys_from_the_environment_and_their_rotation(sqlite_url: str, tmp_path: Path,
                                                           fake: FakeUpstream) -> None:
    k1, k2 = new_key(), new_key()
    async with running_gateway(sqlite_url, data_dir=str(tmp_path), secrets_key=k1) as gw:
        await gw.add_channel(fake, "up", ["m"], secrets=[SECRET])
    assert not (tmp_path / "secrets.key").exists(), "a key from the environment needs no file"
    engine = make_engine(sqlite_url)
    try:
        assert (await raw_secrets(engine))[0].startswith(f"rgenc1:{key_id(parse_key(k1))}:")
        with pytest.raises(SecretsKeyError):
            await rotate_secrets(engine, k1, "", str(tmp_path), new_key())  # env keys: no --new-key
        old_id, new_id, count = await rotate_secrets(engine, f"{k2},{k1}", "", str(tmp_path))
        assert (old_id, new_id, count) == (key_id(parse_key(k1)), key_id(parse_key(k2)), 1)
        assert (await raw_secrets(engine))[0].startswith(f"rgenc1:{new_id}:")
        with pytest.raises(SecretsKeyError):
            await prepare_secrets(engine, k1, "", str(tmp_path))
        state = await prepare_secrets(engine, k2, "", str(tmp_path))
        assert state.sealed == {new_id: 1} and state.clear == 0
    finally:
        await engine.dispose()


async def test_an_altered_row_is_refused(sqlite_url: str, tmp_path: Path, fake: FakeUpstream) -> None:
    async with running_gateway(sqlite_url, data_dir=str(tmp_path)) as gw:
        await gw.add_channel(fake, "up", ["m"], secrets=[SECRET])
        stored = (await raw_secrets(gw.gateway.engine))[0]
        flipped = stored[:-3] + ("A" if stored[-3] != "A" else "B") + stored[-2:]
        async with gw.gateway.engine.begin() as conn:
            await conn.execute(t.channels.update().values(secrets=type_coerce(flipped, JSON)))
        with pytest.raises(Exception, match="altered"):
            await gw.gateway.routing.list_channels()


async def test_first_starts_racing_on_one_database_agree_on_one_key(backend_url: str, tmp_path: Path) -> None:
    """Two machines starting at once on an empty shared database, each without a key: one key wins, the
    other machine stops with the message (and leaves no key file behind) instead of sealing with its own."""
    engines = [make_engine(backend_url) for _ in range(2)]
    try:
        await upgrade(engines[0])
        dirs = [tmp_path / "a", tmp_path / "b"]
        results = await asyncio.gather(*(prepare_secrets(e, "", str(d / "secrets.key"), str(d))
                                         for e, d in zip(engines, dirs, strict=True)), return_exceptions=True)
        won = [r for r in results if not isinstance(r, BaseException)]
        lost = [r for r in results if isinstance(r, BaseException)]
        assert len(won) == 1 and len(lost) == 1 and isinstance(lost[0], SecretsKeyError), results
        assert won[0].ring.current_id in lost[0].en
        assert sum((d / "secrets.key").exists() for d in dirs) == 1
        loser_dir = dirs[results.index(lost[0])]
        with pytest.raises(SecretsKeyError):  # and stays refused on its next start
            await prepare_secrets(engines[1], "", str(loser_dir / "secrets.key"), str(loser_dir))
    finally:
        for e in engines:
            await e.dispose()


def test_the_key_file_of_a_server_database_lives_in_the_data_folder_not_the_current_directory(
        tmp_path: Path) -> None:
    """With PostgreSQL/MariaDB and no RELAYGATE_DATA_DIR, the key belongs in the default data folder
    ($XDG_DATA_HOME/relaygate), as documented: a command run from a project folder must neither drop a
    secrets.key there (one was once committed that way) nor look for the key there next time."""
    import os
    import subprocess
    import sys

    from tests.harness import PG_URL

    if not PG_URL:
        pytest.skip("needs PostgreSQL (a server database, where the key does not sit beside a file)")
    asyncio.run(_reset(PG_URL))
    cwd, xdg = tmp_path / "project", tmp_path / "xdg"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYGATE_")}
    env.update(RELAYGATE_DATABASE_URL=PG_URL, XDG_DATA_HOME=str(xdg), RELAYGATE_INIT="true", RELAYGATE_LANG="en")
    done = subprocess.run([sys.executable, "-m", "relaygate.cli", "secrets", "status"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (cwd / "secrets.key").exists()
    assert (xdg / "relaygate" / "secrets.key").is_file()


async def _reset(url: str) -> None:
    from tests.dbreset import reset_database

    await reset_database(url)
