"""Key holders' low-balance notices: by e-mail or a signed webhook, once per crossing, off the request path.

A holder sets a threshold and where to be told (an e-mail address of one of the owner's accounts, and/or
a webhook URL). The supervised ``balance-notices`` task reads the balances every
``RELAYGATE_NOTICE_CHECK_SECONDS`` (never on a request) and moves each notice through three states with
compare-and-set updates, so several workers send each notice once:

    armed --balance below the threshold--> due --delivered (or given up after 5 tries)--> sent
    due/sent --balance back at or above the threshold (a top-up)--> armed

A webhook POST is signed like the media callbacks (``services/media/callbacks.py``): ``X-Relaygate-Event:
balance.low``, ``X-Relaygate-Timestamp`` and ``X-Relaygate-Signature: v1=<HMAC-SHA256 of "<ts>." + body>``
with the owner's notice secret (shown to the holder). Webhook URLs pass the media SSRF guard when set and
again when sent, and the connection itself uses a resolver that refuses loopback, private, link-local and
metadata addresses (a name that later resolves elsewhere is refused too).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import aiohttp
import orjson
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import iso, now_ms
from relaygate.core.errors import GatewayError, InvalidInput
from relaygate.core.money import MoneyError, format_amount, parse_amount, plain_amount
from relaygate.core.settings import Settings
from relaygate.services.media import callbacks
from relaygate.services.media.ssrf import UrlGuard, forbidden
from relaygate.services.operate.mail import Mail, Mailer, mail_text
from relaygate.store import tables as t

log = logging.getLogger("relaygate.notices")
N = t.balance_notices
GIVE_UP_AFTER = 5
EVENT = "balance.low"


def notice_secret(server_secret: bytes, owner_id: str) -> str:
    return callbacks.key_secret(server_secret, f"notice:{owner_id}")


class GuardedResolver(aiohttp.ThreadedResolver):
    """Resolves like aiohttp, then drops addresses the SSRF guard forbids (unless allow-listed)."""

    def __init__(self, guard: UrlGuard) -> None:
        super().__init__()
        self.guard = guard

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[Any]:
        import ipaddress

        found = await super().resolve(host, port, family)
        if host.lower() in self.guard.names:
            return found
        ok = []
        for item in found:
            addr = ipaddress.ip_address(item["host"])
            if any(addr in net for net in self.guard.nets) or not forbidden(addr):
                ok.append(item)
        if not ok:
            raise OSError(f"{host} resolves only to addresses webhooks may not reach")
        return ok


class BalanceNotices:
    def __init__(self, engine: AsyncEngine, settings: Settings, mailer: Mailer) -> None:
        self.engine = engine
        self.settings = settings
        self.mailer = mailer
        self.guard = UrlGuard(settings.media_allow_hosts)
        self.server_secret = callbacks.load_secret(settings.media_callback_secret, settings.data_path)
        self.session: aiohttp.ClientSession | None = None
        self.sent = 0

    # --- what a holder sets --------------------------------------------------------------------

    def view(self, owner_id: str, row: Any) -> dict[str, Any]:
        currency = self.settings.currency
        base = {"owner_id": owner_id, "webhook_secret": notice_secret(self.server_secret, owner_id),
                "email_available": self.mailer.configured}
        if row is None:
            return {**base, "enabled": False, "threshold": None, "threshold_text": None, "email": None,
                    "webhook_url": None, "state": None, "last_sent_at": None, "last_error": None}
        return {**base, "enabled": True, "threshold": plain_amount(row.threshold),
                "threshold_text": format_amount(row.threshold, currency), "email": row.email,
                "webhook_url": row.webhook_url, "lang": row.lang, "state": row.state,
                "last_sent_at": iso(row.last_sent_at), "last_error": row.last_error}

    async def get(self, owner_id: str) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(N).where(N.c.owner_id == owner_id))).first()
        return self.view(owner_id, row)

    async def set(self, owner_id: str, actor: str, *, threshold: str | None, email: str | None,
                  webhook_url: str | None, lang: str = "en") -> dict[str, Any]:
        """Turn the notice on (or change it; it is armed afresh) or, with no threshold, off."""
        if threshold is None or not str(threshold).strip():
            async with self.engine.begin() as conn:
                await conn.execute(delete(N).where(N.c.owner_id == owner_id))
            return self.view(owner_id, None)
        try:
            amount = parse_amount(str(threshold).strip())
        except MoneyError as exc:
            raise InvalidInput(f"'{threshold}' is not an amount.", f"'{threshold}' 不是有效金额。") from exc
        if not 0 < amount < 2**62:
            raise InvalidInput("The threshold must be a positive amount.", "阈值必须是正数金额。")
        email = (email or "").strip() or None
        webhook_url = (webhook_url or "").strip() or None
        if email is None and webhook_url is None:
            raise InvalidInput("Say where to send the notice: an e-mail address, a webhook URL or both.",
                               "请指定提醒发送到哪里：邮箱、Webhook 地址，或两者。")
        if email is not None:
            if not self.mailer.configured:
                raise InvalidInput("E-mail is not set up on this gateway; use a webhook.",
                                   "本网关未配置邮件，请使用 Webhook。")
            await self._check_email(owner_id, email)
        if webhook_url is not None:
            if len(webhook_url) > 1024:
                raise InvalidInput("The webhook URL is too long (1024 characters at most).",
                                   "Webhook 地址过长（最多 1024 个字符）。")
            await self.guard.check(webhook_url, "webhook_url")
        values = {"threshold": amount, "email": email, "webhook_url": webhook_url,
                  "lang": "zh-CN" if lang == "zh-CN" else "en", "state": "armed", "pending": None, "attempts": 0,
                  "next_at": None, "crossed_at": None, "balance": None, "last_error": None,
                  "updated_by": actor[:128], "updated_at": now_ms()}
        async with self.engine.begin() as conn:
            if (await conn.execute(update(N).where(N.c.owner_id == owner_id).values(**values))).rowcount == 0:
                await conn.execute(N.insert().values(owner_id=owner_id, **values))
            row = (await conn.execute(select(N).where(N.c.owner_id == owner_id))).one()
        return self.view(owner_id, row)

    async def _check_email(self, owner_id: str, email: str) -> None:
        """Notices go only to an address an account of this owner holds (and confirmed): never a stranger's."""
        U = t.portal_users
        async with self.engine.connect() as conn:
            found = (await conn.execute(select(U.c.id).where(
                U.c.owner_id == owner_id, U.c.email == email, U.c.enabled.is_(True),
                U.c.email_verified_at.is_not(None)))).first()
        if found is None:
            raise InvalidInput("Notices go to the confirmed e-mail address of one of your accounts.",
                               "提醒只能发送到你账户中已确认的邮箱地址。")

    # --- the background task ------------------------------------------------------------------

    async def run(self) -> None:
        """Supervised loop: one pass every RELAYGATE_NOTICE_CHECK_SECONDS."""
        while True:
            await asyncio.sleep(self.settings.notice_check_seconds)
            await self.check_once()

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def check_once(self) -> int:
        """Arm, trip and deliver; returns how many notices were delivered in this pass."""
        now = now_ms()
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(N, t.balances.c.balance.label("current"), t.owners.c.name.label("name"))
                                       .select_from(N.outerjoin(t.balances, t.balances.c.owner_id == N.c.owner_id)
                                                    .outerjoin(t.owners, t.owners.c.id == N.c.owner_id)))).all()
        delivered = 0
        for row in rows:
            balance = int(row.current or 0)
            if row.state == "armed" and balance < row.threshold:
                pending = [c for c, v in (("email", row.email), ("webhook", row.webhook_url)) if v]
                async with self.engine.begin() as conn:
                    tripped = await conn.execute(update(N).where(N.c.owner_id == row.owner_id, N.c.state == "armed")
                                                 .values(state="due", pending=pending, attempts=0, next_at=now,
                                                         crossed_at=now, balance=balance))
                if tripped.rowcount == 1:
                    delivered += await self._deliver(row.owner_id, row.name or row.owner_id, balance, now)
            elif row.state in ("due", "sent") and balance >= row.threshold:
                async with self.engine.begin() as conn:
                    await conn.execute(update(N).where(N.c.owner_id == row.owner_id, N.c.state == row.state)
                                       .values(state="armed", pending=None, next_at=None, attempts=0))
            elif row.state == "due" and (row.next_at or 0) <= now:
                delivered += await self._deliver(row.owner_id, row.name or row.owner_id, balance, now)
        return delivered

    async def _deliver(self, owner_id: str, owner_name: str, balance: int, now: int) -> int:
        lease = now + 120_000
        async with self.engine.begin() as conn:  # claim: one worker delivers, the others see the lease
            claimed = await conn.execute(update(N).where(N.c.owner_id == owner_id, N.c.state == "due",
                                                         N.c.next_at <= now).values(next_at=lease))
            if claimed.rowcount != 1:
                return 0
            row = (await conn.execute(select(N).where(N.c.owner_id == owner_id))).one()
        remaining, errors = [], []
        for channel in row.pending or []:
            error = await (self._email(row, owner_name, balance) if channel == "email"
                           else self._webhook(row, owner_name, balance))
            if error is not None:
                remaining.append(channel)
                errors.append(f"{channel}: {error}")
        attempts = int(row.attempts) + 1
        values: dict[str, Any] = {"pending": remaining or None, "attempts": attempts,
                                  "last_error": "; ".join(errors)[:255] or None}
        if not remaining:
            values.update(state="sent", last_sent_at=now_ms(), next_at=None)
        elif attempts >= GIVE_UP_AFTER:
            values.update(state="sent", next_at=None)
            log.warning("low-balance notice of %s given up after %d tries: %s", owner_id, attempts,
                        values["last_error"])
        else:
            values["next_at"] = now_ms() + int(self.settings.notice_check_seconds * 1000 * 2 ** attempts)
        async with self.engine.begin() as conn:
            await conn.execute(update(N).where(N.c.owner_id == owner_id, N.c.state == "due",
                                               N.c.next_at == lease).values(**values))
        if not remaining:
            self.sent += 1
        return 0 if remaining else 1

    def _portal_link(self) -> str:
        base = self.settings.public_base_url.rstrip("/")
        base = base[:-3] if base.endswith("/v1") else base
        return f"{base}/portal/" if base else ""

    async def _email(self, row: Any, owner_name: str, balance: int) -> str | None:
        currency = self.settings.currency
        subject, body = mail_text("low_balance", row.lang, owner=owner_name, link=self._portal_link(),
                                  balance=format_amount(balance, currency),
                                  threshold=format_amount(row.threshold, currency))
        return await self.mailer.send(Mail(row.email, "low_balance", subject, body))

    def payload(self, row: Any, owner_name: str, balance: int) -> bytes:
        currency = self.settings.currency
        return orjson.dumps({"event": EVENT, "owner_id": row.owner_id, "owner": owner_name,
                             "balance": plain_amount(balance), "balance_text": format_amount(balance, currency),
                             "threshold": plain_amount(row.threshold),
                             "threshold_text": format_amount(row.threshold, currency), "currency": currency,
                             "time": iso(now_ms())})

    async def _webhook(self, row: Any, owner_name: str, balance: int) -> str | None:
        url = row.webhook_url or ""
        body = self.payload(row, owner_name, balance)
        ts = now_ms() // 1000
        headers = {"Content-Type": "application/json", "X-Relaygate-Event": EVENT,
                   "X-Relaygate-Timestamp": str(ts),
                   "X-Relaygate-Signature": callbacks.signature(notice_secret(self.server_secret, row.owner_id),
                                                                ts, body)}
        try:
            await self.guard.check(url, "webhook_url")
            if self.session is None:
                connector = aiohttp.TCPConnector(resolver=GuardedResolver(self.guard), limit=10)
                self.session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())
            async with self.session.post(url, data=body, headers=headers, allow_redirects=False,
                                         timeout=aiohttp.ClientTimeout(total=10)) as resp:
                if 200 <= resp.status < 300:
                    return None
                return f"HTTP {resp.status}"
        except GatewayError:
            return "url_not_allowed"
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return type(exc).__name__
