"""The start and end every media call shares with chat: who is calling, the usage record, limits."""

from __future__ import annotations

from dataclasses import dataclass

from relaygate.core.clock import monotonic
from relaygate.core.domain import KeyRecord
from relaygate.core.errors import GatewayError
from relaygate.services.gateway.accounts import (
    authenticate,
    auto_group,
    check_old_rules,
    old_status,
    pinned_routes,
    presented_key,
)
from relaygate.services.gateway.catalog import Route, Snapshot
from relaygate.services.gateway.exchange import Exchange, Inbound
from relaygate.services.gateway.gate import Gate, Pass
from relaygate.services.gateway.relay import Relay
from relaygate.services.media.money import Hold, MediaMoney


@dataclass(frozen=True, slots=True)
class Caller:
    """The calling key (its group resolved for the model) and the channel it pins, if any."""

    key: KeyRecord
    pinned: int | None = None


def begin(relay: Relay, inbound: Inbound) -> tuple[Exchange, Snapshot]:
    return Exchange(relay.new_record(inbound), monotonic()), relay.state.snapshot


async def abandon(relay: Relay, money: MediaMoney, ex: Exchange, hold: Hold | None, status: int,
                  code: str | None) -> None:
    """A media call that ends without a charge (refused, failed, the caller gone): its hold, if it took one,
    released in full, and its usage record finished with ``status`` and ``code``."""
    if hold is not None:
        await money.end(hold.hold_id, 0)
    await relay.finish(ex, status, code)


def authenticated(relay: Relay, inbound: Inbound, ex: Exchange, snap: Snapshot, model: str = "") -> Caller:
    """The calling key; an imported key under its old system's rules as on chat (its New API token group
    refused or tried as 'auto' for ``model``, its channel pin refused unless its user was an admin), with
    the old system's statuses."""
    key, pinned = authenticate(snap, presented_key(inbound.headers, inbound.query_key), inbound.client_ip)
    relay.fill_key(ex.rec, snap, key)
    ex.key = key
    rules = snap.rules.get(key.id) if snap.rules else None
    if rules is not None:
        try:
            check_old_rules(snap, key, rules, pinned)
            if rules.auto_groups and model:
                key = ex.key = auto_group(snap, key, rules.auto_groups, snap.resolve(model))
                ex.rec["group_name"] = key.group
        except GatewayError as exc:
            old_status(exc, snap, key)
            raise
    return Caller(key, pinned)


def routes_for(snap: Snapshot, caller: Caller, model: str, protocols: set[str]) -> tuple[str, list[Route], bool]:
    """(public name, the routes whose channel protocol serves this media kind, whether any route exists).

    A pin (``sk-<key>-<channel id>``) narrows the routes to that channel as on chat
    (``services/gateway/accounts.py:pinned_routes``): an imported admin's whatever its group or models."""
    key = caller.key
    public = snap.resolve(model)
    snap.check_allowed(key, public, model)
    routes = snap.candidates(public, key.group)
    if caller.pinned is not None:
        routes = pinned_routes(snap, routes, caller.pinned, public, snap.rules.get(key.id) if snap.rules else None)
    return public, [r for r in routes if r.channel.protocol in protocols], bool(routes)


async def take_limits(gate: Gate | None, snap: Snapshot, key: KeyRecord, request_id: str) -> Pass | None:
    """The key's rate windows and concurrency slots for this call (money is held separately)."""
    if gate is None:
        return None
    return await gate.admit(gate.plan_for(snap, key), request_id, 0, None)


async def give_back(gate: Gate | None, admitted: Pass | None) -> None:
    if gate is not None and admitted is not None:
        await gate.leave(admitted, False, 0, 0, 0, 0)
