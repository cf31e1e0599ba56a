"""The worker's side of the outbound guard: every address a webhook delivery connects to is
checked when it connects (crew_hitl/outbound.py's rules), so a host that resolves elsewhere
at delivery than at kickoff (DNS rebinding), or a URL given in a CLI signal that never passed
the API, is refused there. A refusal is final: a delivery row with the reason."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from crew_hitl.outbound import WebhookPolicy


class AddressRefused(OSError):
    """A webhook's host is, or resolves to, an address the policy refuses."""


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, with every answer checked against the policy."""

    def __init__(self, policy: WebhookPolicy) -> None:
        self._policy = policy
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not self._policy.allows_host(host):
            for result in results:
                check_address(self._policy, host, result["host"])
        return results

    async def close(self) -> None:
        await self._inner.close()


def check_address(policy: WebhookPolicy, host: str, address: str) -> None:
    if not policy.allows(ipaddress.ip_address(address.split("%")[0])):
        raise AddressRefused(f"{host} ({address}) is not an allowed webhook address")


def check_literal(policy: WebhookPolicy, host: str) -> None:
    """An IP literal is connected to without a lookup: checked here instead."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return
    check_address(policy, host, host)


def guarded_session(policy: WebhookPolicy, **options: Any) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(resolver=GuardedResolver(policy)), **options
    )
