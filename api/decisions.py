"""A reviewer's decision, from POST /resume or the inbox: checked against the run as the server
sees it, sent to the run as the `decide` update, and answered with what the run made of it.
The pre-checks let a caller hear at once (RunMovedOn, 409) that the run has moved on; the run's
verdict catches the rest (two reviewers deciding the same round at once: the second hears 409
too). With an Idempotency-Key, a retry is answered from the first attempt's verdict and never
applied again."""

from __future__ import annotations

import logging

from api.attestation import attestation
from api.dependencies import Services
from api.failures import Failure, InvalidRequest, RunMovedOn
from api.gateway import RunNotAnswering, TemporalGateway
from api.idempotency import decision_id_for
from api.run_info import RunInfo
from api.traces import decision_span
from api.webhook_fields import check_webhook_urls, seal_webhooks
from crew_hitl.contracts.history import ResumeSignal
from crew_hitl.contracts.http import ResumeRequest, ResumeResponse
from crew_hitl.contracts.status import AuditEntry, DecisionSource, RunState, Verdict
from crew_hitl.spec import CrewRegistry

log = logging.getLogger("crew_hitl.api")


async def resume_run(
    services: Services,
    body: ResumeRequest,
    reviewer: str,
    key: str | None = None,
    source: DecisionSource = DecisionSource.API,
) -> ResumeResponse:
    await check_webhook_urls(services.guard, body)
    limit = services.settings.max_output_bytes
    if body.edited_output is not None and len(body.edited_output.encode()) > limit:
        raise InvalidRequest(f"edited_output: over CREW_HITL_MAX_OUTPUT_BYTES ({limit} bytes)")
    info = await services.gateway.describe(body.execution_id)
    with decision_span(services.tracing, info.trace_context, body, source):
        return await apply_decision(services, info, body, reviewer, key, source)


async def apply_decision(
    services: Services,
    info: RunInfo,
    body: ResumeRequest,
    reviewer: str,
    key: str | None,
    source: DecisionSource,
) -> ResumeResponse:
    gateway = services.gateway
    decision_id = decision_id_for(reviewer, key)
    try:
        worker_answered = await check_still_waiting(gateway, info, body, services.crews)
    except RunMovedOn:
        # A retry may find the run moved on by its own first attempt: answer as that one was.
        if key is None or (earlier := await verdict_now(gateway, body, decision_id)) is None:
            raise
        return answer(body, decision_id, earlier, reviewer)
    decision = ResumeSignal(
        task_id=body.task_id,
        is_approve=body.is_approve,
        human_feedback=body.human_feedback,
        round=body.round,
        reviewer=reviewer,
        edited_output=body.edited_output,
        decision_id=decision_id,
        webhooks=seal_webhooks(services.box, body),
        source=source,
        keyed=key is not None,
        attestation=attestation(
            services.box,
            body.execution_id,
            decision_id,
            reviewer,
            source,
            body.task_id,
            body.is_approve,
        ),
    )
    verdict = await gateway.decide(body.execution_id, decision) if worker_answered else None
    if verdict is None:
        # No worker took it: the signal, which the server keeps until one comes, carries it.
        await gateway.send_decision(body.execution_id, decision)
    return answer(body, decision_id, verdict, reviewer)


async def verdict_now(
    gateway: TemporalGateway, body: ResumeRequest, decision_id: str
) -> AuditEntry | None:
    """The run's verdict on this decision if it has one; None if not, or no worker answers."""
    try:
        earlier = await gateway.decision(body.execution_id, decision_id)
    except (RunNotAnswering, Failure):
        return None
    if earlier is not None:
        log.info("resume %s: a retry of %s", body.execution_id, decision_id)
    return earlier


async def check_still_waiting(
    gateway: TemporalGateway, info: RunInfo, body: ResumeRequest, crews: CrewRegistry
) -> bool:
    """RunMovedOn unless the task (and the round, when given) waits for input in the run as
    described, naming the crew's tasks when it has no such task. False when it took asking a
    worker and none answered."""
    check_known_task(crews, info, body)
    check_waiting(info, body)
    if body.round is None:
        return True
    return await check_round(gateway, body)


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
        raise InvalidRequest(
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
        raise RunMovedOn(
            f"the run did not apply this decision: {verdict.reason}", decision_id=decision_id
        )
    note = "" if verdict is not None else UNCONFIRMED
    if verdict is not None and verdict.approvals_missing:
        return ResumeResponse(
            status="approval_recorded",
            message=f"{body.task_id} approval recorded; {verdict.approvals_missing} more needed",
            decision_id=decision_id,
            confirmed=True,
            approvals_missing=verdict.approvals_missing,
        )
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


def check_known_task(crews: CrewRegistry, info: RunInfo, body: ResumeRequest) -> None:
    """A task its crew does not have is a 409 like any task not waiting (the service's
    contract; CrewAI answers 404), saying which tasks the crew has. Judged by the crew as this
    API loaded it, which may be newer than the run's copy: the task the run waits on is
    always known."""
    crew = crews.crews.get(info.crew or "")
    if crew is None or body.task_id == info.pending_task:
        return
    if body.task_id not in {task.name for task in crew.tasks}:
        known = ", ".join(task.name for task in crew.tasks)
        raise RunMovedOn(
            f"crew {crew.name!r} has no task {body.task_id!r} (its tasks: {known}); "
            f"{info.pending_task!r} is waiting for input"
        )


def check_waiting(info: RunInfo, body: ResumeRequest) -> None:
    if info.finished or info.state != RunState.PENDING_HUMAN_INPUT:
        raise RunMovedOn(
            f"run {body.execution_id} is {info.state.value}; no task is waiting for input"
        )
    if info.pending_task != body.task_id:
        raise RunMovedOn(
            f"task {body.task_id!r} is not waiting for input; {info.pending_task!r} is"
        )


async def check_round(gateway: TemporalGateway, body: ResumeRequest) -> bool:
    """RunMovedOn when the run waits for another round than the one decided on. Without a
    worker to answer (then False), the round cannot be seen here; the run ignores a stale one
    when it gets it."""
    status = await gateway.status(body.execution_id)
    pending = status.pending_human_input
    if status.degraded:
        return False
    if pending is None:
        raise RunMovedOn(
            f"run {body.execution_id} is {status.state.value}; no task is waiting for input"
        )
    if pending.task_id != body.task_id or pending.round != body.round:
        raise RunMovedOn(
            f"round {body.round} of {body.task_id!r} is no longer waiting for input; "
            f"round {pending.round} of {pending.task_id!r} is",
        )
    return True
