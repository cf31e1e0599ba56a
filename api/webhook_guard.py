"""Which webhook URLs a run may call: refused ones are a 422 at kickoff or resume, not a
failure later. Link-local and cloud-metadata addresses are refused unless allowed explicitly;
CREW_HITL_WEBHOOK_ALLOW (hosts or CIDRs), when set, is the only way out."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from api.failures import InvalidRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

ALWAYS_REFUSED: tuple[Network, ...] = (
    ipaddress.ip_network("169.254.0.0/16"),  # link-local, cloud metadata (169.254.169.254)
    ipaddress.ip_network("100.100.100.200/32"),  # Alibaba Cloud metadata
    ipaddress.ip_network("fe80::/10"),
    ipaddress.ip_network("fd00:ec2::/32"),  # AWS metadata over IPv6
    ipaddress.ip_network("fd20:ce::254/128"),  # GCP metadata over IPv6
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
RESOLVE_TIMEOUT = 2.0
REFUSED = "webhook_refused"


@dataclass(frozen=True)
class WebhookGuard:
    hosts: frozenset[str]
    networks: tuple[Network, ...]

    @classmethod
    def from_setting(cls, allow: str) -> WebhookGuard:
        hosts: set[str] = set()
        networks: list[Network] = []
        for item in (part.strip() for part in allow.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    @property
    def restricted(self) -> bool:
        return bool(self.hosts or self.networks)

    async def check(self, field: str, url: str) -> None:
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
        if not host:
            raise InvalidRequest(f"{field}: the URL has no host", REFUSED)
        if host in self.hosts:
            return
        addresses = await addresses_of(host)
        for address in addresses:
            if not self._allows(address):
                raise InvalidRequest(
                    f"{field}: {host} ({address}) is not an allowed webhook address", REFUSED
                )
        if self.restricted and not addresses:
            raise InvalidRequest(f"{field}: {host} is not in CREW_HITL_WEBHOOK_ALLOW", REFUSED)

    def _allows(self, address: Address) -> bool:
        address = as_ipv4(address)
        if any(address in network for network in self.networks):
            return True
        if self.restricted:
            return False
        return not any(address in network for network in ALWAYS_REFUSED)


def as_ipv4(address: Address) -> Address:
    """An IPv6 address that carries an IPv4 one (mapped, compatible, NAT64, 6to4) as that
    IPv4 address, so that [::ffff:169.254.169.254] meets the same rules as 169.254.169.254."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    packed = int(address)
    if packed >> 32 == 0 and packed > 1:  # IPv4-compatible ::a.b.c.d (not :: or ::1)
        return ipaddress.IPv4Address(packed)
    return address


async def addresses_of(host: str) -> list[Address]:
    """The host's addresses: itself when it is an IP literal, else what DNS says (nothing
    when it does not answer: the delivery will then fail and be retried like any other)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT
        )
    except (OSError, TimeoutError):
        return []
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
