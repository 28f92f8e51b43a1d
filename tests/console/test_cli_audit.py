"""The CLI side: operators, admin tokens, channel tests, and the audit log entries of CLI and API actions."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.harness import Running, running_gateway, start_fake


def cli(db: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "RELAYGATE_DATABASE_URL": db, "RELAYGATE_LANG": "en", "USER": "night-op", **(env or {})}
    return subprocess.run([sys.executable, "-m", "relaygate.cli", *args], capture_output=True, text=True, env=full,
                          timeout=60, check=False)


async def run(db: str, *args: str, **kw: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(cli, db, *args, **kw)


async def test_operators_and_admin_tokens_from_the_cli(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    out = await run(db, "operators", "add", "ada", "--role", "admin", "--password", "long enough pw")
    assert out.returncode == 0, out.stdout + out.stderr
    assert (await run(db, "operators", "add", "bob", "--role", "boss", "--password", "long enough pw")).returncode == 2
    assert "ada" in (await run(db, "operators", "list")).stdout
    out = await run(db, "admin-tokens", "create", "spare")
    token = out.stdout.strip().splitlines()[-1]
    assert token.startswith("rga-")
    listed = await run(db, "admin-tokens", "list", "--json")
    assert token not in listed.stdout and "spare" in listed.stdout
    async with running_gateway(db) as gw:
        from relaygate.services.operate.operators import OperatorsAdmin

        ops = OperatorsAdmin(gw.gateway.engine)
        principal = await ops.sign_in("ada", "long enough pw", gw.gateway.admin_hashes)
        assert principal.role == "admin"
        async with aiohttp.ClientSession() as s:
            async with s.post(gw.root + "/api/owners", json={"name": "acme"},
                              headers={"Authorization": f"Bearer {token}"}) as resp:
                assert resp.status == 201
        assert (await run(db, "admin-tokens", "revoke", "spare")).returncode == 0
        await asyncio.sleep(0.5)  # the other process's revocation reaches this one with the config poll
        async with aiohttp.ClientSession() as s:
            async with s.get(gw.root + "/api/owners", headers={"Authorization": f"Bearer {token}"}) as resp:
                assert resp.status == 401
        out = await run(db, "owners", "add", "globex")
        assert out.returncode == 0, out.stderr
        from relaygate.services.operate.audit import AuditLog

        rows = await AuditLog(gw.gateway.engine).search(limit=50)
    actions = {(r["source"], r["action"]) for r in rows}
    assert ("cli", "operator.create") in actions and ("cli", "admin_token.create") in actions
    assert ("cli", "admin_token.revoke") in actions and ("cli", "owners.add") in actions
    assert ("api", "POST /api/owners") in actions
    assert all(r["actor"] == "night-op" for r in rows if r["source"] == "cli")
    assert not any("long enough pw" in str(r) or token in str(r) for r in rows)


async def test_imported_bcrypt_hash_signs_in(gw: Running) -> None:
    import bcrypt

    from relaygate.services.operate.operators import OperatorsAdmin

    go_hash = bcrypt.hashpw(b"from-one-api", bcrypt.gensalt(rounds=4)).decode().replace("$2b$", "$2a$", 1)
    ops = OperatorsAdmin(gw.gateway.engine)
    assert await ops.import_hashed("root", "admin", go_hash, "oneapi") is not None
    assert (await ops.sign_in("root", "from-one-api", set())).name == "root"


async def test_channels_test_command(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    fake = await start_fake()
    try:
        async with running_gateway(db) as gw:
            await gw.add_channel(fake, "good", ["demo-chat"])
            await gw.gateway.routing.create_channel(name="dead", base_url="http://127.0.0.1:9/v1",
                                                    secrets=["sk-dead-upstream-000001"], models=["demo-chat"])
        out = await run(db, "channels", "test", "good", "--json")
        assert out.returncode == 0, out.stdout + out.stderr
        assert '"ok": true' in out.stdout
        out = await run(db, "channels", "test", "--json")
        assert out.returncode == 1 and '"ok": false' in out.stdout
        assert "sk-dead-upstream-000001" not in out.stdout
    finally:
        await fake.stop()


async def test_one_api_admins_sign_in_with_their_old_password(tmp_path: Path) -> None:
    import bcrypt

    from tests.console.helpers import Browser
    from tests.migration.fixtures import load_tables
    from tests.migration.schemas import oneapi_metadata

    def go_bcrypt(password: str) -> str:  # Go's golang.org/x/crypto/bcrypt writes $2a$
        return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode().replace("$2b$", "$2a$", 1)

    users = [{"id": 1, "username": "root", "password": go_bcrypt("old root pw"), "role": 100, "status": 1},
             {"id": 2, "username": "mia", "password": go_bcrypt("old admin pw"), "role": 10, "status": 1},
             {"id": 3, "username": "joe", "password": go_bcrypt("user pw"), "role": 1, "status": 1},
             {"id": 4, "username": "gone", "password": go_bcrypt("gone pw"), "role": 10, "status": 2}]
    base = {"display_name": "", "quota": 0, "used_quota": 0, "request_count": 0, "group": "default"}
    src = tmp_path / "one-api.db"
    await load_tables(f"sqlite+aiosqlite:///{src}", oneapi_metadata(),
                      {"users": [{**base, **u, "aff_code": f"A{u['id']}"} for u in users]})
    db = f"sqlite+aiosqlite:///{tmp_path}/relaygate.db"
    out = await run(db, "operators", "import-legacy", str(src), "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    assert '"root"' in out.stdout and '"gone"' in out.stdout and '"joe"' not in out.stdout
    async with running_gateway(db) as gw:
        async with Browser(gw) as b:
            assert (await b.sign_in("mia", "old admin pw")).status == 200
            status, html = await b.get("/console/")
            assert status == 200 and "mia" in html
        async with Browser(gw) as b:
            assert (await b.sign_in("gone", "gone pw")).status == 401
        async with Browser(gw) as b:
            assert (await b.sign_in("joe", "user pw")).status == 401


def test_nothing_in_the_code_edits_or_deletes_an_audit_row() -> None:
    """The audit log is appended to, never edited: no module issues an UPDATE or DELETE on it."""
    root = Path(__file__).resolve().parents[2] / "src/relaygate"
    offenders = []
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if re.search(r"audit_log\s*\.\s*(update|delete)\(|(update|delete)\(\s*(t\.)?audit_log\b|"
                     r"(UPDATE|DELETE FROM)\s+audit_log", text):
            offenders.append(str(path.relative_to(root)))
    assert not offenders, offenders
