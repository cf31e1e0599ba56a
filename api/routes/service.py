"""GET / and /health (no token), GET /metrics (CREW_HITL_METRICS_TOKEN's, if set), GET /inputs."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from api.crews import crew_named
from api.dependencies import AppSettings, Caller, Crews, Gateway, ServicesDep
from api.errors import error_responses
from api.failures import NotSignedIn, TemporalUnavailable
from crew_hitl.contracts.http import HealthAnswer, InputsResponse
from crew_hitl.instruments import CONTENT_TYPE, scrape_allowed

router = APIRouter()


@router.get("/")
async def root() -> dict[str, str]:
    return {"status": "healthy"}


@router.get("/health", responses={200: {"model": HealthAnswer}, 503: {"model": HealthAnswer}})
async def health(gateway: Gateway, settings: AppSettings) -> JSONResponse:
    """200 only when Temporal answers and a worker polls the task queue; else 503 naming the
    missing part."""
    try:
        pollers = await gateway.workers_polling()
    except TemporalUnavailable as err:
        message = f"Temporal at {settings.temporal_address} does not answer: {err.message}"
        answer = HealthAnswer(status="unhealthy", temporal="down", message=message)
    else:
        if pollers:
            answer = HealthAnswer(status="healthy", temporal="up", workers=pollers)
        else:
            message = f"no worker polls the task queue {settings.task_queue!r}"
            answer = HealthAnswer(
                status="unhealthy", temporal="up", worker="missing", message=message
            )
    status_code = 200 if answer.status == "healthy" else 503
    return JSONResponse(answer.model_dump(exclude_none=True), status_code=status_code)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, services: ServicesDep) -> Response:
    """Prometheus' text format. Not the API's tokens: a scraper needs no reviewer's."""
    authorization = request.headers.get("authorization", "")
    if not scrape_allowed(services.settings.metrics_token, authorization):
        raise NotSignedIn("a valid 'Authorization: Bearer <metrics token>' header is required")
    return Response(await services.metrics.scrape(), headers={"Content-Type": CONTENT_TYPE})


@router.get("/inputs", responses=error_responses(401, 404, 422))
async def inputs(
    crews: Crews, settings: AppSettings, _: Caller, crew: str | None = None
) -> InputsResponse:
    return InputsResponse(inputs=crew_named(crews, crew or settings.default_crew).placeholders())
