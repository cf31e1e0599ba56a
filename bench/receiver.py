"""An asyncio webhook receiver on loopback that timestamps each human-input request and each
run's end (`crew_completed`)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

# The key of a run's `crew_completed` webhook, beside its rounds 1, 2, ...
DONE = 0


class Receiver:
    def __init__(self) -> None:
        self._waiters: dict[tuple[str, int], asyncio.Future[float]] = {}
        self._early: dict[tuple[str, int], float] = {}
        self.counts: dict[str, int] = defaultdict(int)
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}/hook"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024)

    async def wait(self, kickoff_id: str, round_number: int, timeout: float = 60) -> float:
        """The monotonic time the webhook for this run and round arrived."""
        key = (kickoff_id, round_number)
        if key in self._early:
            return self._early.pop(key)
        future = self._waiters.setdefault(key, asyncio.get_running_loop().create_future())
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._waiters.pop(key, None)

    async def wait_done(self, kickoff_id: str, timeout: float = 300) -> float:
        """The monotonic time the run's `crew_completed` webhook arrived."""
        return await self.wait(kickoff_id, DONE, timeout)

    def _arrived(self, body: dict) -> None:
        event = body.get("event", "?")
        self.counts[event] += 1
        run_id = body.get("execution_id") or body.get("kickoff_id")
        if event == "human_input_requested":
            key = (run_id, body["round"])
        elif event == "crew_completed":
            key = (run_id, DONE)
        else:
            return
        now = time.monotonic()
        future = self._waiters.get(key)
        if future is not None and not future.done():
            future.set_result(now)
        else:
            self._early[key] = now

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_posts(reader, writer, lambda _path, _headers, body: self._arrived(body))


Arrived = Callable[[str, dict[str, str], dict[str, Any]], None]


async def serve_posts(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, arrived: Arrived
) -> None:
    """Answer 200 to each JSON POST of a keep-alive connection, after handing over its path,
    headers (lower-case names) and body."""
    try:
        while True:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            request_line, *lines = head.split("\r\n")
            headers = {}
            for line in lines:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length") or 0))
            arrived(request_line.split()[1], headers, json.loads(body))
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()
