"""The status document: what the `status` query, the workflow's result and GET /status
answer, and the records it is made of. Parts of it are also carried across continue-as-new
(see history.CarriedRun): add fields with defaults, never remove or retype one."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, field_validator

from crew_hitl.review_policy import OPERATOR


class Verdict(StrEnum):
    """A reviewer's decision on a round. The wire keeps CrewAI's `is_approve` boolean;
    everything the service records or shows says `approved` or `rejected`."""

    APPROVED = "approved"
    REJECTED = "rejected"

    @classmethod
    def of(cls, is_approve: bool) -> Verdict:
        return cls.APPROVED if is_approve else cls.REJECTED

    @property
    def is_approve(self) -> bool:
        return self is Verdict.APPROVED


class DecisionSource(StrEnum):
    """Where a decision came from. `api` and `inbox`: the service checked the reviewer's token
    or session. `temporal`: a signal or update sent to Temporal directly (the CLI, the Web UI,
    another program); its reviewer name is only what the sender claimed."""

    API = "api"
    INBOX = "inbox"
    TEMPORAL = "temporal"
    # The task's review policy decided when nobody did in time (on_timeout).
    POLICY = "policy"


class RunState(StrEnum):
    RUNNING = "RUNNING"
    PENDING_HUMAN_INPUT = "PENDING_HUMAN_INPUT"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    STOPPED = "STOPPED"


TERMINAL_STATES = {RunState.SUCCESS, RunState.FAILED, RunState.STOPPED}


class CrewAIStatus(StrEnum):
    """`status` as CrewAI's deployed-crew reference gives it (running, completed, error), with
    names of its kind for the states it does not have."""

    RUNNING = "running"
    PENDING_HUMAN_INPUT = "pending_human_input"
    COMPLETED = "completed"
    ERROR = "error"
    STOPPED = "stopped"

    @classmethod
    def of(cls, state: RunState) -> CrewAIStatus:
        return {
            RunState.RUNNING: cls.RUNNING,
            RunState.PENDING_HUMAN_INPUT: cls.PENDING_HUMAN_INPUT,
            RunState.SUCCESS: cls.COMPLETED,
            RunState.FAILED: cls.ERROR,
            RunState.STOPPED: cls.STOPPED,
        }[state]


class TokenUsage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    @field_validator("prompt_tokens", "completion_tokens", "total_tokens", mode="before")
    @classmethod
    def _null_is_none_counted(cls, value: Any) -> Any:
        # Some OpenAI-compatible servers answer `"usage": {"prompt_tokens": null, ...}`.
        return 0 if value is None else value

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
        )


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


class Approval(BaseModel):
    """One approval of a round that needs several (a review policy's `approvals`)."""

    reviewer: str | None = None
    at: datetime
    note: str = ""
    edited_output: str | None = None


class ReviewRound(BaseModel):
    round: int
    output: str
    decision: Verdict | None = None
    feedback: str | None = None
    reviewer: str | None = None
    # When the round began to wait for review (None in runs from before it was recorded).
    requested_at: datetime | None = None
    decided_at: datetime | None = None
    source: DecisionSource | None = None
    # Every approval the round had, when its policy wanted more than one.
    approvals: list[Approval] = []
    # Approved with edits: the text that became the task's output (`output` stays the
    # model's), and who edited it.
    edited_output: str | None = None
    edited_by: str | None = None


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
    # The latest round's structured output and the agent's role, as the executor reported them.
    output_json: dict[str, Any] | None = None
    agent_role: str | None = None
    # Seconds the task's rounds spent running (time waiting for a reviewer not counted).
    execution_time: float = 0.0


class PendingHumanInput(BaseModel):
    task_id: str
    round: int | None = None
    output: str | None = None
    since: datetime | None = None
    # Under a review policy: who may decide (empty: anyone), the approvals the round needs
    # and has, and when on_timeout applies.
    reviewers: list[str] = []
    approvals_needed: int = 1
    approvals: list[Approval] = []
    decide_by: datetime | None = None
    escalated: bool = False

    def may_decide(self, reviewer: str | None) -> bool:
        """Whether this reviewer may decide the round: anyone without named reviewers; an
        operator (a bare token) always; a decision without a name (sent to Temporal directly,
        which is the trust boundary) too."""
        return (
            not self.reviewers
            or reviewer is None
            or reviewer == OPERATOR
            or reviewer in self.reviewers
        )


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
    decision: Verdict | None = None
    applied: bool
    reason: str | None = None
    decision_id: str | None = None
    source: DecisionSource | None = None
    # The reviewer name is what a direct Temporal sender typed: nobody checked it.
    reviewer_claimed: bool = False
    # A direct sender's Temporal client identity, as the run's history records it.
    sender: str | None = None
    # An approval that did not yet complete its round (the policy wants more): how many more.
    approvals_missing: int | None = None
    # The API's or the inbox's keyed hash vouching for source and reviewer.
    attestation: str | None = None
    edited: bool = False


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
    # The final task's structured output, when it produced one.
    result_json: dict[str, Any] | None = None
    error: str | None = None
    token_usage: TokenUsage = TokenUsage()
    version: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # CrewAI's names for the same, filled in by the API when it answers (api/crewai_status.py).
    status: CrewAIStatus | None = None
    execution_time: float | None = None
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
