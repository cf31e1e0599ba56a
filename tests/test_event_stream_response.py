"""GET /events' response: it ends with its stream or when the client leaves, and a stream whose
client left leaves no reference cycle behind (Starlette's StreamingResponse left ~100 objects
per closed stream to the cyclic collector)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import pytest
from starlette.types import Message

from api.event_stream_response import EventStreamResponse

SCOPE = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}}


class Client:
    """The ASGI side of one client: takes what is sent; leaves after `leave_after` bodies."""

    def __init__(self, leave_after: int | None) -> None:
        self.bodies: list[bytes] = []
        self.leave_after = leave_after
        self.left = asyncio.Event()

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.body":
            self.bodies.append(message["body"])
            if len(self.bodies) == self.leave_after:
                self.left.set()

    async def receive(self) -> Message:
        await self.left.wait()
        return {"type": "http.disconnect"}


@contextmanager
def saved_garbage() -> Iterator[list[object]]:
    """The cyclic garbage made inside the block. Entered in the test's body, not in a fixture:
    pytest drops the previous test's failure (sys.last_value, in a cycle with its traceback)
    between fixture setup and the call, which once put a stranger's exception in this list."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield gc.garbage
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


async def endless(closed: list[bool]) -> AsyncIterator[str]:
    try:
        yield "event: one\n\n"
        await asyncio.Event().wait()
    finally:
        closed.append(True)


def test_the_stream_ends_when_the_client_leaves_and_leaves_no_cycle():
    closed: list[bool] = []
    client = Client(leave_after=1)
    with saved_garbage() as garbage:
        asyncio.run(EventStreamResponse(endless(closed))(SCOPE, client.receive, client.send))
        gc.collect()
        left = [o for o in garbage if isinstance(o, (EventStreamResponse, BaseException))]
    assert client.bodies == [b"event: one\n\n"]
    assert closed == [True]
    assert left == []


def test_a_finished_stream_ends_the_response():
    async def two() -> AsyncIterator[str]:
        yield "event: a\n\n"
        yield "event: b\n\n"

    client = Client(leave_after=None)
    asyncio.run(EventStreamResponse(two())(SCOPE, client.receive, client.send))
    assert client.bodies == [b"event: a\n\n", b"event: b\n\n", b""]


def test_a_failing_stream_fails_the_request():
    async def failing() -> AsyncIterator[str]:
        yield "event: a\n\n"
        raise RuntimeError("the stream broke")

    client = Client(leave_after=None)
    with pytest.raises(RuntimeError, match="the stream broke"):
        asyncio.run(EventStreamResponse(failing())(SCOPE, client.receive, client.send))
