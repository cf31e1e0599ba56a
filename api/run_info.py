"""A run as the server sees it (search attributes and close status), and the status document
made from that when the run itself cannot answer. Pure: the gateway does the asking."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.api.workflow.v1 import WorkflowExecutionInfo
from temporalio.client import WorkflowExecutionStatus
from temporalio.converter import decode_typed_search_attributes

from crew_hitl import search_attributes as sa
from crew_hitl.contracts.status import (
    TERMINAL_STATES,
    PendingHumanInput,
    RunState,
    StatusDocument,
)

CLOSED_STATES = {
    WorkflowExecutionStatus.COMPLETED: RunState.SUCCESS,
    WorkflowExecutionStatus.FAILED: RunState.FAILED,
    WorkflowExecutionStatus.TIMED_OUT: RunState.FAILED,
    WorkflowExecutionStatus.CANCELED: RunState.STOPPED,
    WorkflowExecutionStatus.TERMINATED: RunState.STOPPED,
}


@dataclass
class RunInfo:
    """A run as the server sees it, without asking a worker."""

    kickoff_id: str
    crew: str | None
    state: RunState
    pending_task: str | None
    closed: bool
    # The queue the run's workflow tasks go to ("" when the server did not say).
    task_queue: str = ""
    # The kickoff's trace context, read only when tracing is on (api/traces.py).
    trace_context: dict[str, str] | None = None

    @property
    def finished(self) -> bool:
        return self.closed or self.state in TERMINAL_STATES


def run_info(kickoff_id: str, info: WorkflowExecutionInfo) -> RunInfo:
    attrs = decode_typed_search_attributes(info.search_attributes)
    status = (
        WorkflowExecutionStatus(info.status) if info.status else WorkflowExecutionStatus.RUNNING
    )
    closed = status in CLOSED_STATES
    state_name = attrs.get(sa.CREW_STATE)
    state = RunState(state_name) if state_name in RunState.__members__ else RunState.RUNNING
    if closed and state not in TERMINAL_STATES:
        state = CLOSED_STATES[status]
    return RunInfo(
        kickoff_id=kickoff_id,
        crew=attrs.get(sa.CREW_NAME),
        state=state,
        pending_task=attrs.get(sa.PENDING_TASK_ID),
        closed=closed,
        task_queue=info.task_queue,
    )


def closed_from_outside(
    document: StatusDocument, status: WorkflowExecutionStatus | None
) -> StatusDocument:
    """A run terminated or timed out in Temporal (not through /stop) ended where it stood."""
    if document.state in TERMINAL_STATES or status not in CLOSED_STATES:
        return document
    how = {
        WorkflowExecutionStatus.TERMINATED: "terminated",
        WorkflowExecutionStatus.TIMED_OUT: "timed out",
    }.get(status, "closed")
    return document.model_copy(
        update={
            "state": CLOSED_STATES[status],
            "pending_human_input": None,
            "error": f"the run was {how} in Temporal, outside crew-hitl",
        }
    )


def status_from_server(
    info: RunInfo, reason: str, final: StatusDocument | None = None, error: str | None = None
) -> StatusDocument:
    """What /status says when the run does not answer: its final document when it closed
    with one, else what the search attributes tell."""
    if final is not None:
        return final.model_copy(update={"degraded": reason})
    return StatusDocument(
        kickoff_id=info.kickoff_id,
        crew=info.crew,
        state=info.state,
        current_task=info.pending_task,
        pending_human_input=(
            PendingHumanInput(task_id=info.pending_task)
            if info.pending_task and info.state == RunState.PENDING_HUMAN_INPUT
            else None
        ),
        error=error,
        degraded=reason,
    )
