"""Following a run for a client: the long-poll of GET /status?wait= and the server-sent events
of GET /events. Both ask the run, every POLL_SECONDS, whether anything changed."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from api.gateway import RunNotAnswering, TemporalGateway
from crew_hitl.contracts.status import StatusDocument

POLL_SECONDS = 0.2
Disconnected = Callable[[], Awaitable[bool]]


async def status_after(
    gateway: TemporalGateway,
    kickoff_id: str,
    since: int | None,
    wait: float,
    disconnected: Disconnected,
) -> StatusDocument:
    """The status once its `version` passes `since`, or as it is at the end of `wait`."""
    document = await gateway.status(kickoff_id)
    deadline = time.monotonic() + wait
    while since is not None and document.version <= since and document.degraded is None:
        if time.monotonic() >= deadline or await disconnected():
            break
        await asyncio.sleep(POLL_SECONDS)
        document = await gateway.status(kickoff_id)
    return document


async def event_stream(
    gateway: TemporalGateway, kickoff_id: str, last_id: str | None, disconnected: Disconnected
) -> AsyncIterator[str]:
    """The run's events as server-sent events, from after `last_id`, until its last."""
    while not await disconnected():
        try:
            page = await gateway.events(kickoff_id, last_id)
        except RunNotAnswering as err:
            yield f": waiting for the run to answer ({err})\n\n"
            await asyncio.sleep(1.0)
            continue
        for item in page.events:
            last_id = item.id
            data = json.dumps(item.data, ensure_ascii=False)
            yield f"id: {item.id}\nevent: {item.event}\ndata: {data}\n\n"
        if page.finished:
            return
        await asyncio.sleep(POLL_SECONDS)
