"""Following a run for a client: the long-poll of GET /status?wait= and the server-sent events
of GET /events. Both wait on the run's follower (api/followers.py), which wakes them only
when the run's history grows: a client of a run where nothing happens costs no query."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from api.followers import Followers
from api.gateway import RunNotAnswering, TemporalGateway
from crew_hitl.contracts.status import StatusDocument

# How often a waiting client checks whether it is still connected (a local check, no query;
# every second, 1,000 waiting clients cost the API a third of a core).
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
    long-poll (with `since`) reads the status its run's follower holds, asked once per
    change for every client; a plain GET asks the run."""
    if since is None:
        return await gateway.status(kickoff_id)
    deadline = time.monotonic() + wait
    async with followers.watching(kickoff_id) as follower:
        document = await follower.status()
        while waiting_for_news(document, since):
            left = deadline - time.monotonic()
            if left <= 0 or await disconnected():
                break
            seen = follower.generation
            if await follower.wait_change(seen, min(left, CONNECTED_CHECK_SECONDS)):
                document = await follower.status()
            elif follower.finished:
                return await follower.status()
    return document


def waiting_for_news(document: StatusDocument, since: int | None) -> bool:
    """A degraded answer (no worker answered) waits too: answered at once, every client
    would ask again at once, and the flood would keep the worker from answering."""
    return since is not None and document.version <= since


async def event_stream(
    gateway: TemporalGateway,
    followers: Followers,
    kickoff_id: str,
    last_id: str | None,
    disconnected: Disconnected,
) -> AsyncIterator[str]:
    """The run's events as server-sent events, from after `last_id`, until its last."""
    async with followers.watching(kickoff_id) as follower:
        while not await disconnected():
            seen = follower.generation
            try:
                page = await gateway.events(kickoff_id, last_id)
            except RunNotAnswering as err:
                yield f": waiting for the run to answer ({err})\n\n"
                await follower.wait_change(seen, CONNECTED_CHECK_SECONDS)
                continue
            for item in page.events:
                last_id = item.id
                data = json.dumps(item.data, ensure_ascii=False)
                yield f"id: {item.id}\nevent: {item.event}\ndata: {data}\n\n"
            if page.finished:
                return
            while not await follower.wait_change(seen, CONNECTED_CHECK_SECONDS):
                if follower.finished or await disconnected():
                    break
