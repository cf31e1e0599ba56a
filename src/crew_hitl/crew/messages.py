"""Message models: HTTP bodies, workflow input/signal/query, activity inputs, webhook events."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AnyHttpUrl, BaseModel, ConfigDict, Field, UrlConstraints

from crew_hitl.crew.spec import AgentSpec, CrewSpec, TaskSpec

HttpUrl = Annotated[AnyHttpUrl, UrlConstraints(allowed_schemes=["http", "https"], max_length=2083)]
# Free-form JSON (kickoff `inputs` and `meta`) travels inside Temporal payloads, which pydantic
# writes as UTF-8 and reads back with a recursion limit of about 200 levels. A lone surrogate
# ("\ud800" is valid JSON) or deeper nesting would fail the kickoff or, worse, start a run
# whose input the worker cannot read.
MAX_JSON_DEPTH = 32
NOT_UNICODE = "text that is not valid Unicode (a lone surrogate escape such as \\ud800)"


Decision = Literal["approved", "rejected"]


def decision_word(is_approve: bool) -> Decision:
    return "approved" if is_approve else "rejected"


def free_json_problem(value: Any) -> str | None:
    """What keeps `value` out of a Temporal payload, if anything. Without recursion: a parsed
    body may nest deeper than Python's stack."""
    pending = [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict):
            pending.extend((key, level) for key in item)
            item = list(item.values())
        if isinstance(item, list):
            if level > MAX_JSON_DEPTH:
                return f"objects and lists nested more than {MAX_JSON_DEPTH} levels deep"
            pending.extend((child, level + 1) for child in item)
        elif isinstance(item, str) and not is_unicode(item):
            return NOT_UNICODE
    return None


def is_unicode(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _payload_safe(value: dict[str, Any]) -> dict[str, Any]:
    problem = free_json_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _unicode_only(text: str) -> str:
    if not is_unicode(text):
        raise ValueError(NOT_UNICODE)
    return text


FreeJson = Annotated[dict[str, Any], AfterValidator(_payload_safe)]
# Text bound for a payload or a header: pydantic lets a lone surrogate through a plain `str`.
UnicodeText = Annotated[str, AfterValidator(_unicode_only)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- HTTP requests


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


class WebhookUrls(Strict):
    taskWebhookUrl: HttpUrl | None = None  # noqa: N815 - the deployed-crew API's names
    stepWebhookUrl: HttpUrl | None = None  # noqa: N815
    crewWebhookUrl: HttpUrl | None = None  # noqa: N815


class KickoffRequest(WebhookUrls):
    inputs: FreeJson = {}
    crew: str | None = None
    meta: FreeJson | None = None
    humanInputWebhook: HumanInputWebhook | None = None  # noqa: N815


class ResumeRequest(WebhookUrls):
    execution_id: str = Field(min_length=1, max_length=256)
    task_id: str = Field(min_length=1, max_length=256)
    human_feedback: UnicodeText = ""
    is_approve: bool
    round: int | None = Field(default=None, ge=1)


class KickoffResponse(BaseModel):
    kickoff_id: str


class ResumeResponse(BaseModel):
    status: Literal["resumed", "retrying"]
    message: str
    decision_id: str
    # False when no worker confirmed the decision in time: the run has it (signals are
    # durable) and applies it when a worker picks the run up, unless the run has moved on.
    confirmed: bool


class StopResponse(BaseModel):
    status: Literal["stopped"]
    kickoff_id: str


class InputsResponse(BaseModel):
    inputs: list[str]


class HealthAnswer(BaseModel):
    """GET /health: healthy with the number of workers, or unhealthy naming the missing part."""

    status: Literal["healthy", "unhealthy"]
    temporal: Literal["up", "down"]
    workers: int | None = None
    worker: Literal["missing"] | None = None
    message: str | None = None


# ---------------------------------------------------------------- webhooks


class WebhookTarget(BaseModel):
    """Where an event goes. `url` is safe to show; `sealed`, when set, holds the real URL and
    headers encrypted, opened only by the delivery activity."""

    url: str
    sealed: str | None = None


class WebhookTargets(BaseModel):
    human_input: WebhookTarget | None = None
    task: WebhookTarget | None = None
    step: WebhookTarget | None = None
    crew: WebhookTarget | None = None


DEFAULT_RETRY_SCHEDULE = [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]


class RetrySettings(BaseModel):
    """Seconds to wait before each retry (the first attempt is immediate)."""

    schedule_seconds: list[float] = DEFAULT_RETRY_SCHEDULE
    timeout_seconds: float = 15.0


class DeliverWebhookInput(BaseModel):
    target: WebhookTarget
    webhook_id: str
    event: str
    body: dict[str, Any]
    timeout_seconds: float = 15.0
    retry_schedule: list[float] = DEFAULT_RETRY_SCHEDULE


class DeliveryRecord(BaseModel):
    """One event's delivery, as /status shows it (the URL without credentials or query)."""

    event: str
    url: str
    webhook_id: str
    state: Literal["pending", "delivered", "gave_up", "skipped"] = "pending"
    attempts: int = 0
    last_status: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None
    gave_up_at: datetime | None = None


class DeliveryResult(BaseModel):
    status_code: int
    attempts: int


# ---------------------------------------------------------------- workflow


class RunState(StrEnum):
    RUNNING = "RUNNING"
    PENDING_HUMAN_INPUT = "PENDING_HUMAN_INPUT"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    STOPPED = "STOPPED"


TERMINAL_STATES = {RunState.SUCCESS, RunState.FAILED, RunState.STOPPED}


class CrewRunInput(BaseModel):
    kickoff_id: str
    crew: CrewSpec
    inputs: dict[str, Any] = {}
    meta: dict[str, Any] | None = None
    webhooks: WebhookTargets = WebhookTargets()
    resume_url: str = ""
    webhook_retry: RetrySettings = RetrySettings()
    heartbeat_timeout_seconds: float = 30.0
    force_continue_after_events: int = 10_000
    carried: CarriedRun | None = None


class ResumeSignal(BaseModel):
    """The `resume` signal. From the API the webhook URLs arrive sealed in `webhooks`; a CLI
    caller may give plain `taskWebhookUrl`-style fields instead."""

    task_id: str
    is_approve: bool
    human_feedback: str = ""
    round: int | None = None
    reviewer: str | None = None
    # Set by the API (one per /resume, or per Idempotency-Key): a repeat is ignored.
    decision_id: str | None = None
    taskWebhookUrl: str | None = None  # noqa: N815
    stepWebhookUrl: str | None = None  # noqa: N815
    crewWebhookUrl: str | None = None  # noqa: N815
    webhooks: WebhookTargets | None = None


class ContextItem(BaseModel):
    task_id: str
    output: str


class ExecuteTaskInput(BaseModel):
    kickoff_id: str
    crew_name: str
    task: TaskSpec
    agent: AgentSpec
    inputs: dict[str, Any] = {}
    context: list[ContextItem] = []
    notes: list[str] = []
    feedback: list[str] = []
    previous_output: str | None = None
    round: int = 1


class AgentStep(BaseModel):
    prompt: str = ""
    thought: str = ""
    tool: str | None = None
    tool_input: str | None = None
    result: str = ""


class TokenUsage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
        )


class TaskResult(BaseModel):
    output: str
    steps: list[AgentStep] = []
    token_usage: TokenUsage = TokenUsage()


# ---------------------------------------------------------------- status


class ReviewRound(BaseModel):
    round: int
    output: str
    decision: Decision | None = None
    feedback: str | None = None
    reviewer: str | None = None
    decided_at: datetime | None = None


class TaskStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    AWAITING_REVIEW = "awaiting_review"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"


class TaskProgress(BaseModel):
    task_id: str
    agent: str
    status: TaskStatus = TaskStatus.PENDING
    output: str | None = None
    rounds: list[ReviewRound] = []
    token_usage: TokenUsage = TokenUsage()


class PendingHumanInput(BaseModel):
    task_id: str
    round: int | None = None
    output: str | None = None
    since: datetime | None = None


class Progress(BaseModel):
    completed_tasks: int
    total_tasks: int


class LastExecutedTask(BaseModel):
    task_id: str
    output: str


class AuditEntry(BaseModel):
    """One resume the run received: who sent it, when, what it said, and whether it applied."""

    at: datetime
    reviewer: str | None = None
    task_id: str
    round: int | None = None
    decision: Decision | None = None
    applied: bool
    reason: str | None = None
    decision_id: str | None = None


class IgnoredResume(BaseModel):
    task_id: str
    round: int | None = None
    is_approve: bool | None = None
    reason: str
    reviewer: str | None = None
    received_at: datetime


class StatusDocument(BaseModel):
    kickoff_id: str
    crew: str | None = None
    state: RunState
    current_task: str | None = None
    pending_human_input: PendingHumanInput | None = None
    progress: Progress | None = None
    tasks: list[TaskProgress] = []
    last_executed_task: LastExecutedTask | None = None
    ignored_resumes: list[IgnoredResume] = []
    audit: list[AuditEntry] = []
    deliveries: list[DeliveryRecord] = []
    result: str | None = None
    error: str | None = None
    token_usage: TokenUsage = TokenUsage()
    version: int = 0
    continued: int = 0
    degraded: str | None = None


class RunEvent(BaseModel):
    """One event of a run, as its webhook carries it; `id` is the webhook-id."""

    id: str
    event: str
    data: dict[str, Any]


class EventsPage(BaseModel):
    events: list[RunEvent]
    finished: bool
    version: int


class CarriedRun(BaseModel):
    """What a run hands to its continuation when it continues as new (long review loops):
    the record, trimmed where it only grows, and the webhooks as the last resume left them."""

    tasks: list[TaskProgress]
    current_task: str | None = None
    notes: list[str] = []
    audit: list[AuditEntry] = []
    deliveries: list[DeliveryRecord] = []
    events: list[RunEvent] = []
    version: int = 0
    last_executed: LastExecutedTask | None = None
    token_usage: TokenUsage = TokenUsage()
    webhooks: WebhookTargets = WebhookTargets()
    gone_urls: list[str] = []
    undelivered: list[DeliverWebhookInput] = []
    continued: int = 0


CrewRunInput.model_rebuild()
