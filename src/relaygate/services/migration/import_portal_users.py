"""One API / New API users become portal users of the owners `migrate import` made for them, keeping their
bcrypt password hash, so on the day of the switch they sign in to the portal with the password they had.
`relaygate users import-legacy`. Run after `migrate import` (the owners must exist)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.services.migration.import_operators import not_importable
from relaygate.services.migration.records import User
from relaygate.services.migration.source import Source
from relaygate.services.operate.portal_users import PortalUsers
from relaygate.store import tables as t


async def import_portal_users(engine: AsyncEngine, source: Source, tag: str, apply: bool = True,
                              ) -> dict[str, list[dict[str, Any]]]:
    """Enabled users with a bcrypt password whose owner (``own_<tag>_<id>``) was imported; the rest are listed
    with the reason. A username already taken here is left as it is."""
    users = source.table("users")
    assert users is not None
    portal = PortalUsers(engine)
    done: dict[str, list[dict[str, Any]]] = {"imported": [], "existing": [], "skipped": []}
    async for chunk in source.chunks("users", size=500):
        rows = [(User.from_row(row, source.kind), str(row.get("password") or "")) for row in chunk]
        ids = [f"own_{tag}_{u.id}" for u, _ in rows]
        async with engine.connect() as conn:
            owners = set((await conn.execute(select(t.owners.c.id).where(t.owners.c.id.in_(ids)))).scalars())
        for u, password in rows:
            owner = f"own_{tag}_{u.id}"
            entry = {"username": u.username, "owner_id": owner}
            if (why := not_importable(u, password, source)) is not None:
                done["skipped"].append({**entry, "reason": why})
            elif owner not in owners:
                done["skipped"].append({**entry, "reason": "its owner is not imported: run migrate import first "
                                                           "(or pass the plan's --tag)"})
            elif not apply:
                done["imported"].append(entry)
            elif await portal.import_hashed(u.username, owner, password, source.kind) is None:
                done["existing"].append(entry)
            else:
                done["imported"].append(entry)
    return done
