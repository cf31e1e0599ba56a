"""The HTTP API, speaking the deployed-crew API (/kickoff, /resume, /status, ...), with the
reviewer's inbox mounted beside it. One Temporal client per process, connected at start-up."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import inbox
from api.dependencies import Services
from api.errors import install_error_handlers
from api.limits import BodyLimit
from api.metrics import RequestMetrics
from api.routes import kickoff, resume, runs, service
from api.token_first import TokenFirst
from api.traces import telemetry_config
from crew_hitl.logs import configure_logging
from crew_hitl.settings import Settings
from crew_hitl.tracing import API_SERVICE, Tracing, start_tracing
from inbox.renewal import SessionRenewal

log = logging.getLogger("crew_hitl.api")


def create_app(settings: Settings | None = None, tracing: Tracing | None = None) -> FastAPI:
    """The app; with `tracing`, its requests and Temporal calls are traced."""
    services = Services.from_settings(settings or Settings.from_env(), tracing)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await services.gateway.try_connect()
        yield
        services.followers.stop_all()

    app = FastAPI(
        title="crew-hitl",
        version="0.1.0",
        lifespan=lifespan,
        telemetry=telemetry_config(tracing),
    )
    app.state.services = services
    for name, error in services.crews.errors.items():
        log.error("crew %s not loaded: %s", name, error)
    install_error_handlers(app)
    routers = (
        *(module.router for module in (service, kickoff, resume, runs)),
        inbox.router,
        runs.older_status,
    )
    for router in routers:
        app.include_router(router)
    app.add_middleware(SessionRenewal)
    app.add_middleware(BodyLimit, max_bytes=services.settings.max_request_bytes)
    # Added last, so it runs first: no body is read for a caller without a token.
    app.add_middleware(TokenFirst, settings=services.settings)
    # Outermost: the refusals above are counted too.
    routes = [route for router in routers for route in router.routes]
    app.add_middleware(RequestMetrics, metrics=services.metrics.http, routes=routes)
    return app


def main() -> None:
    import uvicorn

    settings = Settings.from_env()
    configure_logging(settings.log_level)
    tracing = start_tracing(API_SERVICE)
    try:
        uvicorn.run(
            create_app(settings, tracing),
            host=settings.api_host,
            port=settings.api_port,
            # Longer than clients and proxies keep an idle connection (httpx 5 s, nginx 60 s):
            # a server closing first races the client's next request on that connection.
            timeout_keep_alive=math.ceil(settings.api_keep_alive),
            limit_concurrency=settings.api_max_connections,
            log_level=settings.log_level.lower(),
        )
    finally:
        if tracing is not None:
            tracing.shutdown()


if __name__ == "__main__":
    main()
