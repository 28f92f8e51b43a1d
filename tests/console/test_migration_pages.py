"""The migration and rollout pages over a real socket, on a small One API installation imported into relaygate
(tests/rollout/conftest.py's world: an old database, its logs and a fake old gateway billing on it).

What the CLI does, the pages show and do through the same services: the applied plan's mapping table and
`migrate verify`'s results, an inventory taken from the console (with progress), the notices per language and
client, a hand-over that failed named with its reason, the guard's verdict, the before/after report.
"""

from __future__ import annotations

import asyncio
import io
import re
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relaygate.core.errors import InvalidInput
from relaygate.services.migration import documents
from relaygate.services.migration.verify import verify
from relaygate.services.rollout.oldsystem import OldSystem
from tests.console.helpers import Browser, add_operators
from tests.rollout.conftest import World, build_world


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async for w in build_world(tmp_path):
        await add_operators(w.gw)
        yield w


async def test_mapping_verification_inventory_and_notices(world: World) -> None:
    gw = world.gw
    plan = await documents.latest(gw.gateway.engine, "plan")
    assert plan is not None and plan["created_by"] == "migrate import"  # the import kept what it applied
    assert await documents.latest(gw.gateway.engine, "import") is not None
    async with Browser(gw) as b:
        await b.sign_in("ada")
        status, html = await b.get("/console/migration")
        assert status == 200 and 'data-model="m"' in html and "not run" in html
        # migrate verify probes through the gateway and sends the plan with its results back to it
        result = await verify(plan["body"], gw.base_url, gw.admin_token, ["m"])
        assert result["passed"] == 1
        status, html = await b.get("/console/migration?result=pass")
        assert 'data-model="m"' in html and 'data-testid="result-pass"' in html
        assert "migrate verify" in html  # who recorded it
        status, html = await b.get("/console/migration?result=fail")
        assert 'data-model="m"' not in html

        # an inventory of the old database relaygate knows (here the applied plan's source), with progress
        assert (await gw.gateway.rollout.planner.old_database())[0] == str(world.src)  # type: ignore[union-attr]
        status, html = await b.post("/console/migration/inventory")
        assert status == 200 and 'data-testid="inventory-run"' in html  # the redirect's page shows the run
        for _ in range(200):
            status, fragment = await b.get("/console/migration/inventory/progress")
            if "inventory-done" in fragment or "inventory-error" in fragment:
                break
            await asyncio.sleep(0.05)
        assert "inventory-done" in fragment, fragment
        status, html = await b.get("/console/migration")
        assert "console:ada" in html and "Inventory of the old system" in html
        status, md = await b.get("/console/migration/inventory.md")
        assert status == 200 and "alice" in md and "sk-upstream-0001" not in md
        status, _ = await b.get("/console/migration/plan.md")
        assert status == 404  # the plan downloads as JSON only
        status, audit = await b.get("/console/audit")
        assert "migration.inventory" in audit

        # notices: every language and client, downloadable one by one or all at once
        status, html = await b.get("/console/migration/notices?lang=zh-CN&doc=emails/cursor.md")
        assert status == 200 and 'lang="zh-CN"' in html and "Cursor" in html
        assert f"127.0.0.1:{world.old.port}" in html or "Override OpenAI Base URL" in html
        status, md = await b.get("/console/migration/notices/download?lang=en&doc=faq.md")
        assert status == 200 and md.startswith("#")
        async with b.session.get(b.url("/console/migration/notices/download?lang=zh-CN")) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "application/zip"
            names = zipfile.ZipFile(io.BytesIO(await resp.read())).namelist()
        assert "notices-zh-CN/announcement.md" in names and "notices-zh-CN/emails/cherry-studio.html" in names
        status, _ = await b.get("/console/migration/notices/download?lang=fr")
        assert status == 400

    async with Browser(gw) as b:  # support reads the pages but cannot start work on the old database
        await b.sign_in("sam")
        assert (await b.get("/console/migration"))[0] == 200
        status, _ = await b.post("/console/migration/inventory")
        assert status == 403


async def test_failed_hand_over_guard_verdict_and_before_after_report(world: World,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    gw = world.gw
    rollout = gw.gateway.rollout
    assert rollout is not None
    await rollout.planner.set_legacy("test", f"http://127.0.0.1:{world.old.port}", source=str(world.src),
                                     logs_source=str(world.logs), write_old=True)
    await rollout.planner.plan("pilot", "test", owners=["alice"], conditions=["5xx>+2%"])
    await rollout.routing.reload()
    alice = world.owner("alice")
    async with Browser(gw) as b:
        await b.sign_in("ada")
        status, html = await b.post("/console/rollout/pilot/switch", {"reason": "pilot ready", "confirm": "yes"})
        assert status == 200 and 'data-testid="done"' in html
        for _ in range(3):
            assert (await world.call("alice"))["status"] == 200
        await gw.gateway.usage.flush()
        status, html = await b.post("/console/rollout/guard")  # `relaygate rollout guard`, from the page
        assert status == 200
        verdicts = html.split('data-testid="verdicts"')[1].split("</table>")[0]
        assert "pilot" in verdicts and "3 of the 20 requests needed to judge" in verdicts

        async def broken(self: OldSystem, uid: int, expected: int, new: int) -> bool:
            raise InvalidInput("database is locked", "数据库被锁定")

        monkeypatch.setattr(OldSystem, "set_quota", broken)
        status, html = await b.post("/console/rollout/pilot/rollback", {"reason": "errors", "confirm": "yes"})
        assert status == 200
        failed = html.split('data-testid="failed-handovers"')[1].split("</section>")[0]
        assert alice in failed and "database is locked" in failed
        status, html = await b.get("/console/rollout")
        assert 'data-testid="failed-pilot"' in html
        failed = html.split('data-testid="failed-handovers"')[1].split("</section>")[0]
        assert alice in failed and "database is locked" in failed

        status, html = await b.get("/console/rollout/report")
        assert status == 200 and "<svg" in html and 'data-testid="chart-errors"' in html
        assert re.search(r'data-testid="share-owners">\d', html)
        assert "error rate" in html and "Owners per batch" in html
        await b.get("/console/lang/zh-CN?next=/console/rollout/report")
        status, html = await b.get("/console/rollout/report")
        assert "错误率" in html and "各批次负责人占比" in html and "已回滚" in html
        status, md = await b.get("/console/rollout/report.md")
        assert status == 200 and "pilot" in md
        assert (await b.get("/console/rollout/report.csv"))[0] == 404


async def test_a_verdict_another_worker_reached_shows_on_every_workers_page(world: World) -> None:
    """Each worker runs its own guard; the page reads the verdict from the database, not this process's memory."""
    from relaygate.services.rollout.guard import Guard

    gw = world.gw
    rollout = gw.gateway.rollout
    assert rollout is not None
    await rollout.planner.set_legacy("test", f"http://127.0.0.1:{world.old.port}", source=str(world.src),
                                     logs_source=str(world.logs))
    await rollout.planner.plan("pilot", "test", owners=["alice"], conditions=["5xx>+2%"])
    await rollout.mover.switch("pilot", "test", "pilot ready")
    for _ in range(2):
        assert (await world.call("alice"))["status"] == 200
    await gw.gateway.usage.flush()
    mine = rollout.guard
    other = Guard(mine.engine, mine.settings, mine.routing, mine.mover)  # the second worker's guard
    await other.evaluate_all()
    async with Browser(gw) as b:
        await b.sign_in("sam")
        for path in ("/console/rollout", "/console/rollout/pilot"):
            status, html = await b.get(path)
            assert status == 200
            assert "2 of the 20 requests needed to judge" in html, path
    later = Guard(mine.engine, mine.settings, mine.routing, mine.mover)  # a third worker, a request later
    assert (await world.call("alice"))["status"] == 200
    await gw.gateway.usage.flush()
    await later.evaluate_all()
    verdicts = await mine.verdicts()
    assert list(verdicts) == ["pilot"] and verdicts["pilot"]["note"].startswith("3 of the 20")  # replaced, one row


async def test_plan_a_batch_and_record_and_settle_a_dispute_from_the_console(world: World) -> None:
    """What `rollout plan` and `rollout dispute add / resolve` do, from the rollout page, by the same services."""
    gw = world.gw
    rollout = gw.gateway.rollout
    assert rollout is not None
    await rollout.planner.set_legacy("test", f"http://127.0.0.1:{world.old.port}", source=str(world.src),
                                     logs_source=str(world.logs))
    async with Browser(gw) as b:
        await b.sign_in("ada")
        _, page = await b.get("/console/rollout")
        assert 'data-testid="plan-form"' in page and 'data-testid="dispute-form"' in page
        status, page = await b.post("/console/rollout/plan", {"name": "canary", "owners": "alice",
                                                              "rollback_window": "3d", "conditions": "5xx>+2%, 429>3x",
                                                              "min_requests": "5", "window": "10m",
                                                              "description": "first users"})
        assert status == 200 and 'data-testid="done"' in page and "canary" in page  # the new batch's page
        view = await rollout.planner.show("canary")
        assert view["state"] == "planned" and view["min_requests"] == 5 and view["window_seconds"] == 600
        assert [c for c in view["conditions"]] == ["5xx>+2%", "429>3x"] and not view["auto_rollback"]
        assert any(h["actor"] == "console:ada" for h in view["history"])
        status, page = await b.post("/console/rollout/plan", {"name": "bad", "owners": "alice",
                                                              "window": "soon"})
        assert status == 400 and "not a duration" in page  # the service's words, no 500
        status, page = await b.post("/console/rollout/disputes", {"owner": "alice", "batch": "canary",
                                                                  "note": "balance 3.20 short after the move"})
        assert status == 200
        dispute = (await rollout.evidence.disputes())[-1]
        assert dispute["status"] == "open" and dispute["batch"] == "canary" and dispute["created_by"] == "console:ada"
        assert "balance 3.20 short" in page
        status, page = await b.post(f"/console/rollout/disputes/{dispute['id']}/resolve",
                                    {"resolution": "credited 3.20", "confirm": "yes"})
        assert status == 200
        settled = (await rollout.evidence.disputes(ident=dispute["id"]))[0]
        assert settled["status"] == "resolved" and "credited 3.20 (console:ada)" in settled["resolution"]
        _, audit = await b.get("/console/audit?action=rollout.")
        assert "rollout.plan" in audit and "rollout.dispute" in audit and "rollout.dispute_resolve" in audit


async def test_a_rollback_after_the_deadline_is_refused_as_the_cli_refuses_it(world: World) -> None:
    gw = world.gw
    rollout = gw.gateway.rollout
    assert rollout is not None
    await rollout.planner.set_legacy("test", f"http://127.0.0.1:{world.old.port}", source=str(world.src),
                                     logs_source=str(world.logs))
    await rollout.planner.plan("late", "test", owners=["alice"], rollback_window_ms=1)  # closes 1 ms after
    async with Browser(gw) as b:
        await b.sign_in("ada")
        status, _ = await b.post("/console/rollout/late/switch", {"reason": "go", "confirm": "yes"})
        assert status == 200
        await asyncio.sleep(0.01)  # past the deadline
        status, html = await b.post("/console/rollout/late/rollback", {"reason": "too late", "confirm": "yes"})
        assert 400 <= status < 500 and "deadline" in html.lower()  # the service's refusal, as the CLI shows it
        assert (await rollout.planner.show("late"))["state"] == "switched"
        status, html = await b.post("/console/rollout/late/rollback", {"reason": "", "confirm": "yes"})
        assert status == 400  # a reason is required
        status, html = await b.post("/console/rollout/late/complete", {"reason": "done"})
        assert status == 400 and (await rollout.planner.show("late"))["state"] == "switched"  # unconfirmed
