"""One follower per watched run, shared by all its watchers (long-polls of GET /status and
GET /events streams). The follower holds one long-poll of the run's history open on the
Temporal server; only when the history grows does it wake the watchers, and the first of them
to ask gets the run's status for all (one query per change, not one per watcher per
interval). A run where nothing happens costs its watchers nothing but their connections and
the follower one history call about every 20 seconds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from api.failures import Failure, NotFound
from api.gateway import TemporalGateway
from crew_hitl.contracts.status import StatusDocument

log = logging.getLogger("crew_hitl.api")

# A history long-poll's own limit: the server answers after about 20 s without news.
LONG_POLL_SECONDS = 30.0
# How long a follower outlives its last watcher (a long-polling client asks again at once).
LINGER_SECONDS = 10.0
RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 30.0
# How long a degraded status (no worker answered in time) serves the run's watchers.
DEGRADED_SECONDS = 2.0


class Follower:
    def __init__(self, gateway: TemporalGateway, kickoff_id: str) -> None:
        self._gateway = gateway
        self.kickoff_id = kickoff_id
        self.generation = 0  # bumped whenever the run's history grows (or it ends)
        self.finished = False
        self.watchers = 0
        # Set, and replaced, at each change. An Event, not a Condition: a watcher whose client
        # went away is cancelled while it waits, and cancelled again (as Starlette's cancel
        # scope did at each turn) a Condition's wait gave its lock back before it had it again
        # ("Lock is not acquired", an ASGI error logged with its traceback).
        self._changed = asyncio.Event()
        self._status: StatusDocument | None = None
        self._status_generation = -1
        self._status_expires = 0.0
        self._asking: asyncio.Future[tuple[StatusDocument, int]] | None = None
        self._asking_generation = -1
        self._task: asyncio.Task[None] | None = None
        self._linger: asyncio.TimerHandle | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._follow(), name=f"follow {self.kickoff_id}")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def hold(self) -> None:
        """One more watcher."""
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        self.watchers += 1

    def release(self, retire: Callable[[Follower], None]) -> None:
        """One watcher fewer; `retire` it LINGER_SECONDS after the last one left."""
        self.watchers -= 1
        if self.watchers == 0:
            loop = asyncio.get_running_loop()
            self._linger = loop.call_later(LINGER_SECONDS, retire, self)

    async def wait_change(self, seen: int, timeout: float) -> bool:
        """Whether the history grew past generation `seen` within `timeout` seconds."""
        if self.generation <= seen and not self.finished:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._changed.wait()
        return self.generation > seen

    async def status(self) -> tuple[StatusDocument, int]:
        """The run's status as of the latest change, and the generation it was asked at: asked
        once per change for everyone, one query at a time shared by all who ask meanwhile (a
        degraded answer, given when no worker answered, is kept DEGRADED_SECONDS)."""
        generation = self.generation
        fresh = self._status_expires == 0 or time.monotonic() < self._status_expires
        if self._status is not None and self._status_generation == generation and fresh:
            return self._status, generation
        if self._asking is None or self._asking_generation != generation:
            self._asking = asyncio.ensure_future(self._ask(generation))
            self._asking_generation = generation
        return await asyncio.shield(self._asking)

    async def _ask(self, generation: int) -> tuple[StatusDocument, int]:
        try:
            document = await self._gateway.status(self.kickoff_id)
        except BaseException:
            self._asking = None  # the next caller asks again
            raise
        if generation >= self._status_generation:
            self._status, self._status_generation = document, generation
            self._status_expires = time.monotonic() + DEGRADED_SECONDS if document.degraded else 0
        return document, generation

    def _bump(self, finished: bool = False) -> None:
        self.generation += 1
        self.finished = self.finished or finished
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _follow(self) -> None:
        token = b""
        pause = RETRY_SECONDS
        while True:
            try:
                page = await self._gateway.history_page(self.kickoff_id, token, LONG_POLL_SECONDS)
            except NotFound:
                if await self._ended():
                    self._bump(finished=True)
                    return
                token = b""  # a page token the server no longer takes: from the start
                continue
            except Exception as err:  # Temporal unavailable, or anything else: try again
                log.info("following %s: %s; trying again in %.0f s", self.kickoff_id, err, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, MAX_RETRY_SECONDS)
                continue
            pause = RETRY_SECONDS
            if page.events:
                self._bump()
            if page.closed or not page.next_page_token:
                if await self._ended():
                    self._bump(finished=True)
                    return
                # Continued as new: follow the run that goes on, from its start.
                token = b""
                if not page.closed:
                    await asyncio.sleep(RETRY_SECONDS)
                continue
            token = page.next_page_token

    async def _ended(self) -> bool:
        """Whether the workflow id's current run is closed or gone (after a close event: a run
        that continued as new is still going). Asks until Temporal answers."""
        pause = RETRY_SECONDS
        while True:
            try:
                info = await self._gateway.describe(self.kickoff_id)
            except NotFound:
                return True
            except Failure as err:
                log.info("following %s: %s; asking again in %.0f s", self.kickoff_id, err, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, MAX_RETRY_SECONDS)
                continue
            return info.closed


class Followers:
    """The API's followers, by run id."""

    def __init__(self, gateway: TemporalGateway) -> None:
        self._gateway = gateway
        self._followers: dict[str, Follower] = {}

    def __len__(self) -> int:
        return len(self._followers)

    @asynccontextmanager
    async def watching(self, kickoff_id: str) -> AsyncIterator[Follower]:
        follower = self._followers.get(kickoff_id)
        if follower is None:
            follower = self._followers[kickoff_id] = Follower(self._gateway, kickoff_id)
            follower.start()
        follower.hold()
        try:
            yield follower
        finally:
            follower.release(self._retire)

    def stop_all(self) -> None:
        for follower in self._followers.values():
            follower.stop()
        self._followers.clear()

    def _retire(self, follower: Follower) -> None:
        if follower.watchers == 0 and self._followers.get(follower.kickoff_id) is follower:
            del self._followers[follower.kickoff_id]
            follower.stop()
