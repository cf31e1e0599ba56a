"""Heartbeats while a long task round runs, so that a worker that dies mid-task is noticed
within the heartbeat timeout and another worker takes the round over."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from temporalio import activity

# The SDK sends at most one heartbeat per 80 % of the timeout; calling often costs nothing.
HEARTBEAT_SECONDS = 1.0
T = TypeVar("T")


async def heartbeat_while(call: Awaitable[T]) -> T:
    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(HEARTBEAT_SECONDS)

    beater = asyncio.create_task(beat())
    try:
        return await call
    finally:
        beater.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beater
