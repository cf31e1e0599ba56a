"""Listing runs through Temporal visibility: the filter (CrewState/CrewName/PendingTaskId search
attributes) as a visibility query, page tokens, and the rows GET /executions and the inbox show.
Pure: the gateway makes the ListWorkflowExecutions call."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel
from temporalio.api.workflow.v1 import WorkflowExecutionInfo

from api.failures import InvalidRequest
from api.run_info import RunInfo, run_info
from crew_hitl import WORKFLOW_TYPE
from crew_hitl import search_attributes as sa
from crew_hitl.contracts.status import RunState, StatusDocument

# Values go into a visibility query, so they must match these exactly (no quotes, no
# backslashes, nothing a query parser would read as syntax).
CREW_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
CREW_NAME_RULE = "up to 64 letters, digits, '_', '.' or '-', starting with a letter or digit"
TASK_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}")
TASK_ID_RULE = "up to 128 letters, digits, '_', '.', ':' or '-', not starting with '.', ':' or '-'"
MAX_PAGE_SIZE = 100
MAX_TOKEN_CHARS = 4096
OPEN_STATES = (RunState.RUNNING.value, RunState.PENDING_HUMAN_INPUT.value)
# How Temporal's close statuses map onto a run whose CrewState was not yet terminal; the
# same mapping as run_info.run_info, so a filter and a row agree.
CLOSE_STATUSES = {
    RunState.SUCCESS: ("Completed",),
    RunState.FAILED: ("Failed", "TimedOut"),
    RunState.STOPPED: ("Canceled", "Terminated"),
}


@dataclass(frozen=True)
class RunFilter:
    state: RunState | None = None
    crew: str | None = None
    task: str | None = None

    @classmethod
    def parse(cls, state: str | None, crew: str | None, task: str | None) -> RunFilter:
        """From query parameters; anything that is not a known state or a plain name is a
        422 saying what is allowed."""
        return cls(
            state=parse_state(state),
            crew=parse_name("crew", crew, CREW_NAME, CREW_NAME_RULE),
            task=parse_name("task", task, TASK_ID, TASK_ID_RULE),
        )


def parse_state(value: str | None) -> RunState | None:
    if not value:
        return None
    if value not in RunState.__members__:
        known = ", ".join(RunState.__members__)
        raise InvalidRequest(f"state: must be one of {known}")
    return RunState(value)


def parse_name(field: str, value: str | None, pattern: re.Pattern[str], rule: str) -> str | None:
    if not value:
        return None
    if not pattern.fullmatch(value):
        raise InvalidRequest(f"{field}: {rule}")
    return value


def quoted(value: str) -> str:
    # Values were checked against CREW_NAME/TASK_ID; this is a second line of defence.
    if '"' in value or "\\" in value:
        raise ValueError(f"unsafe value in a visibility query: {value!r}")
    return f'"{value}"'


def state_clause(state: RunState) -> str:
    if state.value in OPEN_STATES:
        return f'CrewState = {quoted(state.value)} AND ExecutionStatus = "Running"'
    closes = ", ".join(quoted(status) for status in CLOSE_STATUSES[state])
    opens = ", ".join(quoted(value) for value in OPEN_STATES)
    return (
        f"(CrewState = {quoted(state.value)} OR "
        f"(ExecutionStatus IN ({closes}) AND CrewState IN ({opens})))"
    )


def visibility_query(run_filter: RunFilter) -> str:
    # A run that continued as new is listed once, as its latest run.
    clauses = [f"WorkflowType = {quoted(WORKFLOW_TYPE)}", 'ExecutionStatus != "ContinuedAsNew"']
    if run_filter.state is not None:
        clauses.append(state_clause(run_filter.state))
    if run_filter.crew is not None:
        clauses.append(f"{sa.CREW_NAME.name} = {quoted(run_filter.crew)}")
    if run_filter.task is not None:
        clauses.append(f"{sa.PENDING_TASK_ID.name} = {quoted(run_filter.task)}")
    return " AND ".join(clauses)


def open_or_closed_since_query(since: datetime) -> str:
    """Runs open now or closed since `since`: every run that can have been decided since
    then (the latest run of each that continued as new)."""
    moment = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f'WorkflowType = {quoted(WORKFLOW_TYPE)} AND ExecutionStatus != "ContinuedAsNew" AND '
        f'(ExecutionStatus = "Running" OR CloseTime >= {quoted(moment)})'
    )


def encode_page_token(raw: bytes) -> str | None:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=") if raw else None


def decode_page_token(token: str | None) -> bytes:
    if not token:
        return b""
    if len(token) > MAX_TOKEN_CHARS or not re.fullmatch(r"[A-Za-z0-9_-]+", token):
        raise InvalidRequest("next_page_token: not a token this API gave out")
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise InvalidRequest("next_page_token: not a token this API gave out") from None


@dataclass
class ListedRun:
    info: RunInfo
    started_at: datetime | None
    closed_at: datetime | None
    # The run's own status document, asked of open runs only; None when it did not answer.
    status: StatusDocument | None = None
    run_id: str = ""

    @property
    def pending_round(self) -> int | None:
        pending = self.status.pending_human_input if self.status else None
        return pending.round if pending else None

    @property
    def waiting_since(self) -> datetime | None:
        pending = self.status.pending_human_input if self.status else None
        return pending.since if pending else None

    @property
    def changed_at(self) -> datetime | None:
        """When the run entered its present state, as far as is known."""
        if self.closed_at is not None:
            return self.closed_at
        if self.waiting_since is not None:
            return self.waiting_since
        decided = [
            r.decided_at
            for task in (self.status.tasks if self.status else [])
            for r in task.rounds
            if r.decided_at is not None
        ]
        return max(decided, default=self.started_at)


@dataclass
class RunsPage:
    runs: list[ListedRun]
    next_page_token: str | None


def listed_run(info: WorkflowExecutionInfo) -> ListedRun:
    return ListedRun(
        info=run_info(info.execution.workflow_id, info),
        started_at=info.start_time.ToDatetime(tzinfo=UTC) if info.HasField("start_time") else None,
        closed_at=info.close_time.ToDatetime(tzinfo=UTC) if info.HasField("close_time") else None,
        run_id=info.execution.run_id,
    )


class ExecutionSummary(BaseModel):
    kickoff_id: str
    crew: str | None
    state: RunState
    pending_task: str | None
    round: int | None
    started_at: datetime | None
    changed_at: datetime | None


class ExecutionsPage(BaseModel):
    executions: list[ExecutionSummary]
    next_page_token: str | None


def summary(run: ListedRun) -> ExecutionSummary:
    waiting = run.info.state == RunState.PENDING_HUMAN_INPUT and not run.info.closed
    return ExecutionSummary(
        kickoff_id=run.info.kickoff_id,
        crew=run.info.crew,
        state=run.info.state,
        pending_task=run.info.pending_task if waiting else None,
        round=run.pending_round if waiting else None,
        started_at=run.started_at,
        changed_at=run.changed_at,
    )
