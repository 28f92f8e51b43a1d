"""Authentication of callers from the in-memory key snapshot: no database read per request."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import replace

from relaygate.core.clock import iso, now_ms
from relaygate.core.compat import KeyRules, source_status
from relaygate.core.domain import KeyRecord
from relaygate.core.errors import GatewayError
from relaygate.core.keys import key_hash, mask_key, split_presented_key
from relaygate.services.gateway.catalog import Route, Snapshot


def presented_key(headers: Mapping[str, str], query_key: str | None = None) -> str | None:
    """The key as the caller sent it: Bearer, x-api-key, api-key, x-goog-api-key or ?key=."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, rest = auth.partition(" ")
        if scheme.lower() == "bearer" and rest.strip():
            return rest.strip()
        if not rest and auth.strip():
            return auth.strip()
    for name in ("x-api-key", "api-key", "x-goog-api-key"):
        value = headers.get(name)
        if value and value.strip():
            return value.strip()
    return query_key or None


def authenticate(snapshot: Snapshot, presented: str | None, client_ip: str | None,
                 now: int | None = None) -> tuple[KeyRecord, int | None]:
    """The key record for a presented key, or the 401/403 that says exactly what is wrong.

    Returns the key and, for One API's ``sk-<key>-<channel id>`` form, the pinned channel id.
    """
    if not presented:
        raise GatewayError("missing_api_key")
    key = snapshot.keys_by_hash.get(key_hash(presented))
    pinned = None
    if key is None:
        body, pinned = split_presented_key(presented)
        if pinned is not None:
            key = snapshot.keys_by_hash.get(key_hash(body))
    if key is None:
        raise GatewayError("invalid_api_key", masked=mask_key(presented))
    if not key.enabled:
        reason = f" ({key.disabled_reason})" if key.disabled_reason else ""
        raise GatewayError("key_disabled", key_id=key.id, reason=reason)
    if key.expires_at is not None and key.expires_at <= (now or now_ms()):
        raise GatewayError("key_expired", key_id=key.id, expired_at=iso(key.expires_at))
    if key.allowed_networks is not None and (not client_ip or not _ip_allowed(client_ip, key)):
        raise GatewayError("network_not_allowed", key_id=key.id, ip=client_ip or "an unknown address",
                           networks=", ".join(str(n) for n in key.allowed_networks) or "(none)")
    return key, pinned


def _ip_allowed(client_ip: str, key: KeyRecord) -> bool:
    try:
        addr = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return any(addr in net for net in key.allowed_networks or ())


def check_old_rules(snap: Snapshot, key: KeyRecord, rules: KeyRules, pinned: int | None) -> None:
    """An imported key's refusals that come before the model: its New API token group, its channel pin."""
    if rules.refuse is not None:
        raise GatewayError(rules.refuse[0], key_id=key.id, group=rules.refuse[1])
    if pinned is None:
        return
    if rules.pin != "admin":
        raise GatewayError("channel_pin_not_allowed", key_id=key.id, channel=pinned)
    channel = snap.channels.get(pinned)
    if channel is None:
        raise GatewayError("channel_pin_unknown", key_id=key.id, channel=pinned)
    if not channel.enabled:
        reason = f" ({channel.disabled_reason})" if channel.disabled_reason else ""
        raise GatewayError("channel_pin_disabled", key_id=key.id, channel=pinned, reason=reason)


def auto_group(snap: Snapshot, key: KeyRecord, groups: tuple[str, ...], public: str) -> KeyRecord:
    """New API's token group 'auto': the first of its auto groups with a channel for the model."""
    for group in groups:
        if snap.candidates(public, group):
            return key if group == key.group else replace(key, group=group)
    return key if not groups or groups[0] == key.group else replace(key, group=groups[0])


def pinned_routes(snap: Snapshot, routes: list[Route], pinned: int, public: str,
                  rules: KeyRules | None) -> list[Route]:
    """sk-<key>-<channel id>: that channel only. An imported admin key gets it whatever its group or
    model list (as the old systems did, checked by ``check_old_rules``); other keys only among their routes."""
    chosen = [r for r in routes if r.channel.id == pinned]
    if chosen or rules is None:
        return chosen or routes
    channel = snap.channels[pinned]
    return [Route(channel, channel.models.get(public) or public)]


def old_status(exc: GatewayError, snap: Snapshot, key: KeyRecord | None) -> None:
    """Give an imported key's refusal the status its old system used (core/compat.py REFUSALS)."""
    if not snap.rules:
        return
    key_id = key.id if key is not None else exc.params.get("key_id")
    rules = snap.rules.get(key_id) if isinstance(key_id, str) else None
    if rules is not None:
        fact = str(exc.params.get("bucket", ""))
        if fact == "owner" and key is not None and key.cap_total == 0:
            fact = "key"  # an exhausted token: the old system refused the token before looking at the user
        exc.status_override = source_status(exc.code, rules, fact)
