"""The portal's e-mail against a real SMTP server on a socket (aiosmtpd): sign-up with a confirmation link,
password reset by e-mail (single use, same answer for unknown names, rate-limited), and low-balance notices
by e-mail and by a signed webhook, sent once per crossing by the background task. No token, link or
password reaches the audit log or the process log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio
from sqlalchemy import select

from relaygate.core.clock import now_ms
from relaygate.core.money import parse_amount
from relaygate.services.media import callbacks
from relaygate.store import tables as t
from tests.console.helpers import Browser, hidden
from tests.console.mailbox import Hooks, Mailbox
from tests.harness import Running, running_gateway

PASSWORD = "a-long-password-1"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("portal-mail")
    mailbox = await Mailbox().start()
    hooks = await Hooks().start()
    async with running_gateway(f"sqlite+aiosqlite:///{tmp}/relaygate.db", data_dir=str(tmp), portal_signup="open",
                               media_allow_hosts="127.0.0.1", notice_check_seconds=0.2,
                               **mailbox.settings()) as gw:
        yield {"gw": gw, "mail": mailbox, "hooks": hooks}
    await hooks.stop()
    await mailbox.stop()


async def form_post(b: Browser, path: str, data: dict[str, str]) -> tuple[int, str]:
    async with b.session.get(b.url(path)) as resp:
        pre = hidden(await resp.text(), "pre")
    async with b.session.post(b.url(path), data={"pre": pre, **data}) as resp:
        return resp.status, await resp.text()


async def sign_in(b: Browser, name: str, password: str) -> int:
    status, _ = await form_post(b, "/portal/login", {"name": name, "password": password, "next": "/portal/"})
    return status


async def secrets_are_nowhere(gw: Running, *secrets: str) -> None:
    async with gw.gateway.engine.connect() as conn:
        rows = [str(r._mapping) for r in (await conn.execute(select(t.audit_log))).all()]
    for secret in secrets:
        assert not any(secret in row for row in rows), secret


@pytest.mark.asyncio(loop_scope="module")
async def test_sign_up_needs_the_confirmation_link_then_signs_in(site: dict[str, Any],
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    gw: Running = site["gw"]
    mail: Mailbox = site["mail"]
    caplog.set_level(logging.DEBUG)
    start = len(mail.messages)
    async with Browser(gw) as b:
        status, html = await form_post(b, "/portal/signup", {"username": "dora", "email": "dora@example.com",
                                                             "password": PASSWORD, "password2": PASSWORD})
        assert status == 200 and 'data-testid="message"' in html, html
        assert await sign_in(b, "dora", PASSWORD) == 401  # not before the address is confirmed
        msg = (await mail.wait(start + 1))[start]
        assert msg["To"] == "dora@example.com" and "Confirm" in msg["Subject"]
        link = mail.link(msg, "verify")
        status, html = await b.get(link.replace(gw.root, ""))
        assert status == 200 and "confirmed" in html
        assert (await b.get(link.replace(gw.root, "")))[0] == 410  # single use
        assert await sign_in(b, "dora", PASSWORD) == 200
        status, html = await b.get("/portal/")
        assert status == 200 and "dora" in html
    user = await gw.gateway.portal.users.get("dora")  # type: ignore[union-attr]
    assert user["email_verified"] and user["source"] == "signup"
    policy = await gw.gateway.portal.self_keys.policy(user["owner_id"])  # type: ignore[union-attr]
    assert policy["self_keys"] and policy["max_keys"] == 3  # RELAYGATE_PORTAL_SIGNUP_KEYS
    await secrets_are_nowhere(gw, link.rsplit("/", 1)[1], PASSWORD)
    assert link.rsplit("/", 1)[1] not in caplog.text and PASSWORD not in caplog.text


@pytest.mark.asyncio(loop_scope="module")
async def test_reset_by_email_works_once_and_never_says_who_exists(site: dict[str, Any],
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    gw: Running = site["gw"]
    mail: Mailbox = site["mail"]
    caplog.set_level(logging.DEBUG)
    await gw.gateway.accounts.create_owner("carol team")
    await gw.gateway.portal.users.add("carol", "carol team", "old-password-1",  # type: ignore[union-attr]
                                      email="carol@example.com")
    start = len(mail.messages)
    async with Browser(gw) as b:
        known = await form_post(b, "/portal/forgot", {"ident": "carol@example.com"})
        unknown = await form_post(b, "/portal/forgot", {"ident": "nobody@example.com"})
        assert known[0] == unknown[0] == 200
        assert _message(known[1]) == _message(unknown[1])  # the same words either way
        msg = (await mail.wait(start + 1))[start]
        await asyncio.sleep(0.3)
        assert len(mail.messages) == start + 1 and msg["To"] == "carol@example.com"
        link = mail.link(msg, "reset")
        path = link.replace(gw.root, "")
        assert (await b.get(path))[0] == 200
        status, html = await form_post(b, path, {"password": "new-password-2", "password2": "new-password-2"})
        assert status == 200 and "changed" in html
        assert (await b.get(path))[0] == 410  # used
        assert await sign_in(b, "carol", "old-password-1") == 401
        assert await sign_in(b, "carol", "new-password-2") == 200
        # five reset requests per address per 15 minutes: two forgot + one reset so far
        for _ in range(2):
            assert (await form_post(b, "/portal/forgot", {"ident": "carol"}))[0] == 200
        assert (await form_post(b, "/portal/forgot", {"ident": "carol"}))[0] == 429
    await secrets_are_nowhere(gw, link.rsplit("/", 1)[1], "new-password-2", "old-password-1")
    assert link.rsplit("/", 1)[1] not in caplog.text and "new-password-2" not in caplog.text


def _message(html: str) -> str:
    return html.split('data-testid="message">', 1)[1].split("<", 1)[0]


@pytest.mark.asyncio(loop_scope="module")
async def test_low_balance_notice_once_per_crossing_by_email_and_signed_webhook(site: dict[str, Any]) -> None:
    gw: Running = site["gw"]
    mail: Mailbox = site["mail"]
    hooks: Hooks = site["hooks"]
    secret, _ = await gw.add_key("erin team", name="erin ci")
    await gw.gateway.portal.users.add("erin", "erin team", "erin-password-1",  # type: ignore[union-attr]
                                      email="erin@example.com")
    await gw.gateway.ledger.record("erin team", "topup", parse_amount("10"), "invoice 7", "tests")
    auth = {"Authorization": f"Bearer {secret}"}
    async with aiohttp.ClientSession(headers=auth) as s:
        async with s.put(gw.root + "/api/user/notice", json={"threshold": "5", "webhook_url": "http://169.254.169.254/"
                                                                                           "latest"}) as resp:
            assert resp.status == 400 and (await resp.json())["error"]["code"] == "url_not_allowed"
        async with s.put(gw.root + "/api/user/notice",
                         json={"threshold": "5", "email": "stranger@example.com"}) as resp:
            assert resp.status == 400  # only an address one of the owner's accounts holds
        async with s.put(gw.root + "/api/user/notice", json={"threshold": "5", "email": "erin@example.com",
                                                             "webhook_url": hooks.url}) as resp:
            assert resp.status == 200, await resp.text()
            notice = await resp.json()
    start = len(mail.messages)
    await asyncio.sleep(0.6)
    assert not hooks.calls and len(mail.messages) == start  # 10 is above 5: nothing
    await gw.gateway.ledger.record("erin team", "adjustment", -parse_amount("6"), "usage elsewhere", "tests")
    await mail.wait(start + 1)
    for _ in range(100):
        if hooks.calls:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.8)  # several more checks: still one of each
    assert len(hooks.calls) == 1 and len(mail.messages) == start + 1
    headers, body = hooks.calls[0]
    assert headers["X-Relaygate-Event"] == "balance.low"
    assert callbacks.verify(notice["webhook_secret"], int(headers["X-Relaygate-Timestamp"]), body,
                            headers["X-Relaygate-Signature"], now_ms() // 1000)
    assert orjson.loads(body)["balance"] == "4" and orjson.loads(body)["threshold"] == "5"
    assert "4" in mail.messages[start]["Subject"]
    await gw.gateway.ledger.record("erin team", "topup", parse_amount("3"), "invoice 8", "tests")  # 7: re-armed
    for _ in range(40):
        async with aiohttp.ClientSession(headers=auth) as s, s.get(gw.root + "/api/user/notice") as resp:
            if (await resp.json())["state"] == "armed":
                break
        await asyncio.sleep(0.1)
    hooks.status = 500  # the receiver fails once: tried again, still sent once
    await gw.gateway.ledger.record("erin team", "adjustment", -parse_amount("3"), "usage elsewhere", "tests")
    for _ in range(100):
        if len(hooks.calls) >= 2:
            break
        await asyncio.sleep(0.05)
    hooks.status = 200
    for _ in range(100):
        if len(hooks.calls) >= 3:
            break
        await asyncio.sleep(0.05)
    await mail.wait(start + 2)
    await asyncio.sleep(0.8)
    assert len(hooks.calls) == 3 and len(mail.messages) == start + 2  # the e-mail went once; the hook again


def test_the_webhook_resolver_refuses_names_of_private_addresses() -> None:
    from relaygate.services.media.ssrf import UrlGuard
    from relaygate.services.operate.balance_notices import GuardedResolver

    async def go() -> None:
        with pytest.raises(OSError):
            await GuardedResolver(UrlGuard("")).resolve("localhost", 80)
        assert await GuardedResolver(UrlGuard("localhost")).resolve("localhost", 80)

    asyncio.run(go())
