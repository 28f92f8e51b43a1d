"""The portal's e-mail over encrypted SMTP, against a real server on a socket (aiosmtpd) with a self-signed
certificate the test makes (``cryptography``) and trusts through ``SSL_CERT_FILE``, as an operator trusts a
private mail relay's CA.

- STARTTLS (the default, port 587) with AUTH: the server refuses every command but EHLO/STARTTLS before TLS and
  AUTH before TLS; the verification mail, the password-reset mail and the low-balance notice all arrive over
  TLS, signed in, through the gateway's own paths (pages, background mail task, notice task).
- Implicit TLS (``tls``, port 465): all three kinds arrive.
- No downgrade: a server that does not offer STARTTLS gets nothing (not even the password), and a certificate
  nobody trusts is refused."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from relaygate.core.money import parse_amount
from relaygate.core.settings import Settings
from relaygate.services.operate.mail import Mail, Mailer, mail_text
from tests.console.helpers import Browser, hidden
from tests.console.mailbox import Mailbox, self_signed
from tests.harness import Running, running_gateway

PASSWORD = "a-long-password-1"
LOGIN = ("gateway", "smtp-secret-9")


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    made = self_signed(tmp_path_factory.mktemp("mail-tls"))
    with pytest.MonkeyPatch.context() as mp:  # the CA the mailer's default context trusts (OpenSSL reads it)
        mp.setenv("SSL_CERT_FILE", str(made[0]))
        yield made


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory, cert: tuple[Path, Path]) -> AsyncIterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("portal-mail-tls")
    mailbox = await Mailbox(security="starttls", cert=cert, login=LOGIN).start()
    async with running_gateway(f"sqlite+aiosqlite:///{tmp}/relaygate.db", data_dir=str(tmp), portal_signup="open",
                               notice_check_seconds=0.2, **mailbox.settings()) as gw:
        yield {"gw": gw, "mail": mailbox}
    await mailbox.stop()


async def form_post(b: Browser, path: str, data: dict[str, str]) -> tuple[int, str]:
    async with b.session.get(b.url(path)) as resp:
        pre = hidden(await resp.text(), "pre")
    async with b.session.post(b.url(path), data={"pre": pre, **data}) as resp:
        return resp.status, await resp.text()


@pytest.mark.asyncio(loop_scope="module")
async def test_verification_reset_and_low_balance_mail_over_starttls_with_auth(
        site: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    gw: Running = site["gw"]
    mail: Mailbox = site["mail"]
    caplog.set_level(logging.DEBUG)
    async with Browser(gw) as b:
        status, _ = await form_post(b, "/portal/signup", {"username": "tess", "email": "tess@example.com",
                                                          "password": PASSWORD, "password2": PASSWORD})
        assert status == 200
        verify = (await mail.wait(1))[0]
        assert verify["To"] == "tess@example.com" and "Confirm" in verify["Subject"]
        link = mail.link(verify, "verify")
        assert (await b.get(link.replace(gw.root, "")))[0] == 200  # the link from the encrypted mail works
        status, _ = await form_post(b, "/portal/forgot", {"ident": "tess"})
        assert status == 200
        reset = (await mail.wait(2))[1]
        assert reset["To"] == "tess@example.com" and "Reset" in reset["Subject"]
        mail.link(reset, "reset")
    user = await gw.gateway.portal.users.get("tess")  # type: ignore[union-attr]
    owner = user["owner_id"]
    secret, _ = await gw.add_key(owner, name="tess ci")
    await gw.gateway.ledger.record(owner, "topup", parse_amount("10"), "invoice 1", "tests")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {secret}"}) as s, \
            s.put(gw.root + "/api/user/notice", json={"threshold": "5", "email": "tess@example.com"}) as resp:
        assert resp.status == 200, await resp.text()
    await gw.gateway.ledger.record(owner, "adjustment", -parse_amount("6"), "usage elsewhere", "tests")
    low = (await mail.wait(3))[2]
    assert low["To"] == "tess@example.com" and "4" in low["Subject"] and "Low balance" in low["Subject"]
    assert [(s["tls"], s["authenticated"]) for s in mail.sessions] == [(True, True)] * 3
    assert LOGIN[1] not in caplog.text


@pytest.mark.asyncio(loop_scope="module")
async def test_all_three_kinds_over_implicit_tls(cert: tuple[Path, Path]) -> None:
    mailbox = await Mailbox(security="tls", cert=cert, login=LOGIN).start()
    try:
        mailer = Mailer(Settings(database_url="sqlite://", **mailbox.settings()))
        for kind, values in (("verify", {"username": "u", "hours": 48, "link": "https://gw.example/portal/verify/x"}),
                             ("reset", {"username": "u", "minutes": 60, "link": "https://gw.example/portal/reset/x"}),
                             ("low_balance", {"owner": "team", "balance": "4", "threshold": "5",
                                              "link": "https://gw.example/portal/"})):
            subject, body = mail_text(kind, "zh-CN", **values)
            assert await mailer.send(Mail("u@example.com", kind, subject, body)) is None, kind
        subjects = [str(make_header(decode_header(m["Subject"]))) for m in mailbox.messages]
        assert subjects == ["请确认你的邮箱地址", "重置密码", "余额不足：4"]
        assert all(s["tls"] and s["authenticated"] for s in mailbox.sessions)
    finally:
        await mailbox.stop()


@pytest.mark.asyncio(loop_scope="module")
async def test_no_downgrade_and_no_untrusted_certificate(tmp_path: Path, cert: tuple[Path, Path],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    subject, body = mail_text("reset", "en", username="u", minutes=60, link="https://gw.example/portal/reset/x")
    plain = await Mailbox(security="none", login=LOGIN).start()  # offers no STARTTLS, would take AUTH in the clear
    try:
        settings = {**plain.settings(), "smtp_security": "starttls", "smtp_username": LOGIN[0],
                    "smtp_password": LOGIN[1]}
        failed = await Mailer(Settings(database_url="sqlite://", **settings)).send(Mail("u@example.com", "reset",
                                                                                         subject, body))
        assert failed is not None and not plain.messages and not plain.auth_seen  # no mail, no password in clear
    finally:
        await plain.stop()
    stranger = self_signed(tmp_path)  # a certificate no one trusts (SSL_CERT_FILE names the other one)
    for security in ("starttls", "tls"):
        box = await Mailbox(security=security, cert=stranger).start()
        try:
            failed = await Mailer(Settings(database_url="sqlite://", **box.settings())).send(
                Mail("u@example.com", "reset", subject, body))
            assert failed is not None and not box.messages, security
        finally:
            await box.stop()
