"""The portal's e-mail: verification, password reset, invites and low-balance notices, in en and zh-CN.

``Mailer.send`` talks SMTP (aiosmtplib) with the ``RELAYGATE_SMTP_*`` settings and says whether the
server took the message. ``Mailer.queue`` hands a message to the supervised ``portal-mail`` task instead,
so a page's answer never waits on (or reveals anything through) the mail server: a reset request for an
unknown address answers in the same time as one for a known address. Logs name the kind and the
recipient's domain, never a link, a token or the text.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from relaygate.core.settings import Settings

log = logging.getLogger("relaygate.mail")

TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "verify": {
        "en": ("Confirm your e-mail address",
               "Hello {username},\n\nconfirm this e-mail address for your account by opening this link "
               "(valid for {hours} hours):\n\n{link}\n\nIf you did not sign up, ignore this message.\n"),
        "zh-CN": ("请确认你的邮箱地址",
                  "{username}，你好：\n\n请打开下面的链接确认该邮箱地址（{hours} 小时内有效）：\n\n{link}\n\n"
                  "如果不是你本人注册，请忽略此邮件。\n"),
    },
    "reset": {
        "en": ("Reset your password",
               "Hello {username},\n\nsomeone asked to reset the password of your account. To choose a new "
               "password open this link (valid for {minutes} minutes, once):\n\n{link}\n\n"
               "If it was not you, ignore this message: your password stays as it is.\n"),
        "zh-CN": ("重置密码",
                  "{username}，你好：\n\n有人请求重置你账户的密码。如需设置新密码，请打开下面的链接"
                  "（{minutes} 分钟内有效，仅可使用一次）：\n\n{link}\n\n"
                  "如果不是你本人操作，请忽略此邮件，密码不会改变。\n"),
    },
    "invite": {
        "en": ("Your account is ready",
               "Hello,\n\nyou were invited to an account on the AI gateway. Open this link to choose your "
               "password (valid until {expires}):\n\n{link}\n"),
        "zh-CN": ("你的账户已就绪",
                  "你好：\n\n你受邀使用 AI 网关的账户。请打开下面的链接设置密码（有效期至 {expires}）：\n\n{link}\n"),
    },
    "low_balance": {
        "en": ("Low balance: {balance}",
               "Hello,\n\nthe balance of {owner} is {balance}, below the {threshold} you asked to be told "
               "about. Requests are refused once it reaches zero.\n\n{link}\n\nYou get this once per crossing; "
               "change or turn off the notice in the portal.\n"),
        "zh-CN": ("余额不足：{balance}",
                  "你好：\n\n{owner} 的余额为 {balance}，已低于你设置的提醒阈值 {threshold}。"
                  "余额用完后请求会被拒绝。\n\n"
                  "{link}\n\n每次跌破阈值只提醒一次；可在门户中修改或关闭提醒。\n"),
    },
}


def mail_text(kind: str, lang: str, **values: object) -> tuple[str, str]:
    subject, body = TEXTS[kind]["zh-CN" if lang == "zh-CN" else "en"]
    return subject.format(**values), body.format(**values)


@dataclass(frozen=True)
class Mail:
    to: str
    kind: str
    subject: str
    body: str
    tries: int = 0


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.outbox: asyncio.Queue[Mail] = asyncio.Queue(maxsize=1000)
        self.sent = 0

    @property
    def configured(self) -> bool:
        return bool(self.settings.smtp_host and self.settings.smtp_from)

    def message(self, mail: Mail) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.settings.smtp_from
        msg["To"] = mail.to
        msg["Subject"] = mail.subject
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain=self.settings.smtp_from.rsplit("@", 1)[-1].strip("> ") or None)
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(mail.body, charset="utf-8")
        return msg

    async def send(self, mail: Mail) -> str | None:
        """Deliver now; None when the server accepted it, else why not (a class name, never the text)."""
        if not self.configured:
            return "smtp_not_configured"
        import aiosmtplib

        s = self.settings
        try:
            await aiosmtplib.send(self.message(mail), hostname=s.smtp_host, port=s.smtp_port,
                                  username=s.smtp_username or None, password=s.smtp_password or None,
                                  use_tls=s.smtp_security == "tls", start_tls=s.smtp_security == "starttls",
                                  timeout=15)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            log.warning("mail %s to …@%s failed: %s", mail.kind, _domain(mail.to), type(exc).__name__)
            return type(exc).__name__
        self.sent += 1
        log.info("mail %s to …@%s sent", mail.kind, _domain(mail.to))
        return None

    def queue(self, mail: Mail) -> bool:
        """Send in the background (the caller's answer does not wait); False when the outbox is full."""
        if not self.configured:
            return False
        try:
            self.outbox.put_nowait(mail)
        except asyncio.QueueFull:
            log.warning("mail outbox full: %s to …@%s dropped", mail.kind, _domain(mail.to))
            return False
        return True

    async def run(self) -> None:
        """Supervised loop: send what pages queued, one at a time; a failure is tried again twice (30 s, 2 min)."""
        loop = asyncio.get_running_loop()
        while True:
            mail = await self.outbox.get()
            if await self.send(mail) is not None and mail.tries < 2:
                again = Mail(mail.to, mail.kind, mail.subject, mail.body, mail.tries + 1)
                loop.call_later(30 * 4 ** mail.tries, self._requeue, again)

    def _requeue(self, mail: Mail) -> None:
        try:
            self.outbox.put_nowait(mail)
        except asyncio.QueueFull:
            log.warning("mail outbox full: %s to …@%s dropped", mail.kind, _domain(mail.to))

    async def drain(self) -> None:
        while not self.outbox.empty():
            await self.send(self.outbox.get_nowait())


def _domain(address: str) -> str:
    return address.rsplit("@", 1)[-1].strip("> ")[:64]


def valid_email(address: str) -> bool:
    """A plain address: one @, a dotted domain, no spaces or header-breaking characters."""
    if not address or len(address) > 254 or any(c in address for c in " \r\n\t<>,;\"'"):
        return False
    local, _, domain = address.rpartition("@")
    return bool(local) and "." in domain.strip(".") and "@" not in local
