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


class Follower:
    def __init__(self, gateway: TemporalGateway, kickoff_id: str) -> None:
        self._gateway = gateway
        self.kickoff_id = kickoff_id
        self.generation = 0  # bumped whenever the run's history grows (or it ends)
        self.finished = False
        self.watchers = 0
        self._changed = asyncio.Condition()
        self._status: StatusDocument | None = None
        self._status_generation = -1
        self._status_lock = asyncio.Lock()
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
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self.generation > seen or self.finished),
                    timeout,
                )
        return self.generation > seen

    async def status(self) -> StatusDocument:
        """The run's status as of the latest change: asked once per change, for everyone (a
        degraded answer, given when no worker answered, is not kept)."""
        async with self._status_lock:
            if self._status is None or self._status_generation != self.generation:
                generation = self.generation
                self._status = await self._gateway.status(self.kickoff_id)
                self._status_generation = -1 if self._status.degraded else generation
            return self._status

    async def _bump(self, finished: bool = False) -> None:
        async with self._changed:
            self.generation += 1
            self.finished = self.finished or finished
            self._changed.notify_all()

    async def _follow(self) -> None:
        token = b""
        while True:
            try:
                page = await self._gateway.history_page(self.kickoff_id, token, LONG_POLL_SECONDS)
            except NotFound:
                await self._bump(finished=True)
                return
            except (Failure, TimeoutError) as err:
                log.info("following %s: %s; trying again", self.kickoff_id, err)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if page.events:
                await self._bump()
            if page.closed or not page.next_page_token:
                if await self._ended():
                    await self._bump(finished=True)
                    return
                # Continued as new: follow the run that goes on, from its start.
                token = b""
                if not page.closed:
                    await asyncio.sleep(RETRY_SECONDS)
                continue
            token = page.next_page_token

    async def _ended(self) -> bool:
        """Whether the workflow id's current run is closed (after a close event: a run that
        continued as new is still going)."""
        try:
            info = await self._gateway.describe(self.kickoff_id)
        except Failure:
            return True
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

    def _retire(self, follower: Follower) -> None:
        if follower.watchers == 0 and self._followers.get(follower.kickoff_id) is follower:
            del self._followers[follower.kickoff_id]
            follower.stop()
