"""On the day of the switch: One API users sign in to the portal with the password they had. `relaygate users
import-legacy` makes each enabled One API user with a bcrypt password a portal user of the owner `migrate
import` made for them (own_<tag>_<id>); disabled, deleted, password-less and owner-less users are listed
with the reason; a second run changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import bcrypt

from relaygate.core.clock import now_ms
from relaygate.store import tables as t
from tests.console.helpers import Browser
from tests.console.test_cli_audit import run
from tests.harness import running_gateway


def go_bcrypt(password: str) -> str:  # Go's golang.org/x/crypto/bcrypt writes $2a$
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode().replace("$2b$", "$2a$", 1)


async def test_one_api_users_sign_in_to_the_portal_with_their_old_password(tmp_path: Path) -> None:
    from tests.migration.fixtures import load_tables
    from tests.migration.schemas import oneapi_metadata

    users = [{"id": 3, "username": "joe", "password": go_bcrypt("joe-old-pw-1"), "role": 1, "status": 1},
             {"id": 4, "username": "kim", "password": go_bcrypt("kim-old-pw-1"), "role": 1, "status": 2},
             {"id": 5, "username": "lou", "password": "", "role": 1, "status": 1},
             {"id": 6, "username": "max", "password": go_bcrypt("max-old-pw-1"), "role": 1, "status": 1}]
    base = {"display_name": "", "quota": 0, "used_quota": 0, "request_count": 0, "group": "default"}
    src = tmp_path / "one-api.db"
    await load_tables(f"sqlite+aiosqlite:///{src}", oneapi_metadata(),
                      {"users": [{**base, **u, "aff_code": f"A{u['id']}"} for u in users]})
    db = f"sqlite+aiosqlite:///{tmp_path}/relaygate.db"
    async with running_gateway(db) as gw:  # the owners `migrate import` makes (max's is missing)
        async with gw.gateway.engine.begin() as conn:
            for uid, name in ((3, "joe"), (4, "kim"), (5, "lou")):
                await conn.execute(t.owners.insert().values(id=f"own_oa_{uid}", name=name, kind="person",
                                                            created_at=now_ms(), updated_at=now_ms()))
    out = await run(db, "users", "import-legacy", str(src), "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    result = {r["username"]: r for r in json.loads(out.stdout)}
    assert result["joe"]["result"] == "imported" and result["joe"]["owner_id"] == "own_oa_3"
    assert {n: result[n]["result"] for n in ("kim", "lou", "max")} == dict.fromkeys(("kim", "lou", "max"), "skipped")
    assert "disabled" in result["kim"]["reason"] and "bcrypt" in result["lou"]["reason"]
    assert "migrate import" in result["max"]["reason"]
    again = json.loads((await run(db, "users", "import-legacy", str(src), "--json")).stdout)
    assert {r["username"]: r["result"] for r in again}["joe"] == "existing"
    async with running_gateway(db) as gw:
        async with Browser(gw) as b:
            await sign_in_as(b, "joe", "joe-old-pw-1")
            status, html = await b.get("/portal/")
            assert status == 200 and "joe" in html
        async with gw.gateway.engine.connect() as conn:
            from sqlalchemy import select

            row = (await conn.execute(select(t.portal_users).where(t.portal_users.c.username == "joe"))).one()
        assert row.owner_id == "own_oa_3" and row.source == "oneapi"


async def sign_in_as(b: Browser, name: str, password: str) -> None:
    from tests.console.helpers import hidden

    async with b.session.get(b.url("/portal/login")) as resp:
        pre = hidden(await resp.text(), "pre")
    async with b.session.post(b.url("/portal/login"), data={"pre": pre, "name": name, "password": password}) as r:
        assert r.status == 200, await r.text()
