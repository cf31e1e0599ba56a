"""What HTTP clients send and get back: the deployed-crew API's request and answer bodies.
Changing these changes the public API (README's API section and compatibility table)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from crew_hitl.contracts.history import URL_FIELDS
from crew_hitl.contracts.values import FreeJson, HttpUrl, Strict, UnicodeText


class BearerAuth(Strict):
    strategy: Literal["bearer"]
    # It goes into a header as it is, where a control character cannot be sent.
    token: str = Field(min_length=1, pattern=r"^[^\x00-\x1f\x7f]+$")


class BasicAuth(Strict):
    strategy: Literal["basic"]
    username: UnicodeText
    password: UnicodeText


WebhookAuth = Annotated[BearerAuth | BasicAuth, Field(discriminator="strategy")]


class HumanInputWebhook(Strict):
    url: HttpUrl
    authentication: WebhookAuth | None = None


EventType = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class EventStreamRequest(Strict):
    """The `webhooks` object of a kickoff: CrewAI's event streaming. `events` names the CrewAI
    event types to send (none: all this service has); `realtime` sends each at once instead
    of in batches."""

    events: list[EventType] = Field(default=[], max_length=100)
    url: HttpUrl
    realtime: bool = False
    authentication: WebhookAuth | None = None


class WebhookUrls(Strict):
    taskWebhookUrl: HttpUrl | None = None  # noqa: N815 - the deployed-crew API's names
    stepWebhookUrl: HttpUrl | None = None  # noqa: N815
    crewWebhookUrl: HttpUrl | None = None  # noqa: N815

    def webhook_urls(self) -> dict[str, str]:
        """The URL fields given, by field name (the names of URL_FIELDS)."""
        return {name: str(url) for name in URL_FIELDS if (url := getattr(self, name)) is not None}


# Names of unknown fields given back in `ignored_fields`: enough to see a typo, never the body.
MAX_IGNORED_NAMES = 20
MAX_IGNORED_NAME_LENGTH = 64


class Lenient(BaseModel):
    """A request body that accepts top-level fields it does not know and ignores them (a
    client sending a newer CrewAI field keeps working); the fields it knows stay strict."""

    model_config = ConfigDict(extra="allow")

    def ignored_fields(self) -> list[str]:
        names = sorted(self.model_extra or {})[:MAX_IGNORED_NAMES]
        return [name[:MAX_IGNORED_NAME_LENGTH] for name in names]

    def known_fields_json(self) -> str:
        """The body without the ignored fields, as JSON (what a repeat must match)."""
        return self.model_dump_json(exclude=set(self.model_extra or {}))


class KickoffRequest(Lenient, WebhookUrls):
    model_config = ConfigDict(extra="allow")

    inputs: FreeJson = {}
    crew: str | None = None
    meta: FreeJson | None = None
    humanInputWebhook: HumanInputWebhook | None = None  # noqa: N815
    webhooks: EventStreamRequest | None = None

    def known_fields_json(self) -> str:
        """As Lenient's, and without `webhooks` when not given: a kickoff retried with its
        Idempotency-Key across the upgrade that added the field still matches its first."""
        unused = {"webhooks"} if self.webhooks is None else set()
        return self.model_dump_json(exclude=set(self.model_extra or {}) | unused)


class ResumeRequest(Lenient, WebhookUrls):
    model_config = ConfigDict(extra="allow")

    execution_id: str = Field(min_length=1, max_length=256)
    task_id: str = Field(min_length=1, max_length=256)
    human_feedback: UnicodeText = ""
    is_approve: bool
    round: int | None = Field(default=None, ge=1)
    # Approve with edits: this text becomes the task's output instead of the model's.
    edited_output: UnicodeText | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _edits_only_approve(self) -> ResumeRequest:
        if self.edited_output is not None and not self.is_approve:
            raise ValueError("edited_output goes with is_approve: true (a rejection asks again)")
        return self


class KickoffResponse(BaseModel):
    kickoff_id: str
    # Top-level fields of the request this API does not know, and ignored.
    ignored_fields: list[str] = []


class ResumeResponse(BaseModel):
    # approval_recorded: the task's review policy needs more approvals before the run goes on.
    status: Literal["resumed", "retrying", "approval_recorded"]
    message: str
    decision_id: str
    # False when no worker confirmed the decision in time: the run has it (signals are
    # durable) and applies it when a worker picks the run up, unless the run has moved on.
    confirmed: bool
    ignored_fields: list[str] = []
    approvals_missing: int | None = None


class StopResponse(BaseModel):
    status: Literal["stopped"]
    kickoff_id: str
    kickoffId: str  # noqa: N815 - the same, as CrewAI's guide shows it


class InputsResponse(BaseModel):
    inputs: list[str]


class HealthAnswer(BaseModel):
    """GET /health: healthy with the number of workers, or unhealthy naming the missing part."""

    status: Literal["healthy", "unhealthy"]
    temporal: Literal["up", "down"]
    workers: int | None = None
    worker: Literal["missing"] | None = None
    message: str | None = None
