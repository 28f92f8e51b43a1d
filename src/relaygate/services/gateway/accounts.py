"""Authentication of callers from the in-memory key snapshot: no database read per request."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from relaygate.core.clock import iso, now_ms
from relaygate.core.domain import KeyRecord
from relaygate.core.errors import GatewayError
from relaygate.core.keys import key_hash, mask_key, split_presented_key
from relaygate.services.gateway.catalog import Snapshot


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
