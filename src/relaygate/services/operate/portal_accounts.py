"""How a key holder gets an account and gets back in: invites, self-registration, e-mail verification and
password reset (by e-mail or by an operator). The portal, the API and the CLI call these.

- An **invite** is made by an operator for an owner (and optionally a fixed username and e-mail): its link
  lets one person choose their password. An invite without an owner is a **sign-up code**: each account
  made with it gets an owner of its own; it may serve several people (``uses``).
- **Self-registration** follows ``RELAYGATE_PORTAL_SIGNUP``: ``off`` (invites only), ``invite`` (a sign-up
  code is needed) or ``open``. When SMTP is configured a self-registered account must confirm its e-mail
  address before it can sign in.
- **Password reset**: a request names a username or an e-mail address and always gets the same answer,
  whether or not such a user exists; the e-mail, when there is one, is sent in the background. An operator
  can also make a reset link (``relaygate users reset-link``) or set a password. A reset ends the user's
  sessions and every other reset link.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from relaygate.core.clock import iso, now_ms
from relaygate.core.errors import InvalidInput
from relaygate.core.ids import short_id
from relaygate.core.passwords import hash_password
from relaygate.core.settings import Settings
from relaygate.services.operate import portal_tokens as tokens
from relaygate.services.operate.accounts import AccountsAdmin
from relaygate.services.operate.mail import Mail, Mailer, mail_text, valid_email
from relaygate.services.operate.portal_users import check_new_password, end_sessions, user_view
from relaygate.store import tables as t
from relaygate.store.db import bump_config_version

U = t.portal_users
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{2,63}$")
VERIFY_HOURS = 48
DAY_MS = 86_400_000


def link_base(public_base_url: str, scheme: str, host: str) -> str:
    """Where links in e-mails point: the public base URL (without /v1) when set, else the request's own
    scheme and Host (which the console's Host check has already allowed)."""
    base = public_base_url.strip().rstrip("/")
    if base:
        return base[:-3] if base.endswith("/v1") else base
    return f"{scheme}://{host}" if host else ""


def check_username(username: str) -> str:
    username = username.strip()
    if not USERNAME.match(username):
        raise InvalidInput("A username has 3 to 64 letters, digits or . _ - @, starting with a letter or digit.",
                           "用户名为 3 到 64 个字母、数字或 . _ - @，且以字母或数字开头。")
    return username


def check_email(email: str | None, required: bool = False) -> str | None:
    email = (email or "").strip()
    if not email:
        if required:
            raise InvalidInput("An e-mail address is needed (a confirmation is sent to it).",
                               "需要邮箱地址（确认邮件会发送到该地址）。")
        return None
    if not valid_email(email):
        raise InvalidInput("That is not an e-mail address.", "这不是有效的邮箱地址。")
    return email


class PortalAccounts:
    def __init__(self, engine: AsyncEngine, settings: Settings, mailer: Mailer) -> None:
        self.engine = engine
        self.settings = settings
        self.mailer = mailer

    # --- invites and sign-up codes (operators) -------------------------------------------------

    async def invite(self, *, owner: str | None, actor: str, username: str | None = None, email: str | None = None,
                     days: float = 7, uses: int = 1, note: str | None = None, base: str = "",
                     lang: str = "en") -> dict[str, Any]:
        """An invite link for ``owner`` (None: a sign-up code, each account its own owner). The token is in
        the answer only; when an e-mail is given and SMTP is configured the link is also sent there."""
        if not 0 < days <= 366:
            raise InvalidInput("An invite lasts more than 0 and at most 366 days.",
                               "邀请有效期须大于 0 且不超过 366 天。")
        if not 1 <= uses <= 10_000:
            raise InvalidInput("An invite serves 1 to 10,000 accounts.", "一个邀请可用于 1 到 10000 个账户。")
        username = check_username(username) if username else None
        email = check_email(email)
        if (username or email) and uses != 1:
            raise InvalidInput("An invite for one username or e-mail serves one account.",
                               "指定了用户名或邮箱的邀请只能用于一个账户。")
        async with self.engine.begin() as conn:
            owner_id = (await AccountsAdmin(self.engine).resolve_owner(conn, owner)).id if owner else None
            if username and (await conn.execute(select(U.c.id).where(U.c.username == username))).first():
                raise InvalidInput(f"A user named '{username}' already exists.", f"已存在用户名 '{username}'。",
                                   status=409)
            raw, row = await tokens.issue(conn, "invite", ttl_ms=int(days * DAY_MS), created_by=actor,
                                          owner_id=owner_id, username=username, email=email, uses=uses, note=note)
        link = f"{base}/portal/invite/{raw}" if base else f"/portal/invite/{raw}"
        sent = False
        if email and base and self.mailer.configured:
            subject, body = mail_text("invite", lang, link=link, expires=iso(row["expires_at"]))
            sent = await self.mailer.send(Mail(email, "invite", subject, body)) is None
        return {**tokens.token_view(_Row(row)), "token": raw, "link": link, "emailed": sent,
                "note_once": "The link is shown this once; only its hash is stored."}

    async def invites(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            owners = dict((await conn.execute(select(t.owners.c.id, t.owners.c.name))).all())
            rows = (await conn.execute(select(tokens.T).where(tokens.T.c.purpose == "invite")
                                       .order_by(tokens.T.c.created_at.desc()).limit(500))).all()
        return [tokens.token_view(r, owners) for r in rows]

    async def revoke_invite(self, invite_id: str) -> dict[str, Any]:
        T = tokens.T
        async with self.engine.begin() as conn:
            result = await conn.execute(update(T).where(T.c.id == invite_id, T.c.purpose == "invite",
                                                        T.c.revoked_at.is_(None)).values(revoked_at=now_ms()))
            if result.rowcount != 1:
                raise InvalidInput(f"No open invite '{invite_id}'.", f"找不到未撤销的邀请 '{invite_id}'。", status=404)
            row = (await conn.execute(select(T).where(T.c.id == invite_id))).one()
        return tokens.token_view(row)

    async def peek_invite(self, raw: str) -> tokens.Taken | None:
        return await tokens.peek(self.engine, raw, "invite")

    # --- registration ----------------------------------------------------------------------------

    def signup_mode(self) -> str:
        mode = self.settings.portal_signup.strip().lower()
        return mode if mode in ("off", "invite", "open") else "off"

    async def register(self, username: str, password: str, email: str | None, invite: str | None,
                       lang: str = "en", base: str = "") -> dict[str, Any]:
        """A new portal account: by an invite (its owner, or a new one for a sign-up code) or, when sign-up is
        open, with a new owner. Returns the user and whether a confirmation e-mail went out."""
        username = check_username(username)
        password_hash = await asyncio.to_thread(hash_password, check_new_password(password))
        invite = (invite or "").strip() or None
        mode = self.signup_mode()
        if invite is None and mode != "open":
            if mode == "invite":
                raise InvalidInput("Sign-up needs an invite code from your administrator.",
                                   "注册需要管理员提供的邀请码。", status=403)
            raise InvalidInput("Sign-up is off here; ask your administrator for an invite.",
                               "本站未开放注册，请向管理员索取邀请。", status=403)
        async with self.engine.begin() as conn:
            taken = await tokens.take(conn, invite, "invite") if invite else None
            if invite and taken is None:
                raise InvalidInput("This invite is unknown, used up, expired or revoked.",
                                   "该邀请不存在、已用完、已过期或已撤销。", status=410)
            if taken is not None and taken.username and taken.username != username:
                raise InvalidInput(f"This invite is for the username '{taken.username}'.",
                                   f"该邀请仅用于用户名 '{taken.username}'。")
            email = check_email(taken.email if taken and taken.email else email)
            # an operator's invite for an owner vouches for the person; a sign-up (code or open) is verified
            verify = taken is None or taken.owner_id is None
            verify = verify and self.mailer.configured
            if verify and email is None:
                check_email(None, required=True)
            if (await conn.execute(select(U.c.id).where(U.c.username == username))).first():
                raise InvalidInput(f"The username '{username}' is taken.", f"用户名 '{username}' 已被使用。",
                                   status=409)
            owner_id = taken.owner_id if taken and taken.owner_id else await self.new_owner(conn, username, email)
            now = now_ms()
            user_id = short_id("usr")
            values = {"id": user_id, "owner_id": owner_id, "username": username,
                      "password_hash": password_hash, "email": email, "enabled": True,
                      "source": "invite" if taken else "signup", "failed_logins": 0, "locked_until": None,
                      "last_login_at": None, "created_at": now, "updated_at": now, "verify_pending": verify,
                      "email_verified_at": now if taken and taken.email else None, "oidc_subject": None}
            await conn.execute(U.insert().values(**values))
            raw = None
            if verify:
                raw, _ = await tokens.issue(conn, "verify", ttl_ms=VERIFY_HOURS * 3_600_000, created_by="signup",
                                            user_id=user_id, email=email)
            row = (await conn.execute(select(U).where(U.c.id == user_id))).one()
        if raw is not None and email:
            subject, body = mail_text("verify", lang, username=username, hours=VERIFY_HOURS,
                                      link=f"{base}/portal/verify/{raw}")
            self.mailer.queue(Mail(email, "verify", subject, body))
        return {"user": user_view(row), "verification_sent": raw is not None}

    async def new_owner(self, conn: AsyncConnection, username: str, email: str | None) -> str:
        """A self-registered account's own owner, allowed to make a few keys itself (its policy row)."""
        name = username
        if (await conn.execute(select(t.owners.c.id).where(t.owners.c.name == name))).first():
            name = f"{username}-{secrets.token_hex(3)}"
        now = now_ms()
        owner_id = short_id("own")
        await conn.execute(t.owners.insert().values(id=owner_id, name=name, kind="person", email=email,
                                                    note="portal sign-up", created_at=now, updated_at=now))
        keys = self.settings.portal_signup_keys
        await conn.execute(t.owner_portal.insert().values(owner_id=owner_id, self_keys=keys > 0, max_keys=keys or None,
                                                          keys_created=0, updated_by="signup", updated_at=now))
        await bump_config_version(conn)
        return owner_id

    async def verify_email(self, raw: str) -> dict[str, Any] | None:
        async with self.engine.begin() as conn:
            taken = await tokens.take(conn, raw, "verify")
            if taken is None or taken.user_id is None:
                return None
            await conn.execute(update(U).where(U.c.id == taken.user_id, U.c.email == taken.email).values(
                verify_pending=False, email_verified_at=now_ms(), updated_at=now_ms()))
            row = (await conn.execute(select(U).where(U.c.id == taken.user_id))).first()
        return user_view(row) if row is not None else None

    # --- password reset --------------------------------------------------------------------------

    async def request_reset(self, ident: str, lang: str = "en", base: str = "") -> None:
        """Send a reset link to the user(s) named by username or e-mail; the same (silent) outcome either way."""
        ident = ident.strip()[:255]
        if not ident or not self.mailer.configured or not base:
            return
        async with self.engine.begin() as conn:
            rows = (await conn.execute(select(U).where(or_(U.c.username == ident, U.c.email == ident),
                                                       U.c.enabled.is_(True), U.c.email.is_not(None),
                                                       U.c.verify_pending.is_(False)).limit(5))).all()
            links = []
            for row in rows:
                raw, _ = await tokens.issue(conn, "reset", ttl_ms=self.settings.portal_reset_minutes * 60_000,
                                            created_by="reset request", user_id=row.id, email=row.email)
                links.append((row, f"{base}/portal/reset/{raw}"))
        for row, link in links:
            subject, body = mail_text("reset", lang, username=row.username, link=link,
                                      minutes=self.settings.portal_reset_minutes)
            self.mailer.queue(Mail(row.email, "reset", subject, body))

    async def reset_link(self, ident: str, actor: str, base: str = "", send: bool = False,
                         lang: str = "en") -> dict[str, Any]:
        """An operator's reset link for a user (shown once; e-mailed too with ``send``)."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(select(U).where((U.c.id == ident) | (U.c.username == ident)))).first()
            if row is None:
                raise InvalidInput(f"No user '{ident}'.", f"找不到用户 '{ident}'。", status=404)
            raw, token = await tokens.issue(conn, "reset", ttl_ms=self.settings.portal_reset_minutes * 60_000,
                                            created_by=actor, user_id=row.id, email=row.email if send else None)
        link = f"{base}/portal/reset/{raw}"
        emailed = False
        if send:
            if not row.email or not self.mailer.configured:
                raise InvalidInput("This user has no e-mail address or SMTP is not configured; hand the link over.",
                                   "该用户没有邮箱或未配置 SMTP，请把链接直接交给用户。")
            subject, body = mail_text("reset", lang, username=row.username, link=link,
                                      minutes=self.settings.portal_reset_minutes)
            emailed = await self.mailer.send(Mail(row.email, "reset", subject, body)) is None
        return {"user": row.username, "link": link, "token": raw, "expires_at": iso(token["expires_at"]),
                "emailed": emailed}

    async def peek_reset(self, raw: str) -> tokens.Taken | None:
        return await tokens.peek(self.engine, raw, "reset")

    async def reset_password(self, raw: str, password: str) -> dict[str, Any]:
        """Use a reset link: new password, lock-out cleared, every session and other reset link ended."""
        password_hash = await asyncio.to_thread(hash_password, check_new_password(password))
        async with self.engine.begin() as conn:
            taken = await tokens.take(conn, raw, "reset")
            if taken is None or taken.user_id is None:
                raise InvalidInput("This reset link is unknown, used, expired or replaced by a newer one.",
                                   "该重置链接不存在、已使用、已过期或已被更新的链接取代。", status=410)
            row = (await conn.execute(select(U).where(U.c.id == taken.user_id))).one()
            now = now_ms()
            values: dict[str, Any] = {"password_hash": password_hash, "failed_logins": 0, "locked_until": None,
                                      "updated_at": now}
            if taken.email and taken.email == row.email and row.email_verified_at is None:
                values["email_verified_at"] = now  # the link reached that mailbox
            await conn.execute(update(U).where(U.c.id == row.id).values(**values))
            await tokens.end_for_user(conn, row.id, "reset")
            await end_sessions(conn, row.id)
        return {"user": row.username}


class _Row:
    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)
