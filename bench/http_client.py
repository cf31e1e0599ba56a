"""A lean HTTP/1.1 keep-alive client for driving the API under load, so that the load
generator's own CPU (on the same two cores) does not set the figures."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

# The API closes a keep-alive connection idle for CREW_HITL_API_KEEP_ALIVE (75 s); drop
# ours well before that.
MAX_IDLE_SECONDS = 3.0


class HttpError(Exception):
    pass


class LeanClient:
    def __init__(self, host: str, port: int, token: str, size: int = 100) -> None:
        self._host, self._port = host, port
        self._auth = f"Authorization: Bearer {token}\r\n".encode()
        self._idle: list[tuple[float, asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._slots = asyncio.Semaphore(size)

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        payload = json.dumps(body).encode() if body is not None else b""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self._host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        ).encode()
        async with self._slots:
            reader, writer = await self._connection()
            writer.write(head + self._auth + b"\r\n" + payload)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            data = await reader.readexactly(length)
            self._idle.append((time.monotonic(), reader, writer))
        status = int(status_line.split()[1])
        return status, json.loads(data) if data else None

    async def post(self, path: str, body: Any) -> Any:
        status, data = await self.request("POST", path, body)
        if status != 200:
            raise HttpError(f"POST {path}: HTTP {status} {data}")
        return data

    async def get(self, path: str) -> Any:
        status, data = await self.request("GET", path)
        if status != 200:
            raise HttpError(f"GET {path}: HTTP {status} {data}")
        return data

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while self._idle:
            since, reader, writer = self._idle.pop()
            if time.monotonic() - since < MAX_IDLE_SECONDS:
                return reader, writer
            writer.close()
        return await asyncio.open_connection(self._host, self._port)

    async def close(self) -> None:
        for _, _, writer in self._idle:
            writer.close()
        self._idle.clear()
