"""Admin and root users of One API / New API become console operators, keeping their bcrypt password hash,
so they sign in to relaygate's console with the password they had. `relaygate operators import-legacy`."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.passwords import is_bcrypt
from relaygate.services.migration.records import User
from relaygate.services.migration.source import Source
from relaygate.services.operate.operators import OperatorsAdmin

ROOT_ROLE = 100  # One API / New API: 1 common user, 10 admin, 100 root


def not_importable(u: User, password: str, source: Source) -> str | None:
    """Why an old user cannot sign in here with their password (disabled or deleted, or no bcrypt hash), or None.
    The one rule for operators and for portal users."""
    if u.deleted or u.status != 1:
        return f"user is {u.state} in {source.name}"
    if not is_bcrypt(password):
        return "no bcrypt password (signs in by OAuth only?)"
    return None


async def import_operators(engine: AsyncEngine, source: Source, min_role: int = 10, role: str = "admin",
                           apply: bool = True) -> dict[str, list[dict[str, Any]]]:
    """Enabled users with role >= ``min_role`` and a bcrypt password; the rest are listed with the reason."""
    users = source.table("users")
    assert users is not None
    ops = OperatorsAdmin(engine)
    done: dict[str, list[dict[str, Any]]] = {"imported": [], "existing": [], "skipped": []}
    async for chunk in source.chunks("users", users.c.role >= min_role, size=500):
        for row in chunk:
            u = User.from_row(row, source.kind)
            password = str(row.get("password") or "")
            entry = {"username": u.username, "old_role": u.role}
            if (why := not_importable(u, password, source)) is not None:
                done["skipped"].append({**entry, "reason": why})
            elif not apply:
                done["imported"].append(entry)
            elif await ops.import_hashed(u.username, role, password, source.kind) is None:
                done["existing"].append(entry)
            else:
                done["imported"].append(entry)
    return done
