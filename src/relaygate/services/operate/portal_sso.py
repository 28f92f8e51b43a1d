"""Which portal account a verified OpenID Connect identity signs in to (``services/operate/oidc.py``
verifies the identity; this decides the account)."""

from __future__ import annotations

import re
import secrets
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import now_ms
from relaygate.core.ids import short_id
from relaygate.core.keys import hash_secret
from relaygate.core.settings import Settings
from relaygate.services.operate.mail import valid_email
from relaygate.services.operate.oidc import OidcRefused
from relaygate.services.operate.operators import Principal
from relaygate.services.operate.portal_accounts import USERNAME, PortalAccounts
from relaygate.services.operate.portal_users import HOLDER
from relaygate.store import tables as t

U = t.portal_users


def subject_of(claims: dict[str, Any]) -> str:
    return hash_secret(f"{claims['iss']}\n{claims['sub']}")


def _username_from(claims: dict[str, Any]) -> str:
    for raw in (claims.get("preferred_username"), str(claims.get("email") or "").split("@")[0]):
        name = re.sub(r"[^A-Za-z0-9_.@-]", "", str(raw or ""))[:56]
        if USERNAME.match(name):
            return name
    return f"sso-{secrets.token_hex(4)}"


async def sso_principal(engine: AsyncEngine, settings: Settings, accounts: PortalAccounts,
                        claims: dict[str, Any]) -> Principal:
    """The linked account, else the one account with the identity's verified e-mail (linked now), else a new
    account as RELAYGATE_OIDC_NEW_USERS says. Raises OidcRefused('no_account' | 'disabled')."""
    subject = subject_of(claims)
    email = str(claims.get("email") or "").strip()
    verified = claims.get("email_verified") is True and valid_email(email)
    async with engine.begin() as conn:
        row = (await conn.execute(select(U).where(U.c.oidc_subject == subject))).first()
        if row is None and verified:
            same = (await conn.execute(select(U).where(U.c.email == email, U.c.oidc_subject.is_(None))
                                       .limit(2))).all()
            if len(same) == 1:
                row = same[0]
                await conn.execute(update(U).where(U.c.id == row.id, U.c.oidc_subject.is_(None)).values(
                    oidc_subject=subject, updated_at=now_ms()))
        if row is None:
            row = await _new_account(conn, settings, accounts, claims, subject, email if verified else None)
        if not row.enabled:
            raise OidcRefused("disabled")
        now = now_ms()
        values: dict[str, Any] = {"last_login_at": now, "failed_logins": 0}
        if row.verify_pending and verified and row.email == email:
            values.update(verify_pending=False, email_verified_at=now)  # the provider vouched for the address
        elif row.verify_pending:
            raise OidcRefused("unverified")
        await conn.execute(update(U).where(U.c.id == row.id).values(**values))
    return Principal("user", row.id, row.username, HOLDER)


async def _new_account(conn: Any, settings: Settings, accounts: PortalAccounts, claims: dict[str, Any],
                       subject: str, email: str | None) -> Any:
    policy = settings.oidc_new_users.strip()
    if not policy:
        raise OidcRefused("no_account")
    username = _username_from(claims)
    if (await conn.execute(select(U.c.id).where(U.c.username == username))).first():
        username = f"{username[:56]}-{secrets.token_hex(3)}"
    if policy == "own":
        owner_id = await accounts.new_owner(conn, username, email)
    else:
        owner = (await conn.execute(select(t.owners.c.id).where(
            (t.owners.c.name == policy) | (t.owners.c.id == policy)))).first()
        if owner is None:
            raise OidcRefused("no_account")
        owner_id = owner.id
    now = now_ms()
    values = {"id": short_id("usr"), "owner_id": owner_id, "username": username, "password_hash": "",
              "email": email, "enabled": True, "source": "oidc", "failed_logins": 0, "locked_until": None,
              "last_login_at": None, "created_at": now, "updated_at": now, "verify_pending": False,
              "email_verified_at": now if email else None, "oidc_subject": subject}
    await conn.execute(U.insert().values(**values))
    return (await conn.execute(select(U).where(U.c.id == values["id"]))).one()
