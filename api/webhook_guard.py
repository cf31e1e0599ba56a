"""Webhook URLs a run may not call are refused at kickoff and resume (422 naming the field),
not a failure later. The rules are crew_hitl/outbound.py's; the worker applies them again to
every address it connects to."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from api.failures import InvalidRequest
from crew_hitl.outbound import Address, WebhookPolicy

RESOLVE_TIMEOUT = 2.0
REFUSED = "webhook_refused"


@dataclass(frozen=True)
class WebhookGuard:
    policy: WebhookPolicy

    async def check(self, field: str, url: str) -> None:
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
        if not host:
            raise InvalidRequest(f"{field}: the URL has no host", REFUSED)
        if self.policy.allows_host(host):
            return
        addresses = await addresses_of(host)
        for address in addresses:
            if not self.policy.allows(address):
                raise InvalidRequest(
                    f"{field}: {host} ({address}) is not an allowed webhook address", REFUSED
                )
        if self.policy.restricted and not addresses:
            raise InvalidRequest(f"{field}: {host} is not in CREW_HITL_WEBHOOK_ONLY", REFUSED)


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
