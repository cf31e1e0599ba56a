"""The API (uvicorn, real HTTP on loopback) and a worker served inside the test process, on a
running stack's Temporal server, so a test can see what happens inside them (their spans).
Both run on one event loop in a thread of their own; the test talks to the API over HTTP."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Coroutine, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
from temporalio.client import Client

from activities.metrics import ActivityMetrics
from activities.outbound import guarded_session
from api.app import create_app
from crew_hitl.settings import Settings
from crew_hitl.tracing import Tracing
from runner.stack import free_port
from support.constants import ROOT
from worker import build_worker, connect

T = TypeVar("T")
START_TIMEOUT = 30.0


def in_process_settings(settings: Settings, tmp: Path) -> Settings:
    """The stack's settings for services of the test's own: their own task queue (the stack's
    worker never takes their runs), API port, and crews (the offline research crew only, so
    the worker prepares no CrewAI environment in the test process)."""
    crews = tmp / "crews"
    shutil.copytree(ROOT / "crews" / "research", crews / "research")
    return settings.model_copy(
        update={
            "task_queue": f"crew-runs-{tmp.name}",
            "api_port": free_port(),
            "crews_dir": crews,
        }
    )


@dataclass
class InProcess:
    settings: Settings
    loop: asyncio.AbstractEventLoop
    worker_client: Client | None = None
    _exits: AsyncExitStack = field(default_factory=AsyncExitStack)

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = START_TIMEOUT) -> T:
        """Runs a coroutine on the services' loop and waits for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def start(self, api_tracing: Tracing | None, worker_tracing: Tracing | None) -> None:
        settings = self.settings
        self.worker_client = await connect(settings, tracing=worker_tracing)
        http = await self._exits.enter_async_context(guarded_session(settings.webhook_policy()))
        models = await self._exits.enter_async_context(httpx.AsyncClient())
        worker = build_worker(self.worker_client, settings, http, models, ActivityMetrics.create())
        await self._exits.enter_async_context(worker)
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings, api_tracing),
                host=settings.api_host,
                port=settings.api_port,
                log_level="warning",
            )
        )
        serving = asyncio.create_task(server.serve())
        self._exits.push_async_callback(stop_server, server, serving)
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if serving.done() or time.monotonic() > deadline:
                raise RuntimeError(f"the in-process API did not start on {settings.api_url}")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        await self._exits.aclose()


async def stop_server(server: uvicorn.Server, serving: asyncio.Task[None]) -> None:
    server.should_exit = True
    await serving


@contextmanager
def serve_in_process(
    settings: Settings, api_tracing: Tracing | None, worker_tracing: Tracing | None
) -> Iterator[InProcess]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="in-process services", daemon=True)
    thread.start()
    services = InProcess(settings, loop)
    try:
        services.run(services.start(api_tracing, worker_tracing))
        yield services
    finally:
        services.run(services.stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
