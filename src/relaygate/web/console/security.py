"""Browser security shared by the console and the portal: host check, headers, cookies, CSRF, throttling."""

from __future__ import annotations

import hmac
import time
from collections import deque
from urllib.parse import urlsplit

from relaygate.core.settings import Settings
from relaygate.web.asgi_types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "rg_session"
PRE_COOKIE = "rg_pre"  # double-submit token for the sign-in form (no session yet)
LANG_COOKIE = "rg_lang"

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def allowed_hosts(settings: Settings) -> frozenset[str]:
    """Host names the console answers to: loopback, the listen address, the public base URL, and the setting."""
    hosts = {"localhost", "127.0.0.1", "::1", settings.host}
    if settings.public_base_url:
        hosts.add((urlsplit(settings.public_base_url).hostname or "").lower())
    hosts.update(h.strip().lower() for h in settings.console_hosts.split(",") if h.strip())
    hosts.discard("")
    hosts.discard("0.0.0.0")
    return frozenset(hosts)


def host_name(raw: str) -> str:
    raw = raw.strip().lower()
    if raw.startswith("["):  # [::1]:8790
        return raw[1:raw.find("]")] if "]" in raw else ""
    return raw.rsplit(":", 1)[0] if raw.count(":") == 1 else raw


def is_https(scope: Scope, settings: Settings) -> bool:
    if scope.get("scheme") == "https":
        return True
    if settings.trust_forwarded_for:
        for name, value in scope.get("headers", ()):
            if name == b"x-forwarded-proto":
                return bool(value.decode("latin-1").split(",")[0].strip().lower() == "https")
    return False


def same_token(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


class Guarded:
    """Wraps the console app: refuses unknown Host headers (400) and adds the security headers."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.hosts = allowed_hosts(settings)
        self.any_host = "*" in self.hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = ""
        for name, value in scope["headers"]:
            if name == b"host":
                host = host_name(value.decode("latin-1"))
        if not self.any_host and host not in self.hosts:
            body = ("Unknown Host header. Add the name to RELAYGATE_CONSOLE_HOSTS.\n"
                    "未知的 Host 头。请把该主机名加入 RELAYGATE_CONSOLE_HOSTS。\n".encode())
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8"), *HEADERS]})
            await send({"type": "http.response.body", "body": body})
            return
        static = scope["path"].startswith("/console/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(HEADERS)
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                else:
                    headers.append((b"cache-control", b"public, max-age=3600"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Throttle:
    """Sign-in attempts per client address: at most ``limit`` failures in ``window`` seconds."""

    def __init__(self, limit: int = 10, window: float = 300.0) -> None:
        self.limit = limit
        self.window = window
        self.failures: dict[str, deque[float]] = {}

    def blocked(self, who: str) -> bool:
        q = self.failures.get(who)
        if not q:
            return False
        cutoff = time.monotonic() - self.window
        while q and q[0] < cutoff:
            q.popleft()
        return len(q) >= self.limit

    def failed(self, who: str) -> None:
        if len(self.failures) > 10_000:
            self.failures.clear()
        self.failures.setdefault(who, deque()).append(time.monotonic())

    def succeeded(self, who: str) -> None:
        self.failures.pop(who, None)
