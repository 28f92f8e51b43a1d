"""Immutable domain records shared by storage and services: keys, owners, groups, channels, models."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

ENVIRONMENTS = ("production", "testing", "personal", "high-cost")
OWNER_KINDS = ("person", "team", "service")
MODEL_STATUSES = ("active", "unsupported")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: str
    key_hash: str
    masked: str
    name: str
    owner_id: str
    group: str
    environment: str
    enabled: bool
    disabled_reason: str | None
    expires_at: int | None
    allowed_models: frozenset[str] | None
    allowed_networks: tuple[Network, ...] | None
    source: str = "native"
    cap_total: int | None = None
    cap_daily: int | None = None
    cap_monthly: int | None = None
    rpm: int | None = None
    tpm: int | None = None
    concurrency: int | None = None


@dataclass(frozen=True, slots=True)
class OwnerRecord:
    id: str
    name: str
    kind: str
    email: str | None = None


@dataclass(frozen=True, slots=True)
class GroupRecord:
    name: str
    models: frozenset[str] | None  # None: every model
    description: str | None = None
    multiplier_ppm: int = 1_000_000
    rpm: int | None = None
    tpm: int | None = None
    concurrency: int | None = None


@dataclass(frozen=True, slots=True)
class ChannelRecord:
    id: int
    name: str
    protocol: str
    base_url: str
    secrets: tuple[str, ...]
    models: dict[str, str]  # public name -> upstream name
    groups: frozenset[str] | None  # None: every group
    priority: int
    weight: int
    enabled: bool
    disabled_reason: str | None
    connect_timeout: float
    first_byte_timeout: float
    total_timeout: float
    options: dict[str, Any] = field(default_factory=dict)

    def serves_group(self, group: str) -> bool:
        return self.groups is None or group in self.groups or "*" in self.groups


@dataclass(frozen=True, slots=True)
class ModelRecord:
    name: str
    aliases: tuple[str, ...]
    status: str
    replacement: str | None
    description: str | None = None
    capabilities: dict[str, Any] | None = None  # {"reasoning": true}: max_completion_tokens, no sampling knobs


def parse_networks(values: list[str] | None) -> tuple[Network, ...] | None:
    """CIDRs or bare addresses; raises ValueError naming the bad entry."""
    if not values:
        return None
    nets = []
    for raw in values:
        try:
            nets.append(ipaddress.ip_network(raw.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"'{raw}' is not an IP address or CIDR network") from exc
    return tuple(nets)
