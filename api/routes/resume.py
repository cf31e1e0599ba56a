"""POST /resume: a reviewer's decision, answered with the run's verdict."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.decisions import resume_run
from api.dependencies import Caller, ServicesDep
from api.errors import error_responses
from api.idempotency import idempotency_key, key_parameter
from api.ignored import ignored_fields
from crew_hitl.contracts.http import ResumeRequest, ResumeResponse

router = APIRouter()
IDEMPOTENT_RESUME = key_parameter(
    "Resumes with the same key (and reviewer name) are one decision: applied once, answered alike"
)


@router.post(
    "/resume",
    responses=error_responses(400, 401, 403, 404, 409, 413, 422, 503),
    openapi_extra={"parameters": [IDEMPOTENT_RESUME]},
)
async def resume(
    request: Request, body: ResumeRequest, services: ServicesDep, caller: Caller
) -> ResumeResponse:
    ignored = ignored_fields(body)
    answer = await resume_run(services, body, caller, idempotency_key(request))
    return answer.model_copy(update={"ignored_fields": ignored})
