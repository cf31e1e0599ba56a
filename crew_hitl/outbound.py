"""Which addresses a webhook may go to: the rules shared by the API (checked at kickoff and
resume) and the worker (checked on every address it connects to, at delivery). Link-local and
cloud-metadata addresses are refused unless listed; CREW_HITL_WEBHOOK_ALLOW (hosts or CIDRs),
when set, is the only way out. An IPv6 address that carries an IPv4 one meets the IPv4 rules."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

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


@dataclass(frozen=True)
class WebhookPolicy:
    hosts: frozenset[str]
    networks: tuple[Network, ...]

    @classmethod
    def from_setting(cls, allow: str) -> WebhookPolicy:
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

    def allows_host(self, host: str) -> bool:
        """A host name listed in CREW_HITL_WEBHOOK_ALLOW: allowed whatever it resolves to."""
        return host.lower().rstrip(".") in self.hosts

    def allows(self, address: Address) -> bool:
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
