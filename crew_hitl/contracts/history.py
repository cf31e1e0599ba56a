"""Payloads stored in workflow history: the run's input, the resume signal and decide
update, activity inputs and results, and what a run carries into its continuation.

A running or paused run replays its history against new code. Changing a field's name or
type here, or removing one, breaks those runs: add fields with defaults only, and when the
workflow's commands change, guard the change with `workflow.patched` and record a history
for tests/test_replay.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from crew_hitl.contracts.status import (
    AuditEntry,
    DecisionSource,
    DeliveryRecord,
    LastExecutedTask,
    RunEvent,
    TaskProgress,
    TokenUsage,
)
from crew_hitl.spec import AgentSpec, CrewSpec, TaskSpec


class WebhookTarget(BaseModel):
    """Where an event goes. `url` is safe to show; `sealed`, when set, holds the real URL and
    headers encrypted, opened only by the delivery activity; `key` (a hash of the real URL)
    tells endpoints apart for delivery order and 410 Gone, where `url` alone could not."""

    url: str
    sealed: str | None = None
    key: str | None = None
    # A URL given in a CLI signal: already in history as given, so kept as it is to call.
    plain: str | None = None

    @property
    def endpoint(self) -> str:
        return self.key or self.url


class WebhookTargets(BaseModel):
    human_input: WebhookTarget | None = None
    task: WebhookTarget | None = None
    step: WebhookTarget | None = None
    crew: WebhookTarget | None = None
    # The `webhooks` object of a kickoff: CrewAI's batched event stream.
    stream: WebhookTarget | None = None


class EventStreamSpec(BaseModel):
    """What a kickoff's `webhooks` object subscribed to: CrewAI event types (none: every event
    this service has), each sent at once (`realtime`) or batched."""

    events: list[str] = []
    realtime: bool = False


# The deployed-crew API's URL fields (kickoff, resume, the resume signal) and the target each
# one sets.
URL_FIELDS = {"taskWebhookUrl": "task", "stepWebhookUrl": "step", "crewWebhookUrl": "crew"}


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
    # The attempt number of this activity's first attempt: 2 for the retries that follow a
    # first attempt made as a local activity.
    first_attempt: int = 1


class DeliveryResult(BaseModel):
    status_code: int
    attempts: int


# What a new run does that older runs did not is read from this number in its input (the
# first event of its history), not asked with workflow.patched: each patch asked costs every
# run a marker and an upsert of TemporalChangeVersion, a visibility write (2 of a benched
# run's 34 events). Runs started without it (older histories, a start from the CLI) are
# asked through the patch as before. 1: a webhook's first attempt is a local activity.
BEHAVIOUR_VERSION = 1
LOCAL_FIRST_ATTEMPT = 1


class CrewRunInput(BaseModel):
    kickoff_id: str
    crew: CrewSpec
    inputs: dict[str, Any] = {}
    meta: dict[str, Any] | None = None
    webhooks: WebhookTargets = WebhookTargets()
    event_stream: EventStreamSpec | None = None
    resume_url: str = ""
    webhook_retry: RetrySettings = RetrySettings()
    heartbeat_timeout_seconds: float = 30.0
    # How long one round of a python: function may take (older runs: the model call's 600 s).
    python_timeout_seconds: float = 600.0
    force_continue_after_events: int = 10_000
    carried: CarriedRun | None = None
    behaviour_version: int = 0


class ResumeSignal(BaseModel):
    """The `resume` signal. From the API the webhook URLs arrive sealed in `webhooks`; a CLI
    caller may give plain `taskWebhookUrl`-style fields instead."""

    task_id: str
    is_approve: bool
    human_feedback: str = ""
    round: int | None = None
    reviewer: str | None = None
    edited_output: str | None = None
    # Set by the API (one per /resume, or per Idempotency-Key): a repeat is ignored.
    decision_id: str | None = None
    taskWebhookUrl: str | None = None  # noqa: N815
    stepWebhookUrl: str | None = None  # noqa: N815
    crewWebhookUrl: str | None = None  # noqa: N815
    webhooks: WebhookTargets | None = None
    # Set by the API and the inbox after checking the reviewer's token or session; absent
    # when the decision was sent to Temporal directly.
    source: DecisionSource | None = None
    # The API's keyed hash vouching for source and reviewer (api/attestation.py).
    attestation: str | None = None
    # Sent with an Idempotency-Key: recorded even when the run cannot take it, so that a
    # retry is answered as the first attempt was (and never applied to a later round).
    keyed: bool = False

    def origin(self) -> DecisionSource:
        """Where the decision came from. Decisions the API sent before it named its source
        carry a decision_id, which no direct sender needs."""
        if self.source is not None:
            return self.source
        return DecisionSource.API if self.decision_id else DecisionSource.TEMPORAL


class IdentifySenderInput(BaseModel):
    """A decision sent to Temporal directly, to be found in the run's history."""

    workflow_id: str
    run_id: str
    task_id: str
    is_approve: bool
    human_feedback: str = ""
    reviewer: str | None = None


class ReviewEmailInput(BaseModel):
    """An e-mail to the reviewers who must act on a round: asked, reminded or escalated to."""

    kickoff_id: str
    crew_name: str
    task_id: str
    round: int
    reason: Literal["requested", "reminder", "escalated"]
    reviewers: list[str]
    excerpt: str = ""
    decide_by: datetime | None = None
    # The run's page in the inbox (a link to read; deciding takes signing in and a form).
    link: str


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
    # What kind of step, as the executor knows it: "llm" (a model call), "tool", "tool_error";
    # None for a step of the offline or python executor.
    kind: str | None = None
    prompt: str = ""
    thought: str = ""
    tool: str | None = None
    tool_input: str | None = None
    result: str = ""


class TaskResult(BaseModel):
    output: str
    steps: list[AgentStep] = []
    token_usage: TokenUsage = TokenUsage()
    # The task's structured output (CrewAI's output_json/output_pydantic, a python function's
    # pydantic model), and the agent's role as the executor reports it.
    output_json: dict[str, Any] | None = None
    agent_role: str | None = None


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
    started_at: datetime | None = None


CrewRunInput.model_rebuild()
