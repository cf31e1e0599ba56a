"""A reviewer's decision, from POST /resume or the inbox: checked against the run as the server
sees it, sent to the run as the `decide` update, and answered with what the run made of it.
The pre-checks let a caller hear at once (409) that the run has moved on; the run's verdict
catches the rest (two reviewers deciding the same round at once: the second hears 409 too).
With an Idempotency-Key, a retry is answered from the first attempt's verdict and never
applied again."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import Request
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError, RPCStatusCode

from api.errors import ApiError
from api.idempotency import decision_id_for
from api.runs import (
    RunInfo,
    RunQueryError,
    describe_run,
    query_decision,
    query_status,
)
from api.webhook_fields import check_webhook_urls, seal_webhooks
from crew_hitl.contracts.history import ResumeSignal
from crew_hitl.contracts.http import ResumeRequest, ResumeResponse
from crew_hitl.contracts.status import AuditEntry, RunState, Verdict

log = logging.getLogger("crew_hitl.api")


async def resume_run(
    request: Request, body: ResumeRequest, reviewer: str, key: str | None = None
) -> ResumeResponse:
    await check_webhook_urls(request, body)
    client: Client = await request.app.state.temporal.client()
    timeout: float = request.app.state.settings.status_query_timeout
    decision_id = decision_id_for(reviewer, key)
    try:
        worker_answered = await check_still_waiting(client, body, timeout)
    except ApiError as err:
        # A retry may find the run moved on by its own first attempt: answer as that one was.
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
    handle = client.get_workflow_handle(body.execution_id)
    verdict = await ask_run_to_decide(handle, signal, timeout) if worker_answered else None
    if verdict is None:
        # No worker took it: the signal, which the server keeps until one comes, carries it.
        await handle.signal("resume", signal)
    return answer(body, decision_id, verdict, reviewer)


async def ask_run_to_decide(
    handle: WorkflowHandle[Any, Any], signal: ResumeSignal, timeout: float
) -> AuditEntry | None:
    """The `decide` update, answered by the run with its verdict; None when no worker took it
    within `timeout` (or the worker does not know the update, or the server holds too many
    for this run). Whichever reaches the run, this update or the signal sent after it, the
    run applies the decision once: both carry the decision_id, which is also the update's id
    (the server answers a repeated one with the first outcome)."""
    update = asyncio.ensure_future(
        handle.execute_update("decide", signal, id=signal.decision_id, result_type=AuditEntry)
    )
    update.add_done_callback(lambda task: task.cancelled() or task.exception())
    done, _ = await asyncio.wait({update}, timeout=timeout)
    if not done:
        update.cancel()
        log.info("resume %s: no worker took the decision in %.1fs", handle.id, timeout)
        return None
    try:
        return update.result()
    except (WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError) as err:
        log.info("resume %s: the update failed (%s)", handle.id, err)
    except RPCError as err:
        if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            raise  # a closed run (409), or a request Temporal refuses (422)
        log.info("resume %s: the update was refused (%s)", handle.id, err.message)
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


async def check_still_waiting(client: Client, body: ResumeRequest, timeout: float) -> bool:
    """409 unless the task (and the round, when given) waits for input. False when it took
    asking a worker and none answered."""
    check_waiting(await describe_run(client, body.execution_id), body)
    if body.round is None:
        return True
    return await check_round(client, body, timeout)


UNCONFIRMED = (
    " (no worker has confirmed it yet: it applies when one picks the run up, unless the run"
    " has moved on by then)"
)


def answer(
    body: ResumeRequest, decision_id: str, verdict: AuditEntry | None, reviewer: str
) -> ResumeResponse:
    """200 for a decision applied, or not seen by a worker yet (it applies if it still can);
    409 with the run's reason for one it did not apply."""
    decision = Verdict.of(body.is_approve)
    if verdict is not None and not same_decision(verdict, body):
        raise ApiError(
            422,
            f"Idempotency-Key: already used for {verdict.decision} {verdict.task_id!r}"
            f"{'' if verdict.round is None else f' round {verdict.round}'}; "
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


def same_decision(verdict: AuditEntry, body: ResumeRequest) -> bool:
    """Whether the decision the run took under this id is the one asked for now."""
    rounds_agree = body.round is None or verdict.round in (None, body.round)
    same_choice = verdict.decision == Verdict.of(body.is_approve)
    return verdict.task_id == body.task_id and same_choice and rounds_agree


def check_waiting(info: RunInfo, body: ResumeRequest) -> None:
    if info.finished or info.state != RunState.PENDING_HUMAN_INPUT:
        raise ApiError(
            409, f"run {body.execution_id} is {info.state.value}; no task is waiting for input"
        )
    if info.pending_task != body.task_id:
        raise ApiError(
            409, f"task {body.task_id!r} is not waiting for input; {info.pending_task!r} is"
        )


async def check_round(client: Client, body: ResumeRequest, timeout: float) -> bool:
    """409 when the run waits for another round than the one decided on. Without a worker to
    answer (then False), the round cannot be seen here; the run ignores a stale one when it
    gets it."""
    status = await query_status(client, body.execution_id, timeout)
    pending = status.pending_human_input
    if status.degraded:
        return False
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
    return True
