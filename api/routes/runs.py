"""Following and stopping runs: GET /status, GET /events, POST /stop, GET /executions."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api.attestation import checked_sources
from api.crewai_status import with_crewai_fields
from api.dependencies import Caller, Gateway, ServicesDep
from api.errors import error_responses
from api.event_stream_response import EventStreamResponse
from api.listing import MAX_PAGE_SIZE, ExecutionsPage, RunFilter, summary
from api.watch import event_stream, status_after
from crew_hitl.contracts.http import StopResponse
from crew_hitl.contracts.status import StatusDocument

log = logging.getLogger("crew_hitl.api")
router = APIRouter()
MAX_WAIT_SECONDS = 60.0
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


@router.get("/executions", responses=error_responses(401, 422, 503))
async def executions(
    gateway: Gateway,
    _: Caller,
    state: str | None = None,
    crew: str | None = None,
    task: str | None = None,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
    next_page_token: str | None = None,
) -> ExecutionsPage:
    """A page of runs from Temporal's visibility store, newest first."""
    page = await gateway.list_runs(RunFilter.parse(state, crew, task), page_size, next_page_token)
    await gateway.add_statuses(page.runs)
    return ExecutionsPage(
        executions=[summary(run) for run in page.runs], next_page_token=page.next_page_token
    )


# `path`: the server decodes an escaped '/' in a run id before routing.
@router.get("/status/{kickoff_id:path}", responses=error_responses(401, 404, 422, 503))
async def status(
    request: Request,
    kickoff_id: str,
    services: ServicesDep,
    _: Caller,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT_SECONDS)] = 0,
    since: Annotated[int | None, Query(ge=0)] = None,
) -> StatusDocument:
    """With `wait`, a long-poll: answers once the run's `version` passes `since` (or at the
    timeout, unchanged)."""
    doc = await status_after(
        services.gateway, services.followers, kickoff_id, since, wait, request.is_disconnected
    )
    return with_crewai_fields(checked_sources(doc, services.box))


@router.get(
    "/events/{kickoff_id:path}",
    response_class=EventStreamResponse,
    responses={**EVENT_STREAM, **error_responses(401, 404, 422, 503)},
    openapi_extra={"parameters": [LAST_EVENT_ID]},
)
async def events(
    request: Request, kickoff_id: str, services: ServicesDep, _: Caller
) -> EventStreamResponse:
    """Server-sent events: the run's events from its first (or after `Last-Event-ID`),
    ending after its last."""
    gateway = services.gateway
    await gateway.describe(kickoff_id)  # 404 before the stream starts
    last_id = request.headers.get("last-event-id") or None
    stream = event_stream(gateway, services.followers, kickoff_id, last_id)
    return EventStreamResponse(
        stream, media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


@router.post("/stop/{kickoff_id:path}", responses=error_responses(401, 404, 409, 422, 503))
async def stop(kickoff_id: str, gateway: Gateway, _: Caller) -> StopResponse:
    await gateway.stop(kickoff_id)
    log.info("stop %s", kickoff_id)
    return StopResponse(status="stopped", kickoff_id=kickoff_id, kickoffId=kickoff_id)


# The path CrewAI's documents gave for a while: registered last, so that it takes only what
# no other route does (a run id with '/' needs the path above).
older_status = APIRouter()


@older_status.get(
    "/{kickoff_id}/status",
    responses=error_responses(401, 404, 422, 503),
    summary="Status (the older path)",
)
async def status_at_the_older_path(
    request: Request,
    kickoff_id: str,
    services: ServicesDep,
    caller: Caller,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT_SECONDS)] = 0,
    since: Annotated[int | None, Query(ge=0)] = None,
) -> StatusDocument:
    """GET /status/{kickoff_id} at the path CrewAI's documents used through several releases."""
    return await status(request, kickoff_id, services, caller, wait, since)
