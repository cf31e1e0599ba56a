"""The HTTP API, speaking the deployed-crew API (/kickoff, /resume, /status, ...)."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from api.auth import require_token
from api.errors import ApiError, error_responses, install_error_handlers
from api.idempotency import idempotency_key, key_parameter, kickoff_id_for
from api.limits import BodyLimit
from api.listing import (
    MAX_PAGE_SIZE,
    ExecutionsPage,
    RunFilter,
    add_statuses,
    list_runs,
    summary,
)
from api.resume import resume_run
from api.runs import (
    RunQueryError,
    describe_run,
    query_events,
    query_status,
    workers_polling,
)
from api.temporal import TemporalConnection
from api.webhook_fields import check_webhook_urls, seal_webhooks
from api.webhook_guard import WebhookGuard
from crew_hitl import WORKFLOW_TYPE
from crew_hitl import search_attributes as sa
from crew_hitl.contracts.history import CrewRunInput, RetrySettings
from crew_hitl.contracts.http import (
    HealthAnswer,
    InputsResponse,
    KickoffRequest,
    KickoffResponse,
    ResumeRequest,
    ResumeResponse,
    StopResponse,
)
from crew_hitl.contracts.status import RunState, StatusDocument
from crew_hitl.secrets import SecretBox, load_or_create_key
from crew_hitl.settings import Settings
from crew_hitl.spec import CrewRegistry, CrewSpec
from crew_hitl.targets import sealed_target
from crew_hitl.text import run_summary
from inbox.router import install_inbox

log = logging.getLogger("crew_hitl.api")
MAX_WAIT_SECONDS = 60.0
POLL_SECONDS = 0.2
Caller = Annotated[str, Depends(require_token)]
# Headers the routes read from the request themselves, declared for the OpenAPI document.
IDEMPOTENT_KICKOFF = key_parameter(
    "Kickoffs with the same key (and reviewer name) start one run and share its kickoff_id"
)
IDEMPOTENT_RESUME = key_parameter(
    "Resumes with the same key (and reviewer name) are one decision: applied once, answered alike"
)
LAST_EVENT_ID: dict[str, Any] = {
    "name": "Last-Event-ID",
    "in": "header",
    "description": "Only the events after the one with this id",
    "schema": {"type": "string"},
}
EVENT_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-sent events (`id:`, `event:`, `data:` lines)",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await app.state.temporal.try_connect()
        yield

    app = FastAPI(title="crew-hitl", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.temporal = TemporalConnection(settings)
    app.state.box = SecretBox(load_or_create_key(settings.secret_key, settings.data_dir))
    app.state.crews = CrewRegistry.load(settings.crews_dir)
    app.state.guard = WebhookGuard.from_setting(settings.webhook_allow)
    for name, error in app.state.crews.errors.items():
        log.error("crew %s not loaded: %s", name, error)
    install_error_handlers(app)
    install_routes(app)
    install_inbox(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    return app


async def client_of(request: Request) -> Client:
    return await request.app.state.temporal.client()


def crew_named(request: Request, name: str | None) -> CrewSpec:
    registry: CrewRegistry = request.app.state.crews
    name = name or request.app.state.settings.default_crew
    if name in registry.errors:
        raise ApiError(404, f"crew {name!r} could not be loaded: {registry.errors[name]}")
    if name not in registry.crews:
        known = ", ".join(sorted(registry.crews)) or "none"
        raise ApiError(404, f"no crew named {name!r} (known: {known})")
    return registry.crews[name]


def run_input(
    request: Request, body: KickoffRequest, crew: CrewSpec, kickoff_id: str
) -> CrewRunInput:
    settings: Settings = request.app.state.settings
    box: SecretBox = request.app.state.box
    webhooks = seal_webhooks(box, body)
    if body.humanInputWebhook is not None:
        auth = body.humanInputWebhook.authentication
        webhooks.human_input = sealed_target(
            box, str(body.humanInputWebhook.url), auth.model_dump() if auth else None
        )
    return CrewRunInput(
        kickoff_id=kickoff_id,
        crew=crew.interpolated(body.inputs),
        inputs=body.inputs,
        meta=body.meta,
        webhooks=webhooks,
        resume_url=f"{settings.resume_base_url}/resume",
        webhook_retry=RetrySettings(
            schedule_seconds=settings.retry_schedule(),
            timeout_seconds=settings.webhook_timeout,
        ),
        heartbeat_timeout_seconds=settings.task_heartbeat_timeout,
        force_continue_after_events=settings.force_continue_after_events,
    )


async def start_run(client: Client, request: Request, run: CrewRunInput, crew: CrewSpec) -> None:
    """Start the run; a kickoff id already used (same Idempotency-Key) raises
    WorkflowAlreadyStartedError."""
    await client.start_workflow(
        WORKFLOW_TYPE,
        run,
        id=run.kickoff_id,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        task_queue=request.app.state.settings.task_queue,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(sa.CREW_NAME, crew.name),
                SearchAttributePair(sa.CREW_STATE, RunState.RUNNING.value),
            ]
        ),
        static_summary=run_summary(crew.name, run.inputs),
    )


async def event_stream(
    request: Request, client: Client, kickoff_id: str, last_id: str | None
) -> AsyncIterator[str]:
    timeout = request.app.state.settings.status_query_timeout
    while not await request.is_disconnected():
        try:
            page = await query_events(client, kickoff_id, last_id, timeout)
        except RunQueryError as err:
            yield f": waiting for the run to answer ({err})\n\n"
            await asyncio.sleep(1.0)
            continue
        for item in page.events:
            last_id = item.id
            data = json.dumps(item.data, ensure_ascii=False)
            yield f"id: {item.id}\nevent: {item.event}\ndata: {data}\n\n"
        if page.finished:
            return
        await asyncio.sleep(POLL_SECONDS)


def install_routes(app: FastAPI) -> None:
    @app.get("/")
    async def root() -> dict[str, str]:
        return {"status": "healthy"}

    @app.get("/health", responses={200: {"model": HealthAnswer}, 503: {"model": HealthAnswer}})
    async def health(request: Request) -> JSONResponse:
        settings: Settings = request.app.state.settings
        try:
            pollers = await workers_polling(await client_of(request), settings.task_queue)
        except (RPCError, ApiError) as err:
            message = f"Temporal at {settings.temporal_address} does not answer: {err}"
            return JSONResponse(
                {"status": "unhealthy", "temporal": "down", "message": message}, status_code=503
            )
        if pollers == 0:
            message = f"no worker polls the task queue {settings.task_queue!r}"
            return JSONResponse(
                {"status": "unhealthy", "temporal": "up", "worker": "missing", "message": message},
                status_code=503,
            )
        return JSONResponse({"status": "healthy", "temporal": "up", "workers": pollers})

    @app.get("/inputs", responses=error_responses(401, 404, 422))
    async def inputs(request: Request, _: Caller, crew: str | None = None) -> InputsResponse:
        return InputsResponse(inputs=crew_named(request, crew).placeholders())

    @app.post(
        "/kickoff",
        responses=error_responses(400, 401, 404, 413, 422, 503),
        openapi_extra={"parameters": [IDEMPOTENT_KICKOFF]},
    )
    async def kickoff(request: Request, body: KickoffRequest, caller: Caller) -> KickoffResponse:
        crew = crew_named(request, body.crew)
        missing = crew.missing_inputs(body.inputs)
        if missing:
            raise ApiError(
                422,
                f"missing crew inputs: {', '.join(missing)}",
                error="missing_inputs",
                missing=missing,
            )
        await check_webhook_urls(request, body)
        kickoff_id = kickoff_id_for(caller, idempotency_key(request))
        run = run_input(request, body, crew, kickoff_id)
        client = await client_of(request)
        try:
            await start_run(client, request, run, crew)
        except WorkflowAlreadyStartedError:
            # A retried kickoff with the same Idempotency-Key: the run it already started.
            log.info("kickoff %s: repeated Idempotency-Key, same run", run.kickoff_id)
            return KickoffResponse(kickoff_id=run.kickoff_id)
        log.info("kickoff %s: crew %s", run.kickoff_id, crew.name)
        return KickoffResponse(kickoff_id=run.kickoff_id)

    @app.post(
        "/resume",
        responses=error_responses(400, 401, 404, 409, 413, 422, 503),
        openapi_extra={"parameters": [IDEMPOTENT_RESUME]},
    )
    async def resume(request: Request, body: ResumeRequest, caller: Caller) -> ResumeResponse:
        return await resume_run(request, body, caller, idempotency_key(request))

    @app.get("/executions", responses=error_responses(401, 422, 503))
    async def executions(
        request: Request,
        _: Caller,
        state: str | None = None,
        crew: str | None = None,
        task: str | None = None,
        page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
        next_page_token: str | None = None,
    ) -> ExecutionsPage:
        """A page of runs from Temporal's visibility store, newest first."""
        run_filter = RunFilter.parse(state, crew, task)
        client = await client_of(request)
        page = await list_runs(client, run_filter, page_size, next_page_token)
        await add_statuses(client, page.runs)
        return ExecutionsPage(
            executions=[summary(run) for run in page.runs],
            next_page_token=page.next_page_token,
        )

    @app.get("/status/{kickoff_id:path}", responses=error_responses(401, 404, 422, 503))
    async def status(
        request: Request,
        kickoff_id: str,
        _: Caller,
        wait: Annotated[float, Query(ge=0, le=MAX_WAIT_SECONDS)] = 0,
        since: Annotated[int | None, Query(ge=0)] = None,
    ) -> StatusDocument:
        """With `wait`, a long-poll: answers once the run's `version` passes `since` (or at
        the timeout, unchanged)."""
        client = await client_of(request)
        timeout = request.app.state.settings.status_query_timeout
        document = await query_status(client, kickoff_id, timeout)
        deadline = time.monotonic() + wait
        while since is not None and document.version <= since and document.degraded is None:
            if time.monotonic() >= deadline or await request.is_disconnected():
                break
            await asyncio.sleep(POLL_SECONDS)
            document = await query_status(client, kickoff_id, timeout)
        return document

    @app.get(
        "/events/{kickoff_id:path}",
        response_class=StreamingResponse,
        responses={**EVENT_STREAM, **error_responses(401, 404, 422, 503)},
        openapi_extra={"parameters": [LAST_EVENT_ID]},
    )
    async def events(request: Request, kickoff_id: str, _: Caller) -> StreamingResponse:
        """Server-sent events: the run's events from its first (or after `Last-Event-ID`),
        ending after its last."""
        client = await client_of(request)
        await describe_run(client, kickoff_id)  # 404 before the stream starts
        last_id = request.headers.get("last-event-id") or None
        stream = event_stream(request, client, kickoff_id, last_id)
        return StreamingResponse(
            stream, media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    @app.post("/stop/{kickoff_id:path}", responses=error_responses(401, 404, 409, 422, 503))
    async def stop(request: Request, kickoff_id: str, _: Caller) -> StopResponse:
        client = await client_of(request)
        info = await describe_run(client, kickoff_id)
        if info.finished:
            raise ApiError(409, f"run {kickoff_id} already finished ({info.state.value})")
        await client.get_workflow_handle(kickoff_id).cancel()
        log.info("stop %s", kickoff_id)
        return StopResponse(status="stopped", kickoff_id=kickoff_id)


def main() -> None:
    import uvicorn

    from crew_hitl.logs import configure_logging

    settings = Settings.from_env()
    configure_logging(settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        # Longer than clients and proxies keep an idle connection (httpx 5 s, nginx 60 s):
        # a server closing first races the client's next request on that connection.
        timeout_keep_alive=math.ceil(settings.api_keep_alive),
        log_level=settings.log_level.lower(),
    )


if __name__ == "__main__":
    main()
