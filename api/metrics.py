"""The API's Prometheus metrics: HTTP requests by route template and status (a pure ASGI
middleware, outermost, so refusals before routing count too), the runs waiting for input
(api/waiting.py), and GET /metrics, open unless CREW_HITL_METRICS_TOKEN is set (the API's own
tokens do not open it: a scraper needs no reviewer's token)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry
from starlette.routing import BaseRoute, Match

from api.failures import NotSignedIn
from api.gateway import TemporalGateway
from api.waiting import WaitingRuns
from crew_hitl import metrics as m
from crew_hitl.instruments import CONTENT_TYPE, counter, exposition, histogram, scrape_allowed
from crew_hitl.spec import CrewRegistry

UNMATCHED = "(unmatched)"
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
        status = 500  # unless an answer starts

        async def send_noting_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            route = route_template(scope, self.routes)
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - started)


router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    services = request.app.state.services
    authorization = request.headers.get("authorization", "")
    if not scrape_allowed(services.settings.metrics_token, authorization):
        raise NotSignedIn("a valid 'Authorization: Bearer <metrics token>' header is required")
    body = await services.metrics.scrape()
    return Response(body, headers={"Content-Type": CONTENT_TYPE})
