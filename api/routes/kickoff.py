"""POST /kickoff: the crew's spec, resolved now and frozen into the run's input, starts a run
whose workflow id is the kickoff_id."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request

from api.crews import crew_named
from api.dependencies import Caller, Services, ServicesDep
from api.errors import error_responses
from api.failures import InvalidRequest
from api.idempotency import idempotency_key, key_parameter, kickoff_id_for
from api.ignored import ignored_fields
from api.webhook_fields import check_webhook_urls, seal_webhooks
from crew_hitl.contracts.history import (
    BEHAVIOUR_VERSION,
    CrewRunInput,
    EventStreamSpec,
    RetrySettings,
)
from crew_hitl.contracts.http import KickoffRequest, KickoffResponse
from crew_hitl.spec import CrewSpec
from crew_hitl.targets import sealed_target

log = logging.getLogger("crew_hitl.api")
router = APIRouter()
IDEMPOTENT_KICKOFF = key_parameter(
    "Kickoffs with the same key (and reviewer name) start one run and share its kickoff_id"
)


@router.post(
    "/kickoff",
    responses=error_responses(400, 401, 404, 413, 422, 503),
    openapi_extra={"parameters": [IDEMPOTENT_KICKOFF]},
)
async def kickoff(
    request: Request, body: KickoffRequest, services: ServicesDep, caller: Caller
) -> KickoffResponse:
    crew = crew_named(services.crews, body.crew or services.settings.default_crew)
    missing = crew.missing_inputs(body.inputs)
    if missing:
        raise InvalidRequest(
            f"missing crew inputs: {', '.join(missing)}", "missing_inputs", missing=missing
        )
    await check_webhook_urls(services.guard, body)
    key = idempotency_key(request)
    kickoff_id = kickoff_id_for(caller, key)
    run = run_input(services, body, crew, kickoff_id)
    fingerprint = services.box.fingerprint(body.known_fields_json()) if key else None
    ignored = ignored_fields(body)
    if await services.gateway.start(run, fingerprint):
        log.info("kickoff %s: crew %s", kickoff_id, crew.name)
        return KickoffResponse(kickoff_id=kickoff_id, ignored_fields=ignored)
    # A retried kickoff with the same Idempotency-Key: the run it already started, unless the
    # key was used for another request.
    earlier = await services.gateway.kickoff_fingerprint(kickoff_id)
    if earlier is not None and earlier != fingerprint:
        raise InvalidRequest(
            "Idempotency-Key: already used for another kickoff; use a new key for a new run"
        )
    log.info("kickoff %s: repeated Idempotency-Key, same run", kickoff_id)
    return KickoffResponse(kickoff_id=kickoff_id, ignored_fields=ignored)


def run_input(
    services: Services, body: KickoffRequest, crew: CrewSpec, kickoff_id: str
) -> CrewRunInput:
    settings, box = services.settings, services.box
    webhooks = seal_webhooks(box, body)
    if body.humanInputWebhook is not None:
        auth = body.humanInputWebhook.authentication
        webhooks.human_input = sealed_target(
            box, str(body.humanInputWebhook.url), auth.model_dump() if auth else None
        )
    stream = body.webhooks
    if stream is not None:
        auth = stream.authentication
        webhooks.stream = sealed_target(box, str(stream.url), auth.model_dump() if auth else None)
    return CrewRunInput(
        kickoff_id=kickoff_id,
        crew=crew.interpolated(body.inputs),
        inputs=body.inputs,
        meta=body.meta,
        webhooks=webhooks,
        event_stream=EventStreamSpec(events=stream.events, realtime=stream.realtime)
        if stream is not None
        else None,
        resume_url=f"{settings.resume_base_url}/resume",
        webhook_retry=RetrySettings(
            schedule_seconds=settings.retry_schedule(),
            timeout_seconds=settings.webhook_timeout,
        ),
        heartbeat_timeout_seconds=settings.task_heartbeat_timeout,
        python_timeout_seconds=settings.python_task_timeout,
        force_continue_after_events=settings.force_continue_after_events,
        behaviour_version=BEHAVIOUR_VERSION,
    )
