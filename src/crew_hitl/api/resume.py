"""A reviewer's decision, from POST /resume or the inbox: checked against the run as the server
and the run itself see it, then sent as the `resume` signal. The run still judges the signal;
these checks let a caller hear at once (409) that the run has moved on."""

from __future__ import annotations

import logging

from fastapi import Request
from temporalio.client import Client

from crew_hitl.api.errors import ApiError
from crew_hitl.api.runs import RunInfo, describe_run, query_status
from crew_hitl.api.webhook_fields import check_webhook_urls, seal_webhooks
from crew_hitl.crew.messages import ResumeRequest, ResumeResponse, ResumeSignal, RunState

log = logging.getLogger("crew_hitl.api")


async def resume_run(request: Request, body: ResumeRequest, reviewer: str) -> ResumeResponse:
    await check_webhook_urls(request, body)
    client: Client = await request.app.state.temporal.client()
    check_waiting(await describe_run(client, body.execution_id), body)
    if body.round is not None:
        await check_round(request, client, body)
    signal = ResumeSignal(
        task_id=body.task_id,
        is_approve=body.is_approve,
        human_feedback=body.human_feedback,
        round=body.round,
        reviewer=reviewer,
        webhooks=seal_webhooks(request.app.state.box, body),
    )
    await client.get_workflow_handle(body.execution_id).signal("resume", signal)
    decision = "approved" if body.is_approve else "rejected"
    log.info("resume %s: %s %s by %s", body.execution_id, body.task_id, decision, reviewer)
    if body.is_approve:
        return ResumeResponse(
            status="resumed", message=f"{body.task_id} approved; the run continues"
        )
    return ResumeResponse(
        status="retrying", message=f"{body.task_id} rejected; it runs again with the feedback"
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


async def check_round(request: Request, client: Client, body: ResumeRequest) -> None:
    """409 when the run waits for another round than the one decided on. Without a worker to
    answer, the round cannot be seen here; the run ignores a stale one when it gets it."""
    timeout = request.app.state.settings.status_query_timeout
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
