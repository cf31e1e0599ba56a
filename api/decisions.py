"""A reviewer's decision, from POST /resume or the inbox: sent to the run as the `decide`
update and answered with what the run made of it. The update's validator refuses at once
what the run cannot take (409 with the run's reason); the run's verdict catches the rest (two
reviewers deciding the same round at once: the second hears 409 too). With an
Idempotency-Key, a retry is answered from the first attempt's verdict and never applied
again."""

from __future__ import annotations

import contextlib
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
# How long to wait for a worker's answer to a decision the run seems to have moved on from.
LATE = 10.0


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
    trace_context = None
    if services.tracing is not None:
        # The run's trace, kept in its memo at kickoff: a describe, made only with tracing on.
        trace_context = (await services.gateway.describe(body.execution_id)).trace_context
    with decision_span(services.tracing, trace_context, body, source):
        return await apply_decision(services, body, reviewer, key, source)


async def apply_decision(
    services: Services,
    body: ResumeRequest,
    reviewer: str,
    key: str | None,
    source: DecisionSource,
) -> ResumeResponse:
    gateway = services.gateway
    decision_id = decision_id_for(reviewer, key)
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
    try:
        verdict = await decided(gateway, body, decision, services.crews)
    except NoWorkerTookIt:
        raise  # so the first attempt was not taken either: nothing to ask the run
    except RunMovedOn:
        # A retry may find the run moved on by its own first attempt: answer as that one was.
        if key is None or (earlier := await verdict_now(gateway, body, decision_id)) is None:
            raise
        return answer(body, decision_id, earlier, reviewer)
    return answer(body, decision_id, verdict, reviewer)


async def decided(
    gateway: TemporalGateway, body: ResumeRequest, decision: ResumeSignal, crews: CrewRegistry
) -> AuditEntry | None:
    """The run's verdict on the decision, sent as the `decide` update straight away: its
    validator refuses what the run cannot take (no task waiting, another task or round) before
    anything is written, so no check need ask the server first (a describe before each update
    was one server round trip of the three a /resume cost). Only when the update finds no run
    open, or no worker takes it in time, does the API look at the run as the server sees it: to
    answer 404, or 409 with the run's state, or to let the signal carry the decision (None:
    not confirmed yet)."""
    with contextlib.suppress(RunMovedOn):  # no run open to update: looked at below
        if (verdict := await gateway.decide(body.execution_id, decision)) is not None:
            return verdict
    info = await gateway.describe(body.execution_id)
    try:
        check_still_waiting(info, body, crews)
    except RunMovedOn as moved:
        if not await some_worker_could_have_taken_it(gateway, info):
            raise NoWorkerTookIt(moved.message, **moved.details) from None
        # The update may have been applied all the same, by a worker slower than the timeout,
        # and the run moved on because of it (seen at a load average of 10, when an approval
        # ended the run): the same update again is answered with its first outcome while the
        # run is open, and the run's audit has it once it is closed.
        with contextlib.suppress(RunMovedOn):
            if (verdict := await gateway.decide(body.execution_id, decision, LATE)) is not None:
                return verdict
        if (earlier := await verdict_now(gateway, body, decision.decision_id)) is None:
            raise
        return earlier
    # The signal, which the server keeps until a worker comes, carries it.
    await gateway.send_decision(body.execution_id, decision)
    return None


async def verdict_now(
    gateway: TemporalGateway, body: ResumeRequest, decision_id: str
) -> AuditEntry | None:
    """The run's verdict on this decision if it has one; None if not, or no worker answers."""
    try:
        earlier = await gateway.decision(body.execution_id, decision_id)
    except (RunNotAnswering, Failure):
        return None
    if earlier is not None:
        log.info("resume %s: the run had taken %s already", body.execution_id, decision_id)
    return earlier


class NoWorkerTookIt(RunMovedOn):
    """The task is not waiting, and no worker has polled the run's queue for minutes."""


async def some_worker_could_have_taken_it(gateway: TemporalGateway, info: RunInfo) -> bool:
    """Whether a worker may have applied the decision the run did not confirm. Not when none
    has polled the run's queue for minutes: sending the update again for LATE seconds, then
    asking the run its verdict, only made a stale /resume take 12 to 16 s to its 409 (19 s with
    an Idempotency-Key). A new worker's first poll shows here 0.1 s after it starts (probe on
    the dev server, 2026-12-03), well inside the patience the update was given."""
    try:
        return await gateway.workers_polling(info.task_queue) > 0
    except Failure:
        return True  # the server would not say: wait as if one might have


def check_still_waiting(info: RunInfo, body: ResumeRequest, crews: CrewRegistry) -> None:
    """RunMovedOn unless the task waits for input as the server sees it (no worker asked),
    naming the crew's tasks when it has no such task."""
    check_known_task(crews, info, body)
    check_waiting(info, body)


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
    if (unknown := crew.unknown_task(body.task_id, info.pending_task)) is not None:
        raise RunMovedOn(unknown)


def check_waiting(info: RunInfo, body: ResumeRequest) -> None:
    if info.finished or info.state != RunState.PENDING_HUMAN_INPUT:
        raise RunMovedOn(
            f"run {body.execution_id} is {info.state.value}; no task is waiting for input"
        )
    if info.pending_task != body.task_id:
        raise RunMovedOn(
            f"task {body.task_id!r} is not waiting for input; {info.pending_task!r} is"
        )
