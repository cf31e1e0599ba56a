"""The one way the API and the inbox reach Temporal: start, describe, status, events, decide,
list, stop. One client per process, connected at start-up and again on demand when Temporal
was not up yet. Temporal's errors leave here as Failures (api/failures.py), never as RPCError.
Signals, updates and queries are named as crew_hitl/contracts/handlers.py names them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    DescribeWorkflowExecutionRequest,
    GetWorkflowExecutionHistoryRequest,
    ListWorkflowExecutionsRequest,
)
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    QueryRejectCondition,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.failures import (
    Failure,
    InvalidRequest,
    NotAssigned,
    NotFound,
    RunMovedOn,
    TemporalUnavailable,
    TooLarge,
)
from api.listing import (
    MAX_PAGE_SIZE,
    ListedRun,
    RunFilter,
    RunsPage,
    decode_page_token,
    encode_page_token,
    listed_run,
    visibility_query,
)
from api.run_info import RunInfo, closed_from_outside, run_info, status_from_server
from api.traces import RUN_TRACE, current_trace_context, run_trace_context
from crew_hitl import WORKFLOW_TYPE
from crew_hitl import search_attributes as sa
from crew_hitl.contracts import handlers as h
from crew_hitl.contracts.history import CrewRunInput, ResumeSignal
from crew_hitl.contracts.status import (
    TERMINAL_STATES,
    AuditEntry,
    EventsPage,
    RunState,
    StatusDocument,
    Verdict,
)
from crew_hitl.settings import Settings
from crew_hitl.text import run_summary
from crew_hitl.tracing import Tracing

log = logging.getLogger("crew_hitl.api")
CONNECT_TIMEOUT = 5.0
# Rows of a listing ask their runs for round and times; a run slow to answer is shown without.
ROW_QUERY_TIMEOUT = 1.0
QUERY_CONCURRENCY = 8
# Runs asked of visibility per call when listing many (its own limit is 1,000 a page).
LIST_BATCH = 500
COUNT_TIMEOUT = timedelta(seconds=3)
FINGERPRINT = "kickoff_fingerprint"
TRANSIENT = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
}


# The last event of a run's history: after one of these, a follower starts again on the run
# that continued it, or stops.
CLOSING_EVENTS = frozenset(
    {
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    }
)


@dataclass(frozen=True)
class HistoryPage:
    events: int
    next_page_token: bytes
    closed: bool


class RunNotAnswering(Exception):
    """The run did not answer a query: no worker took it in time, or the run could not."""


def too_large_for_temporal(err: RPCError) -> bool:
    """A request under CREW_HITL_MAX_REQUEST_BYTES can still make a larger run input (each crew
    input is filled into every task that names it): over Temporal's blob limit, or gRPC's
    message limit, which is not an outage."""
    return "size exceeds limit" in err.message or "larger than max" in err.message


def failure_of(err: RPCError, kickoff_id: str, missing_run: type[Failure]) -> Failure:
    """Temporal's refusal as a Failure. A missing run is NotFound when asked about, RunMovedOn
    when acted on (it closed between the API's check and its signal or cancel)."""
    if err.status == RPCStatusCode.NOT_FOUND:
        if missing_run is NotFound:
            return NotFound(f"no run with id {kickoff_id!r}")
        return RunMovedOn(f"the run is no longer open: {err.message}")
    if too_large_for_temporal(err):
        return TooLarge(f"too large for Temporal: {err.message}")
    if err.status == RPCStatusCode.INVALID_ARGUMENT:
        if missing_run is NotFound:
            return NotFound(f"no run with id {kickoff_id!r}")
        return InvalidRequest(f"Temporal refused it: {err.message}")
    return TemporalUnavailable(f"Temporal: {err.message}")


@contextmanager
def translated(kickoff_id: str = "", missing_run: type[Failure] = NotFound) -> Iterator[None]:
    try:
        yield
    except RPCError as err:
        failure = failure_of(err, kickoff_id, missing_run)
        if isinstance(failure, TemporalUnavailable):
            log.warning("Temporal call failed: %s", err.message)
        raise failure from None


class TemporalGateway:
    def __init__(self, settings: Settings, tracing: Tracing | None = None) -> None:
        self._settings = settings
        self._tracing = tracing
        self._client: Client | None = None
        self._lock = asyncio.Lock()
        self.query_timeout = settings.status_query_timeout

    # ------------------------------------------------------------ the connection

    async def client(self) -> Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                self._client = await self._connect()
        return self._client

    async def try_connect(self) -> None:
        try:
            await self.client()
        except TemporalUnavailable as err:
            log.warning("%s; will try again on the next request", err.message)

    async def _connect(self) -> Client:
        address = self._settings.temporal_address
        try:
            return await asyncio.wait_for(
                Client.connect(
                    address,
                    namespace=self._settings.temporal_namespace,
                    data_converter=pydantic_data_converter,
                    interceptors=self._tracing.temporal_interceptors() if self._tracing else [],
                ),
                CONNECT_TIMEOUT,
            )
        except (RuntimeError, TimeoutError) as err:
            raise TemporalUnavailable(f"Temporal at {address} does not answer: {err}") from None

    async def _handle(self, kickoff_id: str) -> WorkflowHandle[Any, Any]:
        return (await self.client()).get_workflow_handle(kickoff_id)

    # ------------------------------------------------------------ starting and stopping

    async def start(self, run: CrewRunInput, fingerprint: str | None = None) -> bool:
        """Start the run; False when its kickoff id is taken (a retried Idempotency-Key).
        `fingerprint`, kept in the run's memo, says which request started it; so does the
        request's trace context when tracing is on (api/traces.py)."""
        client = await self.client()
        memo: dict[str, Any] = {FINGERPRINT: fingerprint} if fingerprint else {}
        if self._tracing is not None and (trace_context := current_trace_context()):
            memo[RUN_TRACE] = trace_context
        try:
            with translated(run.kickoff_id, InvalidRequest):
                await client.start_workflow(
                    WORKFLOW_TYPE,
                    run,
                    result_type=StatusDocument,
                    id=run.kickoff_id,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    task_queue=self._settings.task_queue,
                    search_attributes=TypedSearchAttributes(
                        [
                            SearchAttributePair(sa.CREW_NAME, run.crew.name),
                            SearchAttributePair(sa.CREW_STATE, RunState.RUNNING.value),
                        ]
                    ),
                    static_summary=run_summary(run.crew.name, run.inputs),
                    memo=memo or None,
                )
        except WorkflowAlreadyStartedError:
            return False
        return True

    async def kickoff_fingerprint(self, kickoff_id: str) -> str | None:
        """The fingerprint of the request that started this run, if it kept one."""
        handle = await self._handle(kickoff_id)
        with translated(kickoff_id):
            described = await handle.describe()
        value = (await described.memo()).get(FINGERPRINT)
        return value if isinstance(value, str) else None

    async def stop(self, kickoff_id: str) -> None:
        """Cancel a run that has not finished (RunMovedOn when it has)."""
        info = await self.describe(kickoff_id)
        if info.finished:
            raise RunMovedOn(f"run {kickoff_id} already finished ({info.state.value})")
        handle = await self._handle(kickoff_id)
        with translated(kickoff_id, RunMovedOn):
            await handle.cancel()

    # ------------------------------------------------------------ asking about a run

    async def describe(self, kickoff_id: str) -> RunInfo:
        """The run as the server sees it, without asking a worker. The raw call: the SDK's
        describe() also decodes memo and metadata we do not need, on every /resume and /stop."""
        client = await self.client()
        request = DescribeWorkflowExecutionRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=kickoff_id)
        )
        with translated(kickoff_id):
            response = await client.workflow_service.describe_workflow_execution(request)
        info = response.workflow_execution_info
        if info.type.name != WORKFLOW_TYPE:
            # Another application's workflow in the namespace: not ours to show or stop.
            raise NotFound(f"no run with id {kickoff_id!r}")
        found = run_info(kickoff_id, info)
        if self._tracing is not None:
            found.trace_context = run_trace_context(info.memo)
        return found

    async def status(self, kickoff_id: str) -> StatusDocument:
        """The status document from the run itself, or from server-side state when no worker
        answers in time (then `degraded` says so)."""
        handle = await self._handle(kickoff_id)
        rpc_timeout = timedelta(seconds=self.query_timeout)
        try:
            try:
                # Rejected (at no cost to open runs) when the run was closed from outside:
                # then its own record still says where it stood, not that it ended.
                return await handle.query(
                    h.STATUS_QUERY,
                    result_type=StatusDocument,
                    reject_condition=QueryRejectCondition.NOT_COMPLETED_CLEANLY,
                    rpc_timeout=rpc_timeout,
                )
            except WorkflowQueryRejectedError as rejected:
                document = await handle.query(
                    h.STATUS_QUERY, result_type=StatusDocument, rpc_timeout=rpc_timeout
                )
                return closed_from_outside(document, rejected.status)
        except RPCError as err:
            # No worker in time is an answer here (degraded), not an outage worth a warning.
            if err.status == RPCStatusCode.NOT_FOUND:
                raise NotFound(f"no run with id {kickoff_id!r}") from None
            reason = f"no worker answered the status query ({err.message})"
        except WorkflowQueryFailedError as err:
            reason = f"the run could not answer the status query ({err.message})"
        info = await self.describe(kickoff_id)
        final, error = await self._final_status(info) if info.closed else (None, None)
        return status_from_server(info, reason, final, error)

    async def _final_status(self, info: RunInfo) -> tuple[StatusDocument | None, str | None]:
        """A closed run's result document, or the error it failed with."""
        handle = (await self.client()).get_workflow_handle(
            info.kickoff_id, result_type=StatusDocument
        )
        try:
            with translated(info.kickoff_id):
                return await handle.result(follow_runs=False), None
        except WorkflowFailureError as err:
            cause = err.cause
            return None, getattr(cause, "message", None) or str(cause)

    async def status_or_none(
        self, kickoff_id: str, timeout: float = ROW_QUERY_TIMEOUT
    ) -> StatusDocument | None:
        """The run's own status document, or None when it does not answer within `timeout`."""
        try:
            return await self._ask(kickoff_id, h.STATUS_QUERY, StatusDocument, None, timeout)
        except (RunNotAnswering, Failure):
            return None

    async def history_page(self, kickoff_id: str, token: bytes, wait_seconds: float) -> HistoryPage:
        """One page of the current run's history after `token` (from its start without one).
        At the end of an open run the server holds the call until new events come (up to
        about 20 s, or `wait_seconds`), then answers with them, or with none, and a token to
        go on from."""
        client = await self.client()
        request = GetWorkflowExecutionHistoryRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=kickoff_id),
            next_page_token=token,
            wait_new_event=True,
            skip_archival=True,
        )
        with translated(kickoff_id, NotFound):
            answer = await client.workflow_service.get_workflow_execution_history(
                request, retry=True, timeout=timedelta(seconds=wait_seconds)
            )
        events = list(answer.history.events)
        closed = bool(events) and events[-1].event_type in CLOSING_EVENTS
        return HistoryPage(len(events), answer.next_page_token, closed)

    async def events(self, kickoff_id: str, after: str | None) -> EventsPage:
        """The run's events after the one with this id; RunNotAnswering when no worker does."""
        return await self._ask(kickoff_id, h.EVENTS_QUERY, EventsPage, after, self.query_timeout)

    async def decision(self, kickoff_id: str, decision_id: str) -> AuditEntry | None:
        """What came of a resume, from the run's audit: None while the run has not received it;
        RunNotAnswering when no worker does."""
        return await self._ask(
            kickoff_id, h.DECISION_QUERY, AuditEntry | None, decision_id, self.query_timeout
        )

    async def _ask(
        self, kickoff_id: str, query: str, result_type: Any, arg: Any, timeout: float
    ) -> Any:
        handle = await self._handle(kickoff_id)
        rpc_timeout = timedelta(seconds=timeout)
        args = [] if arg is None else [arg]
        try:
            return await handle.query(
                query, args=args, result_type=result_type, rpc_timeout=rpc_timeout
            )
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise NotFound(f"no run with id {kickoff_id!r}") from None
            raise RunNotAnswering(err.message) from None
        except WorkflowQueryFailedError as err:
            raise RunNotAnswering(err.message) from None

    async def workers_polling(self, task_queue: str | None = None) -> int:
        """Workers that polled the queue's workflow tasks lately (the server keeps a poller for
        minutes after its last poll); the configured queue unless another is named."""
        client = await self.client()
        with translated():
            response = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(name=task_queue or self._settings.task_queue),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                ),
                timeout=timedelta(seconds=3),
            )
        return len(response.pollers)

    # ------------------------------------------------------------ deciding

    async def decide(
        self, kickoff_id: str, decision: ResumeSignal, patience: float | None = None
    ) -> AuditEntry | None:
        """The `decide` update, answered by the run with its verdict; None when no worker took
        it within `patience` seconds (the query timeout unless given), or the worker does not
        know the update, or the server holds too many for this run. Whichever reaches the run,
        this update or the signal sent after it, the run applies the decision once: both carry
        the decision_id, which is also the update's id (the server answers a repeated one with
        the first outcome, so asking again is how to wait longer)."""
        handle = await self._handle(kickoff_id)
        update = asyncio.ensure_future(
            handle.execute_update(
                h.DECIDE_UPDATE, decision, id=decision.decision_id, result_type=AuditEntry
            )
        )
        update.add_done_callback(lambda task: task.cancelled() or task.exception())
        # One overall deadline: the SDK sends an update again while the server only admits it,
        # so an rpc_timeout alone could wait for ever.
        patience = self.query_timeout if patience is None else patience
        done, _ = await asyncio.wait({update}, timeout=patience)
        if not done:
            update.cancel()
            log.info("resume %s: no worker took the decision in %.1fs", kickoff_id, patience)
            return None
        try:
            return update.result()
        except WorkflowUpdateFailedError as err:
            if (refusal := refused_decision(err, decision)) is not None:
                return refusal
            log.info("resume %s: the update failed (%s)", kickoff_id, err)
        except WorkflowUpdateRPCTimeoutOrCancelledError as err:
            log.info("resume %s: the update failed (%s)", kickoff_id, err)
        except RPCError as err:
            if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
                raise failure_of(err, kickoff_id, RunMovedOn) from None
            log.info("resume %s: the update was refused (%s)", kickoff_id, err.message)
        return None

    async def send_decision(self, kickoff_id: str, decision: ResumeSignal) -> None:
        """The `resume` signal: the server keeps it until a worker takes it."""
        handle = await self._handle(kickoff_id)
        with translated(kickoff_id, RunMovedOn):
            await handle.signal(h.RESUME_SIGNAL, decision)

    # ------------------------------------------------------------ listing

    async def list_runs(
        self, run_filter: RunFilter, page_size: int, page_token: str | None
    ) -> RunsPage:
        """One page of runs, newest first (Temporal's order for open runs: start time, latest
        first)."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidRequest(f"page_size: between 1 and {MAX_PAGE_SIZE}")
        client = await self.client()
        request = ListWorkflowExecutionsRequest(
            namespace=client.namespace,
            page_size=page_size,
            next_page_token=decode_page_token(page_token),
            query=visibility_query(run_filter),
        )
        try:
            response = await client.workflow_service.list_workflow_executions(request)
        except RPCError as err:
            if page_token and err.status not in TRANSIENT:
                # Temporal answers a token it cannot read with an unspecific error.
                raise InvalidRequest("next_page_token: not a token this API gave out") from None
            raise failure_of(err, "", InvalidRequest) from None
        runs = [listed_run(info) for info in response.executions]
        return RunsPage(runs=runs, next_page_token=encode_page_token(response.next_page_token))

    async def list_matching(self, query: str, limit: int) -> tuple[list[ListedRun], bool]:
        """Up to `limit` runs of a visibility query, in Temporal's order (open runs first, then
        the latest closed); True when more matched."""
        client = await self.client()
        runs: list[ListedRun] = []
        token = b""
        while True:
            # One more than `limit` in all, to know whether more matched.
            request = ListWorkflowExecutionsRequest(
                namespace=client.namespace,
                page_size=min(LIST_BATCH, limit + 1 - len(runs)),
                next_page_token=token,
                query=query,
            )
            with translated():
                response = await client.workflow_service.list_workflow_executions(request)
            runs.extend(listed_run(info) for info in response.executions)
            token = response.next_page_token
            if len(runs) > limit:
                return runs[:limit], True
            if not token:
                return runs, False

    async def finished_status(self, run: ListedRun) -> StatusDocument | None:
        """A closed run's last status document as the run kept it (where it stood, for one
        closed from outside), or None when no worker answered. A run that completed returned
        it as its result, read from the server without replaying the run; any other is asked
        (a worker replays it)."""
        kickoff_id = run.info.kickoff_id
        if run.info.state == RunState.SUCCESS:
            handle = (await self.client()).get_workflow_handle(
                kickoff_id, run_id=run.run_id or None, result_type=StatusDocument
            )
            try:
                with translated(kickoff_id):
                    return await handle.result(follow_runs=False)
            except WorkflowFailureError:
                pass  # closed from outside after it published its end: ask it instead
        try:
            return await self._ask(
                kickoff_id, h.STATUS_QUERY, StatusDocument, None, self.query_timeout
            )
        except RunNotAnswering:
            return None

    async def count_runs(self, query: str) -> int:
        """How many runs a visibility query matches (one call; no run is asked)."""
        client = await self.client()
        with translated("", InvalidRequest):
            counted = await client.count_workflows(query, rpc_timeout=COUNT_TIMEOUT)
        return counted.count

    async def add_statuses(self, runs: list[ListedRun]) -> None:
        """Ask each open run on the page for its status document (a few at a time). A run that
        does not answer in time keeps `status` None; closed runs are not asked, since answering
        would mean replaying their whole history."""
        limit = asyncio.Semaphore(QUERY_CONCURRENCY)

        async def ask(run: ListedRun) -> None:
            async with limit:
                run.status = await self.status_or_none(run.info.kickoff_id)

        await asyncio.gather(
            *(
                ask(run)
                for run in runs
                if not run.info.closed and run.info.state not in TERMINAL_STATES
            )
        )


# What a refusal of the `decide` update's validator is to a caller, besides a stale decision
# (a 409 with the run's reason, made by api/decisions.py from the verdict below).
REFUSALS: dict[str | None, type[Failure]] = {
    h.NOT_ASSIGNED: NotAssigned,
    h.EDIT_REFUSED: InvalidRequest,
}


def refused_decision(err: WorkflowUpdateFailedError, decision: ResumeSignal) -> AuditEntry | None:
    """The run's verdict on a decision its validator refused (nothing was written to its
    history, so it is in no audit): not applied, with the reason."""
    cause = err.cause
    if not isinstance(cause, ApplicationError):
        return None
    if cause.type in REFUSALS:
        raise REFUSALS[cause.type](cause.message)
    if cause.type != h.DECISION_REFUSED:
        return None
    return AuditEntry(
        at=datetime.now(UTC),
        reviewer=decision.reviewer,
        task_id=decision.task_id,
        round=decision.round,
        decision=Verdict.of(decision.is_approve),
        applied=False,
        reason=cause.message,
        decision_id=decision.decision_id,
        source=decision.origin(),
    )
