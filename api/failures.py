"""What can go wrong when the API or the inbox acts on a run, said without HTTP. The gateway to
Temporal and the request checks raise these; api/errors.py alone maps them to status codes."""

from __future__ import annotations

from typing import Any


class Failure(Exception):
    """A refusal with a message for the caller. `code` names the kind in the error body;
    `details` are more fields for it (never anything secret)."""

    code = "error"

    def __init__(self, message: str, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or type(self).code
        self.details = details


class NotSignedIn(Failure):
    code = "unauthorized"


class NotAssigned(Failure):
    """The task's review policy does not name this reviewer."""

    code = "forbidden"


class NotFound(Failure):
    """No such run (of this service) or crew."""

    code = "not_found"


class RunMovedOn(Failure):
    """The run is not, or no longer, in a state that allows this."""

    code = "conflict"


class InvalidRequest(Failure):
    code = "invalid_request"


class TooLarge(Failure):
    """Over the request limit, or a run input too large for Temporal."""

    code = "payload_too_large"


class TemporalUnavailable(Failure):
    code = "temporal_unavailable"
