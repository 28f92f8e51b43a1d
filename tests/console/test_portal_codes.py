"""Redemption code batches from the console (the CLI and the API have theirs): an admin creates a batch (amount,
count, expiry, uses), sees the codes once or downloads them as CSV, lists them masked, disables one; key holders
redeem them; support and viewers may look but not create; no code reaches the audit log. The CLI exports a
batch to a CSV file the same way."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import aiohttp
from sqlalchemy import select

from relaygate.store import tables as t
from tests.console.helpers import Browser, add_operators
from tests.harness import Running


async def _redeem(gw: Running, secret: str, code: str) -> int:
    async with aiohttp.ClientSession() as s, s.post(gw.root + "/api/user/redeem", json={"code": code},
                                                    headers={"Authorization": f"Bearer {secret}"}) as resp:
        return resp.status


async def test_batches_from_the_console_shown_once_exported_redeemed_and_disabled(gw: Running) -> None:
    await add_operators(gw)
    secret, _ = await gw.add_key("dana")
    async with Browser(gw) as ada:
        assert (await ada.sign_in("ada")).status == 200
        status, page = await ada.get("/console/codes")
        assert status == 200 and 'data-testid="codes-form"' in page and 'href="/console/codes"' in page
        status, page = await ada.post("/console/codes", {"name": "spring promo", "amount": "2.5", "count": "3",
                                                         "expires": "30d", "export": ""})
        assert status == 201, page
        shown = re.findall(r"\b[0-9a-f]{32}\b", page.split('data-testid="new-codes">', 1)[1].split("</pre>", 1)[0])
        assert len(shown) == 3
        status, again = await ada.get("/console/codes")
        assert not any(code in again for code in shown) and again.count("spring promo") == 3  # masked from now on

        async with ada.session.post(ada.url("/console/codes"), data={
                "csrf": ada.csrf, "name": "export", "amount": "1", "count": "4", "expires": "", "export": "csv"}) as r:
            assert r.status == 200 and r.headers["content-type"].startswith("text/csv")
            assert "attachment" in r.headers["content-disposition"] and r.headers["cache-control"] == "no-store"
            rows = list(csv.DictReader(io.StringIO(await r.text())))
        assert len(rows) == 4 and all(re.fullmatch(r"[0-9a-f]{32}", row["code"]) for row in rows)
        assert {row["amount"] for row in rows} == {"1"} and len({row["batch"] for row in rows}) == 1

        assert await _redeem(gw, secret, shown[0]) == 200
        assert await _redeem(gw, secret, rows[0]["code"]) == 200
        assert await _redeem(gw, secret, shown[0]) == 409  # once
        async with gw.gateway.engine.connect() as conn:
            unused = (await conn.execute(select(t.redemption_codes.c.id).where(
                t.redemption_codes.c.status == "unused", t.redemption_codes.c.name == "spring promo"))).scalars().all()
        status, _ = await ada.post(f"/console/codes/{unused[0]}/disable", allow_redirects=False)
        assert status == 303
        results = [await _redeem(gw, secret, c) for c in shown[1:]]
        assert sorted(results) == [200, 409]  # the disabled one is refused, the other redeems

        status, page = await ada.post("/console/codes", {"name": "team", "amount": "1", "count": "1", "uses": "2"})
        assert status == 201 and "Each redeems 2 times" in page
        team_code = re.findall(r"\b[0-9a-f]{32}\b", page.split('data-testid="new-codes">', 1)[1])[0]
        other, _ = await gw.add_key("erik")
        assert [await _redeem(gw, s, team_code) for s in (secret, secret, other)] == [200, 409, 200]
        assert ">2 / 2<" in (await ada.get("/console/codes?status=used"))[1]

        for bad, words in (({"amount": "-1"}, "positive"), ({"amount": "x"}, "not an amount"),
                           ({"count": "0"}, "1 to"), ({"count": "lots"}, "whole number"), ({"uses": "0"}, "1 to"),
                           ({"expires": "2001-01-01"}, "past"), ({"expires": "soon"}, "Expiry")):
            status, page = await ada.post("/console/codes", {"name": "bad", "amount": "1", "count": "1", **bad})
            assert status == 400 and words in page, (bad, status)

    for name in ("sam", "vic"):
        async with Browser(gw) as other:
            await other.sign_in(name)
            status, page = await other.get("/console/codes")
            assert status == 200 and 'data-testid="codes-form"' not in page
            assert (await other.post("/console/codes", {"name": "x", "amount": "100", "count": "1"}))[0] == 403
    async with gw.gateway.engine.connect() as conn:
        audit = " ".join(str(r._mapping) for r in (await conn.execute(select(t.audit_log))).all())
    assert "codes.create" in audit and not any(code in audit for code in shown + [r["code"] for r in rows])


def test_the_cli_exports_a_batch_to_csv(tmp_path: Path) -> None:
    import os

    from typer.testing import CliRunner

    from relaygate.cli import main as cli_main

    cli_main._register()
    env = {"RELAYGATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/t.db", "RELAYGATE_DEMO_UPSTREAM": "false",
           "RELAYGATE_LANG": "en"}
    out = tmp_path / "codes.csv"
    result = CliRunner().invoke(cli_main.app, ["codes", "create", "--amount", "5", "--count", "2", "--uses", "4",
                                               "--name", "fair", "--output", str(out)], env=env)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 2 and rows[0]["amount"] == "5" and rows[0]["name"] == "fair" and rows[0]["uses"] == "4"
    assert not any(row["code"] in result.output for row in rows)  # in the file, not on the screen
    assert os.stat(out).st_mode & 0o077 == 0
