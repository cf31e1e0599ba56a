"""The API's view of runs in Temporal: one small call per question."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflow.v1 import WorkflowExecutionInfo
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    DescribeWorkflowExecutionRequest,
)
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.common import QueryRejectCondition
from temporalio.converter import decode_typed_search_attributes
from temporalio.service import RPCError, RPCStatusCode

from api.errors import ApiError
from crew_hitl import search_attributes as sa
from crew_hitl.contracts.status import (
    TERMINAL_STATES,
    AuditEntry,
    EventsPage,
    PendingHumanInput,
    RunState,
    StatusDocument,
)

T = TypeVar("T")

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
    )


async def describe_run(client: Client, kickoff_id: str) -> RunInfo:
    # The raw call: the SDK's describe() also decodes memo and metadata we do not need, and
    # this runs on every /resume and /stop.
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=kickoff_id)
    )
    try:
        response = await client.workflow_service.describe_workflow_execution(request)
    except RPCError as err:
        if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            raise ApiError(404, f"no run with id {kickoff_id!r}") from None
        raise
    return run_info(kickoff_id, response.workflow_execution_info)


async def query_status(client: Client, kickoff_id: str, timeout: float) -> StatusDocument:
    """The status document from the run itself, or from server-side state when no worker
    answers in time (then `degraded` says so)."""
    handle = client.get_workflow_handle(kickoff_id)
    rpc_timeout = timedelta(seconds=timeout)
    try:
        try:
            # Rejected (at no cost to open runs) when the run was closed from outside:
            # then its own record still says where it stood, not that it ended.
            return await handle.query(
                "status",
                result_type=StatusDocument,
                reject_condition=QueryRejectCondition.NOT_COMPLETED_CLEANLY,
                rpc_timeout=rpc_timeout,
            )
        except WorkflowQueryRejectedError as rejected:
            document = await handle.query(
                "status", result_type=StatusDocument, rpc_timeout=rpc_timeout
            )
            return closed_from_outside(document, rejected.status)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(404, f"no run with id {kickoff_id!r}") from None
        reason = f"no worker answered the status query ({err.message})"
    except WorkflowQueryFailedError as err:
        reason = f"the run could not answer the status query ({err.message})"
    info = await describe_run(client, kickoff_id)
    return await status_from_server(client, info, reason)


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


class RunQueryError(Exception):
    """The run did not answer a query (no worker, or it could not)."""


async def query_events(
    client: Client, kickoff_id: str, after: str | None, timeout: float
) -> EventsPage:
    return await ask_run(client, kickoff_id, "events", after, EventsPage, timeout)


async def query_decision(
    client: Client, kickoff_id: str, decision_id: str, timeout: float
) -> AuditEntry | None:
    """What came of a resume, from the run's audit: None while the run has not received it."""
    result_type: Any = AuditEntry | None
    return await ask_run(client, kickoff_id, "decision", decision_id, result_type, timeout)


async def ask_run(
    client: Client, kickoff_id: str, query: str, arg: Any, result_type: type[T], timeout: float
) -> T:
    """A query with one argument; RunQueryError when no worker answers or the run cannot."""
    handle = client.get_workflow_handle(kickoff_id)
    try:
        return await handle.query(
            query, arg, result_type=result_type, rpc_timeout=timedelta(seconds=timeout)
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(404, f"no run with id {kickoff_id!r}") from None
        raise RunQueryError(err.message) from None
    except WorkflowQueryFailedError as err:
        raise RunQueryError(err.message) from None


async def status_from_server(client: Client, info: RunInfo, reason: str) -> StatusDocument:
    handle = client.get_workflow_handle(info.kickoff_id, result_type=StatusDocument)
    doc = StatusDocument(
        kickoff_id=info.kickoff_id,
        crew=info.crew,
        state=info.state,
        current_task=info.pending_task,
        pending_human_input=(
            PendingHumanInput(task_id=info.pending_task)
            if info.pending_task and info.state == RunState.PENDING_HUMAN_INPUT
            else None
        ),
        degraded=reason,
    )
    if info.closed:
        try:
            final = await handle.result(follow_runs=False)
            return final.model_copy(update={"degraded": reason})
        except WorkflowFailureError as err:
            cause = err.cause
            doc.error = getattr(cause, "message", None) or str(cause)
    return doc


async def workers_polling(client: Client, task_queue: str) -> int:
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        ),
        timeout=timedelta(seconds=3),
    )
    return len(response.pollers)
