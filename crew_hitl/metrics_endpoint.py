"""The worker's GET /metrics: its registry (the activities' instruments, the run metrics the
workflow records, the Temporal SDK's), the SDK's buffer drained before each answer and every
second between them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CollectorRegistry

from crew_hitl.instruments import CONTENT_TYPE, exposition, scrape_allowed
from crew_hitl.sdk_metrics import SdkMetrics

log = logging.getLogger("crew_hitl.worker")
DRAIN_SECONDS = 1.0
NO_TOKEN = "a valid 'Authorization: Bearer <token>' header is required"
UNAUTHORIZED = json.dumps({"error": "unauthorized", "message": NO_TOKEN, "detail": NO_TOKEN})


class MetricsEndpoint:
    def __init__(self, registry: CollectorRegistry, sdk: SdkMetrics, token: str) -> None:
        self._registry = registry
        self._sdk = sdk
        self._token = token

    def scrape(self) -> bytes:
        self._sdk.drain()
        return exposition(self._registry)

    async def _metrics(self, request: web.Request) -> web.Response:
        if not scrape_allowed(self._token, request.headers.get("Authorization", "")):
            return web.Response(
                status=401,
                text=UNAUTHORIZED,
                content_type="application/json",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return web.Response(body=self.scrape(), headers={"Content-Type": CONTENT_TYPE})

    @contextlib.asynccontextmanager
    async def served(self, host: str, port: int) -> AsyncIterator[None]:
        """Serve GET /metrics on host:port while inside. A port that is taken is logged and
        the worker runs on without its endpoint: runs matter more than their metrics."""
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as err:
            log.error("worker metrics not served on %s:%d: %s", host, port, err)
        else:
            log.info("worker metrics at http://%s:%d/metrics", host, port)
        drainer = asyncio.create_task(self._drain_regularly())
        try:
            yield
        finally:
            drainer.cancel()
            await runner.cleanup()

    async def _drain_regularly(self) -> None:
        """The buffer holds a bounded number of updates: it is emptied between scrapes too."""
        while True:
            await asyncio.sleep(DRAIN_SECONDS)
            self._sdk.drain()
