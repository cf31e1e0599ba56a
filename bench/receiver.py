"""An asyncio webhook receiver on loopback that timestamps each human-input request."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any


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

    def _arrived(self, body: dict) -> None:
        self.counts[body.get("event", "?")] += 1
        if body.get("event") != "human_input_requested":
            return
        key = (body["execution_id"], body["round"])
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
