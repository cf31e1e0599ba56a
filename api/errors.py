"""Every error leaves the API as JSON {"error", "message", "detail"} (`detail` repeats the
message for clients written to FastAPI's shape); nothing a client sends is a 500.
The one place where a Failure becomes an HTTP status."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.failures import (
    Failure,
    InvalidRequest,
    NotAssigned,
    NotFound,
    NotSignedIn,
    RunMovedOn,
    TemporalUnavailable,
    TooLarge,
)

log = logging.getLogger("crew_hitl.api")

ERROR_NAMES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    422: "invalid_request",
    503: "unavailable",
}


ERROR_MEANINGS = {
    400: "The body is not text (UTF-8) that can be read as JSON",
    401: "No valid `Authorization: Bearer <token>` header",
    403: "The task's review policy names other reviewers",
    404: "No such run or crew",
    409: "The run is not in a state that allows this",
    413: "The body is over CREW_HITL_MAX_REQUEST_BYTES, or the run it makes too large for Temporal",
    422: "The request is invalid: `problems` names each field, `missing` each crew input",
    503: "Temporal does not answer",
}


class Problem(BaseModel):
    field: str
    problem: str


class ErrorBody(BaseModel):
    """The body of every error answer."""

    model_config = ConfigDict(extra="allow")

    error: str
    message: str
    detail: str  # the message again, where FastAPI-style clients look for it
    problems: list[Problem] | None = None
    missing: list[str] | None = None
    decision_id: str | None = None  # a /resume the run did not apply (409)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route that may answer with these errors, for the OpenAPI
    document (it replaces FastAPI's own 422 shape, which this API does not use)."""
    return {
        status: {"model": ErrorBody, "description": ERROR_MEANINGS[status]} for status in statuses
    }


HTTP_STATUS: dict[type[Failure], int] = {
    NotSignedIn: 401,
    NotAssigned: 403,
    NotFound: 404,
    RunMovedOn: 409,
    TooLarge: 413,
    InvalidRequest: 422,
    TemporalUnavailable: 503,
}


def status_of(failure: Failure) -> int:
    """The one mapping of a failure to an HTTP status, for JSON answers and inbox pages alike."""
    for kind in type(failure).__mro__:
        if kind in HTTP_STATUS:
            return HTTP_STATUS[kind]
    return 500


def error_response(status: int, error: str, message: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        {"error": error, "message": message, "detail": message, **extra},
        status_code=status,
        headers=headers,
    )


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def describe_validation(exc: RequestValidationError) -> tuple[str, list[dict[str, str]]]:
    # Only location and message go back: the raw input may hold credentials.
    problems = [{"field": _field(tuple(e["loc"])), "problem": e["msg"]} for e in exc.errors()]
    summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5])
    return summary or "invalid request", problems


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Failure)
    async def failure(_: Request, exc: Failure) -> JSONResponse:
        return error_response(status_of(exc), exc.code, exc.message, **exc.details)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        summary, problems = describe_validation(exc)
        return error_response(422, "invalid_request", summary, problems=problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        name = ERROR_NAMES.get(exc.status_code, "error")
        return error_response(exc.status_code, name, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return error_response(500, "internal", "internal error; see the API's log")
