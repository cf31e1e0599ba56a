"""The API's Prometheus metrics: HTTP requests by route template and status (a pure ASGI
middleware, outermost, so refusals before routing count too) and the runs waiting for input
(api/waiting.py), in a registry of the app's own; GET /metrics is in api/routes/service.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry
from starlette.routing import BaseRoute, Match

from api.gateway import TemporalGateway
from api.waiting import WaitingRuns
from crew_hitl import metrics as m
from crew_hitl.instruments import counter, exposition, histogram
from crew_hitl.spec import CrewRegistry

UNMATCHED = "(unmatched)"
# No answer started: the client went away first (nginx's number for it), or the app failed.
CLIENT_GONE, FAILED = 499, 500
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "OTHER"


@dataclass
class ApiMetrics:
    registry: CollectorRegistry
    http: HttpMetrics
    waiting: WaitingRuns

    @classmethod
    def create(cls, gateway: TemporalGateway, crews: CrewRegistry) -> ApiMetrics:
        registry = CollectorRegistry()
        waiting = WaitingRuns(gateway, crews)
        registry.register(waiting)
        return cls(registry, HttpMetrics(registry), waiting)

    async def scrape(self) -> bytes:
        await self.waiting.refresh()
        return exposition(self.registry)


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._requests = counter(m.HTTP_REQUESTS, registry)
        self._duration = histogram(m.HTTP_DURATION, registry)
        # Children by label values: .labels() takes a lock and builds a key on every call.
        self._counted: dict[tuple[str, str, int], Any] = {}
        self._timed: dict[tuple[str, str], Any] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else OTHER_METHOD
        counted = self._counted.get((method, route, status))
        if counted is None:
            counted = self._requests.labels(method, route, str(status))
            self._counted[(method, route, status)] = counted
        counted.inc()
        timed = self._timed.get((method, route))
        if timed is None:
            timed = self._timed[(method, route)] = self._duration.labels(method, route)
        timed.observe(seconds)


def route_template(scope: dict[str, Any], routes: Sequence[BaseRoute]) -> str:
    """The template of the route that answered (`/status/{kickoff_id}`), never the path. A
    request refused before routing (401, 413) is matched here, against the routers' routes."""
    route = scope.get("route")
    if route is None:
        route = next((r for r in routes if r.matches(scope)[0] is not Match.NONE), None)
    return getattr(route, "path_format", None) or UNMATCHED


class RequestMetrics:
    """Pure ASGI middleware: counts and times every HTTP request."""

    def __init__(self, app: Any, metrics: HttpMetrics, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: int | None = None
        unanswered = FAILED

        async def send_noting_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        except asyncio.CancelledError:
            unanswered = CLIENT_GONE
            raise
        finally:
            route = route_template(scope, self.routes)
            seconds = time.perf_counter() - started
            self.metrics.observe(scope["method"], route, status or unanswered, seconds)
