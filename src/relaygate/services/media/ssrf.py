"""Which URLs the gateway may reach on a caller's behalf (callbacks, reference images).

Loopback, link-local (cloud metadata lives there), private, carrier-grade NAT, multicast,
reserved and unspecified addresses are refused unless the operator allow-lists the host or a
network (``RELAYGATE_MEDIA_ALLOW_HOSTS``). Every address a name resolves to is checked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from relaygate.core.errors import GatewayError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
METADATA_NAMES = frozenset({"metadata.google.internal", "metadata", "instance-data"})


def parse_allow(raw: str) -> tuple[frozenset[str], tuple[Network, ...]]:
    names, nets = set(), []
    for item in (p.strip() for p in raw.split(",")):
        if not item:
            continue
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            names.add(item.lower())
    return frozenset(names), tuple(nets)


def forbidden(addr: Address) -> bool:
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return (addr.is_loopback or addr.is_link_local or addr.is_private or addr.is_multicast or addr.is_reserved
            or addr.is_unspecified or (isinstance(addr, ipaddress.IPv4Address)
                                       and addr in ipaddress.ip_network("100.64.0.0/10")))


class UrlGuard:
    def __init__(self, allow: str = "") -> None:
        self.names, self.nets = parse_allow(allow)

    async def check(self, url: str, field: str) -> None:
        """Raise ``url_not_allowed`` (400) unless ``url`` is http(s) to a public address or allow-listed."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            raise GatewayError("url_not_allowed", field=field, reason="it is not an http(s) URL",
                               reason_zh="它不是 http(s) 地址")
        if host in self.names:
            return
        if host in METADATA_NAMES:
            raise GatewayError("url_not_allowed", field=field, reason="it names a cloud metadata service",
                               reason_zh="它指向云元数据服务")
        try:
            addrs = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
            except OSError:
                raise GatewayError("url_not_allowed", field=field, reason=f"the host {host} does not resolve",
                                   reason_zh=f"主机 {host} 无法解析") from None
            addrs = [ipaddress.ip_address(info[4][0]) for info in infos]
        for addr in addrs:
            if any(addr in net for net in self.nets):
                continue
            if forbidden(addr):
                raise GatewayError("url_not_allowed", field=field,
                                   reason="it points at a loopback, private, link-local or metadata address",
                                   reason_zh="它指向回环、内网、链路本地或元数据地址")
