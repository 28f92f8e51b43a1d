"""A real SMTP server on a socket (aiosmtpd, in the test's event loop) that keeps what it receives, and a
webhook receiver (aiohttp) that keeps the raw POSTs: the portal's e-mail and notices meet real servers."""

from __future__ import annotations

import asyncio
import datetime
import email
import ipaddress
import re
import ssl
import warnings
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

from aiohttp import web


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (its own CA), and its key: (cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relaygate test mail")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "mail-cert.pem", folder / "mail-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class Mailbox:
    """``security``: "none" (plain), "starttls" (the server refuses every command but EHLO, STARTTLS and QUIT
    until the client has started TLS) or "tls" (TLS from the first byte). With ``login`` the server asks for
    AUTH (only over TLS) and refuses mail without it."""

    messages: list[Message] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)  # per message: tls, authenticated, sender
    server: asyncio.AbstractServer | None = None
    port: int = 0
    security: str = "none"
    cert: tuple[Path, Path] | None = None
    login: tuple[str, str] | None = None
    auth_seen: list[str] = field(default_factory=list)  # AUTH attempts (mechanisms), in any state

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        tls = server.transport.get_extra_info("ssl_object") is not None  # after STARTTLS, or from the first byte
        self.sessions.append({"tls": tls, "authenticated": bool(session.authenticated),
                              "from": envelope.mail_from, "to": list(envelope.rcpt_tos)})
        return "250 OK"

    def _auth(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        self.auth_seen.append(mechanism)
        ok = isinstance(data, LoginPassword) and self.login is not None and \
            (data.login.decode(), data.password.decode()) == self.login
        return AuthResult(success=ok)

    async def start(self) -> Mailbox:
        from aiosmtpd.smtp import SMTP

        context = None
        if self.security != "none":
            assert self.cert is not None, "TLS needs a certificate"
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*self.cert)
        auth: dict[str, Any] = {"authenticator": self._auth, "auth_required": True} if self.login else {}
        if self.login and self.security != "starttls":
            # implicit TLS: aiosmtpd only knows STARTTLS, this socket is TLS from the start; plain: a server that
            # would take a password in the clear, so a client that falls back to plain text is caught doing so
            auth["auth_require_tls"] = False

        def protocol() -> SMTP:
            with warnings.catch_warnings():  # "AUTH without requiring TLS": the implicit-TLS socket is TLS
                warnings.simplefilter("ignore", UserWarning)
                return SMTP(self, hostname="mail.test", tls_context=context if self.security == "starttls" else None,
                            require_starttls=self.security == "starttls", **auth)

        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(protocol, "127.0.0.1", 0,
                                               ssl=context if self.security == "tls" else None)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def settings(self) -> dict[str, Any]:
        login = {"smtp_username": self.login[0], "smtp_password": self.login[1]} if self.login else {}
        return {"smtp_host": "127.0.0.1", "smtp_port": self.port, "smtp_security": self.security,
                "smtp_from": "AI gateway <ai@example.com>", **login}

    async def wait(self, count: int, seconds: float = 10.0) -> list[Message]:
        for _ in range(int(seconds * 20)):
            if len(self.messages) >= count:
                return self.messages
            await asyncio.sleep(0.05)
        raise AssertionError(f"expected {count} messages, got {len(self.messages)}")

    @staticmethod
    def text(msg: Message) -> str:
        payload = msg.get_payload(decode=True)
        assert isinstance(payload, bytes)
        return payload.decode(msg.get_content_charset() or "utf-8")

    def link(self, msg: Message, kind: str) -> str:
        found = re.search(rf"https?://\S+/portal/{kind}/\S+", self.text(msg))
        assert found, self.text(msg)
        return found.group(0)


@dataclass
class Hooks:
    """Receives webhook POSTs; ``status`` is what it answers."""

    calls: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    status: int = 200
    runner: web.AppRunner | None = None
    port: int = 0

    async def start(self) -> Hooks:
        async def hook(request: web.Request) -> web.Response:
            self.calls.append((dict(request.headers), await request.read()))
            return web.Response(status=self.status, text="ok")

        app = web.Application()
        app.router.add_post("/hook", hook)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
