"""Following a run for a client: the long-poll of GET /status?wait= and the server-sent events
of GET /events. Both wait on the run's follower (api/followers.py), which wakes them only
when the run's history grows: a client of a run where nothing happens costs no query."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from api.failures import Failure
from api.followers import Followers
from api.gateway import RunNotAnswering, TemporalGateway
from crew_hitl.contracts.status import StatusDocument

# How often a waiting long-poll checks that its client is still connected, and a waiting
# stream that its run has not ended (local checks, no query; every second, 1,000 waiting
# clients cost the API a third of a core).
CONNECTED_CHECK_SECONDS = 10.0
Disconnected = Callable[[], Awaitable[bool]]


async def status_after(
    gateway: TemporalGateway,
    followers: Followers,
    kickoff_id: str,
    since: int | None,
    wait: float,
    disconnected: Disconnected,
) -> StatusDocument:
    """The status once its `version` passes `since`, or as it is at the end of `wait`. A
    long-poll (with `since` and `wait`) reads the status its run's follower holds, asked once
    per change for every client; a plain GET asks the run."""
    if since is None or wait <= 0:
        return await gateway.status(kickoff_id)
    deadline = time.monotonic() + wait
    async with followers.watching(kickoff_id) as follower:
        document, seen = await follower.status()
        while document.version <= since:
            left = deadline - time.monotonic()
            if left <= 0 or await disconnected():
                break
            step = min(left, CONNECTED_CHECK_SECONDS)
            if follower.finished and follower.generation <= seen:
                # An ended run has no news to wait for; the client still waits its `wait`
                # (answered at once, it would ask again at once).
                await asyncio.sleep(step)
            elif await follower.wait_change(seen, step):
                try:
                    document, seen = await asyncio.wait_for(follower.status(), left)
                except TimeoutError:
                    break
    return document


async def event_stream(
    gateway: TemporalGateway,
    followers: Followers,
    kickoff_id: str,
    last_id: str | None,
) -> AsyncIterator[str]:
    """The run's events as server-sent events, from after `last_id`, until its last (or
    until the run has ended some other way, say terminated in Temporal). A client that leaves
    ends it through its response (api/event_stream_response.py), which cancels it."""
    async with followers.watching(kickoff_id) as follower:
        while True:
            seen, ended = follower.generation, follower.finished
            try:
                page = await gateway.events(kickoff_id, last_id)
            except RunNotAnswering as err:
                yield f": waiting for the run to answer ({err})\n\n"
                if ended:
                    return
                await follower.wait_change(seen, CONNECTED_CHECK_SECONDS)
                continue
            except Failure as err:
                yield f"event: error\ndata: {json.dumps({'message': err.message})}\n\n"
                return
            for item in page.events:
                last_id = item.id
                data = json.dumps(item.data, ensure_ascii=False)
                yield f"id: {item.id}\nevent: {item.event}\ndata: {data}\n\n"
            if page.finished or ended:
                return
            while not await follower.wait_change(seen, CONNECTED_CHECK_SECONDS):
                if follower.finished:
                    break
