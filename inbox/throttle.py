"""Failed sign-ins counted per client address: past a few within a window, the inbox's
sign-in form refuses (429) until the oldest failure ages out, so that a token cannot be
guessed through it at the speed of the server."""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict, deque

FAILURES_ALLOWED = 10
WINDOW_SECONDS = 300.0
# Addresses remembered at most; the one failing longest ago is forgotten first.
ADDRESSES_KEPT = 10_000


class SignInThrottle:
    def __init__(
        self,
        failures_allowed: int = FAILURES_ALLOWED,
        window_seconds: float = WINDOW_SECONDS,
        addresses_kept: int = ADDRESSES_KEPT,
    ) -> None:
        self.failures_allowed = failures_allowed
        self.window_seconds = window_seconds
        self.addresses_kept = addresses_kept
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, address: str, now: float | None = None) -> int | None:
        """Seconds until this address may try again, or None when it may now."""
        now = time.monotonic() if now is None else now
        failures = self._recent(client_key(address), now)
        if len(failures) < self.failures_allowed:
            return None
        return max(1, math.ceil(failures[0] + self.window_seconds - now))

    def failed(self, address: str, now: float | None = None) -> int:
        """Count a failed sign-in; returns the failures within the window."""
        now = time.monotonic() if now is None else now
        key = client_key(address)
        failures = self._recent(key, now)
        failures.append(now)
        self._failures[key] = failures
        self._failures.move_to_end(key)
        while len(self._failures) > self.addresses_kept:
            self._failures.popitem(last=False)
        return len(failures)

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.get(key, deque())
        while failures and failures[0] <= now - self.window_seconds:
            failures.popleft()
        if not failures:
            self._failures.pop(key, None)
        return failures


def client_key(address: str) -> str:
    """An IPv6 client counts by its /64 (one host can hold a whole /64); others as given."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
