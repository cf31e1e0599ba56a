"""A reviewer's decision, from POST /resume or the inbox: checked against the run as the server
sees it, sent to the run as the `decide` update, and answered with what the run made of it.
The pre-checks let a caller hear at once (409) that the run has moved on; the run's verdict
catches the rest (two reviewers deciding the same round at once: the second hears 409 too).
With an Idempotency-Key, a retry is answered from the first attempt's verdict and never
applied again."""

from __future__ import annotations

import logging
from datetime import timedelta

from fastapi import Request
from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)

from crew_hitl.api.errors import ApiError
from crew_hitl.api.idempotency import decision_id_for
from crew_hitl.api.runs import (
    RunInfo,
    RunQueryError,
    describe_run,
    query_decision,
    query_status,
)
from crew_hitl.api.webhook_fields import check_webhook_urls, seal_webhooks
from crew_hitl.crew.messages import (
    AuditEntry,
    ResumeRequest,
    ResumeResponse,
    ResumeSignal,
    RunState,
)

log = logging.getLogger("crew_hitl.api")


async def resume_run(
    request: Request, body: ResumeRequest, reviewer: str, key: str | None = None
) -> ResumeResponse:
    await check_webhook_urls(request, body)
    client: Client = await request.app.state.temporal.client()
    timeout: float = request.app.state.settings.status_query_timeout
    decision_id = decision_id_for(reviewer, key)
    if key is not None and (earlier := await verdict_now(client, body, decision_id, timeout)):
        return answer(body, decision_id, earlier, reviewer)
    try:
        await check_still_waiting(client, body, timeout)
    except ApiError as err:
        # A retry racing its own first attempt may find the run moved on by that attempt.
        if key is None or err.status != 409:
            raise
        if (earlier := await verdict_now(client, body, decision_id, timeout)) is None:
            raise
        return answer(body, decision_id, earlier, reviewer)
    signal = ResumeSignal(
        task_id=body.task_id,
        is_approve=body.is_approve,
        human_feedback=body.human_feedback,
        round=body.round,
        reviewer=reviewer,
        decision_id=decision_id,
        webhooks=seal_webhooks(request.app.state.box, body),
    )
    verdict = await send_decision(client, body.execution_id, signal, timeout)
    return answer(body, decision_id, verdict, reviewer)


async def send_decision(
    client: Client, kickoff_id: str, signal: ResumeSignal, timeout: float
) -> AuditEntry | None:
    """The `decide` update, answered by the run with its verdict. If no worker takes it in
    time (or the worker does not know the update), the `resume` signal carries the decision
    instead: the server keeps a signal until a worker comes, and the run applies the
    decision once, whichever of the two reaches it (they share the decision_id)."""
    handle = client.get_workflow_handle(kickoff_id)
    try:
        return await handle.execute_update(
            "decide",
            signal,
            id=signal.decision_id,
            result_type=AuditEntry,
            rpc_timeout=timedelta(seconds=timeout),
        )
    except (WorkflowUpdateRPCTimeoutOrCancelledError, WorkflowUpdateFailedError) as err:
        log.info("resume %s: no verdict (%s); sending it as a signal", kickoff_id, err)
    await handle.signal("resume", signal)
    return None


async def verdict_now(
    client: Client, body: ResumeRequest, decision_id: str, timeout: float
) -> AuditEntry | None:
    """The run's verdict on this decision if it has one; None if not, or no worker answers."""
    try:
        earlier = await query_decision(client, body.execution_id, decision_id, timeout)
    except RunQueryError:
        return None
    if earlier is not None:
        log.info("resume %s: a retry of %s", body.execution_id, decision_id)
    return earlier


async def check_still_waiting(client: Client, body: ResumeRequest, timeout: float) -> None:
    check_waiting(await describe_run(client, body.execution_id), body)
    if body.round is not None:
        await check_round(client, body, timeout)


UNCONFIRMED = (
    " (no worker has confirmed it yet: it applies when one picks the run up, unless the run"
    " has moved on by then)"
)


def answer(
    body: ResumeRequest, decision_id: str, verdict: AuditEntry | None, reviewer: str
) -> ResumeResponse:
    """200 for a decision applied, or not seen by a worker yet (it applies if it still can);
    409 with the run's reason for one it did not apply."""
    decision = "approved" if body.is_approve else "rejected"
    if verdict is not None and (verdict.task_id, verdict.decision) != (body.task_id, decision):
        raise ApiError(
            422,
            f"Idempotency-Key: already used for {verdict.decision} {verdict.task_id!r}; "
            "use a new key for another decision",
        )
    if verdict is None:
        outcome = "not confirmed yet"
    else:
        outcome = "applied" if verdict.applied else f"not applied: {verdict.reason}"
    log.info(
        "resume %s: %s %s by %s, %s", body.execution_id, body.task_id, decision, reviewer, outcome
    )
    if verdict is not None and not verdict.applied:
        raise ApiError(
            409, f"the run did not apply this decision: {verdict.reason}", decision_id=decision_id
        )
    note = "" if verdict is not None else UNCONFIRMED
    if body.is_approve:
        status, message = "resumed", f"{body.task_id} approved; the run continues{note}"
    else:
        status, message = (
            "retrying",
            f"{body.task_id} rejected; it runs again with the feedback{note}",
        )
    return ResumeResponse(
        status=status, message=message, decision_id=decision_id, confirmed=verdict is not None
    )


def check_waiting(info: RunInfo, body: ResumeRequest) -> None:
    if info.finished or info.state != RunState.PENDING_HUMAN_INPUT:
        raise ApiError(
            409, f"run {body.execution_id} is {info.state.value}; no task is waiting for input"
        )
    if info.pending_task != body.task_id:
        raise ApiError(
            409, f"task {body.task_id!r} is not waiting for input; {info.pending_task!r} is"
        )


async def check_round(client: Client, body: ResumeRequest, timeout: float) -> None:
    """409 when the run waits for another round than the one decided on. Without a worker to
    answer, the round cannot be seen here; the run ignores a stale one when it gets it."""
    status = await query_status(client, body.execution_id, timeout)
    pending = status.pending_human_input
    if status.degraded:
        return
    if pending is None:
        raise ApiError(
            409, f"run {body.execution_id} is {status.state.value}; no task is waiting for input"
        )
    if pending.task_id != body.task_id or pending.round != body.round:
        raise ApiError(
            409,
            f"round {body.round} of {body.task_id!r} is no longer waiting for input; "
            f"round {pending.round} of {pending.task_id!r} is",
        )
