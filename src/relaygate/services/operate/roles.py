"""Who may do what: the one permission table the console, the CLI and the API all consult.

admin    everything.
support  reads everything except secrets, runs the support desk; changes no money and no routing.
viewer   reads the overview, lists and records; no support drafting, no changes.
"""

from __future__ import annotations

ROLES = ("admin", "support", "viewer")

PERMISSIONS: dict[str, frozenset[str]] = {
    "read": frozenset(ROLES),
    "support": frozenset({"admin", "support"}),  # run diagnoses, draft replies
    "money": frozenset({"admin"}),  # top-up, adjust, refund
    "routing": frozenset({"admin"}),  # channels, models, prices, channel tests
    "keys": frozenset({"admin"}),  # create, disable, change keys and owners
    "rollout": frozenset({"admin"}),  # switch, rollback, complete batches
    "operators": frozenset({"admin"}),  # operators, sessions, admin tokens
    "audit": frozenset({"admin", "support"}),
    "self": frozenset({"holder"}),  # a portal user: their own owner's balance, keys and requests only
}


def allowed(role: str, permission: str) -> bool:
    return role in PERMISSIONS.get(permission, frozenset())
