"""Which addresses a webhook may go to: the rules shared by the API (checked at kickoff and
resume) and the worker (checked on every address it connects to, at delivery).

Public addresses are allowed; private, loopback, link-local, unspecified, CGNAT, ULA,
multicast and cloud-metadata addresses are refused unless CREW_HITL_WEBHOOK_ALLOW lists them
(so a token holder cannot make the service probe its own network and read the answers in
/status). CREW_HITL_WEBHOOK_ONLY, when set, is the only way out. An IPv6 address that carries
an IPv4 one meets the IPv4 rules."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

REFUSED_UNLESS_LISTED: tuple[Network, ...] = tuple(
    ipaddress.ip_network(network)
    for network in (
        "0.0.0.0/8",  # unspecified, "this network"
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT; holds Alibaba Cloud's metadata 100.100.100.200
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local; cloud metadata 169.254.169.254
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, broadcast
        "::/128",
        "::1/128",
        "::ffff:0:0:0/96",  # SIIT IPv4-translated addresses
        "64:ff9b:1::/48",  # local-use NAT64
        "2001::/32",  # Teredo (carries an IPv4 address, obfuscated)
        "fec0::/10",  # site-local (deprecated, still routed by some)
        "fc00::/7",  # unique local; AWS (fd00:ec2::254) and GCP (fd20:ce::254) metadata
        "fe80::/10",
        "ff00::/8",
    )
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# What `make run` allows by default (a developer's receiver is on the same machine).
LOOPBACK = "127.0.0.0/8,::1/128"


@dataclass(frozen=True)
class Destinations:
    """Host names and networks, as a setting lists them ("hooks.example, 10.0.0.0/8")."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, setting: str) -> Destinations:
        hosts: set[str] = set()
        networks: list[Network] = []
        for item in (part.strip() for part in setting.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def __bool__(self) -> bool:
        return bool(self.hosts or self.networks)

    def has_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def has_address(self, address: Address) -> bool:
        return any(address in network for network in self.networks)


@dataclass(frozen=True)
class WebhookPolicy:
    allow: Destinations = field(default_factory=Destinations)
    only: Destinations = field(default_factory=Destinations)

    @classmethod
    def from_settings(cls, allow: str, only: str = "") -> WebhookPolicy:
        return cls(Destinations.parse(allow), Destinations.parse(only))

    @property
    def restricted(self) -> bool:
        """CREW_HITL_WEBHOOK_ONLY is set: nothing it does not list may be called."""
        return bool(self.only)

    def allows_host(self, host: str) -> bool:
        """A host name listed in either setting: allowed whatever it resolves to."""
        return self.allow.has_host(host) or self.only.has_host(host)

    def allows(self, address: Address) -> bool:
        address = as_ipv4(address)
        if self.allow.has_address(address) or self.only.has_address(address):
            return True
        if self.restricted:
            return False
        return not any(address in network for network in REFUSED_UNLESS_LISTED)


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
