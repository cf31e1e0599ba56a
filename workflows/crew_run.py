"""CrewRunWorkflow: the whole life of one crew run, top to bottom: the run, the task loop (a
round, its review, reject and run again or approve and go on), how a run ends, and the
handlers through which the outside decides (resume, decide) and looks in (status, events)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn
from urllib.parse import quote

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from activities.email import EmailActivities
    from activities.senders import identify_sender
    from activities.tasks import FINAL_ERRORS, TaskActivities
    from crew_hitl import WORKFLOW_TYPE
    from crew_hitl import search_attributes as sa
    from crew_hitl.contracts import handlers as h
    from crew_hitl.contracts.history import (
        URL_FIELDS,
        CrewRunInput,
        ExecuteTaskInput,
        IdentifySenderInput,
        ResumeSignal,
        ReviewEmailInput,
        TaskResult,
        WebhookTarget,
    )
    from crew_hitl.contracts.status import (
        AuditEntry,
        DecisionSource,
        EventsPage,
        RunState,
        StatusDocument,
        TaskStatus,
        Verdict,
    )
    from crew_hitl.review_policy import ReviewPolicy
    from crew_hitl.settings import MODEL_CALL_LIMIT_SECONDS
    from crew_hitl.spec import TaskSpec, executor_for
    from crew_hitl.targets import plain_target
    from crew_hitl.text import excerpt, task_summary

from workflows.continuation import continuation_input, should_continue
from workflows.details import current_details
from workflows.metrics import COMPLETED, FAILED, STOPPED, RunMetrics
from workflows.outbox import Outbox
from workflows.record import RunRecord
from workflows.stream import EventStream

TASK_RETRY = RetryPolicy(maximum_attempts=3, non_retryable_error_types=FINAL_ERRORS)
TASK_TIMEOUT = timedelta(minutes=5)
MODEL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=6,
    non_retryable_error_types=FINAL_ERRORS,
)
PYTHON_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_attempts=3,
    non_retryable_error_types=FINAL_ERRORS,
)
MODEL_CALL_TIMEOUT = timedelta(seconds=MODEL_CALL_LIMIT_SECONDS)
# Long review loops continue as new when the server suggests it (patched in: histories
# recorded before it never continued).
CONTINUE_AS_NEW_PATCH = "continue-as-new-when-suggested"
# A decision sent to Temporal directly has its sender looked up in history (runs that took
# such a decision before this did not).
SENDER_PATCH = "identify-direct-senders"
SENDER_TIMEOUT = timedelta(seconds=10)
# Review e-mail: how much of the output it quotes, and how long and often it is tried.
EMAIL_EXCERPT_CHARS = 600
EMAIL_TIMEOUT = timedelta(seconds=60)
EMAIL_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_attempts=5)


class ReviewLimitReached(Exception):
    pass


class ReviewTimedOut(Exception):
    """A round's decide_within passed with on_timeout: fail."""


@dataclass(frozen=True)
class PolicyTimer:
    """One of a review policy's timers: the policy field that says when, the webhook it
    sends, and the e-mail (none at the deadline: on_timeout decides then)."""

    setting: str
    event: str
    mail: str | None


REMIND = PolicyTimer("remind_after", "human_input_reminder", "reminder")
ESCALATE = PolicyTimer("escalate_after", "human_input_escalated", "escalated")
DEADLINE = PolicyTimer("decide_within", "human_input_timed_out", None)


def policy_timers(policy: ReviewPolicy, since: datetime) -> list[tuple[datetime, PolicyTimer]]:
    """The policy's timers for a round that began to wait at `since`, in the order they fire."""
    timers = [
        (since + timedelta(seconds=seconds), timer)
        for timer in (REMIND, ESCALATE, DEADLINE)
        if (seconds := policy.seconds(timer.setting)) is not None
    ]
    return sorted(timers, key=lambda due_timer: due_timer[0])


@workflow.defn(name=WORKFLOW_TYPE)
class CrewRunWorkflow:
    @workflow.init
    def __init__(self, run: CrewRunInput) -> None:
        self._run = run
        self._record = RunRecord(run, started_at=workflow.info().start_time)
        self._metrics = RunMetrics(run.crew.name)
        carried = run.carried
        self._webhooks = (carried.webhooks if carried else run.webhooks).model_copy()
        self._outbox = Outbox(
            run.webhook_retry, self._record, carried.gone_urls if carried else None
        )
        self._stream = EventStream(
            run.kickoff_id, run.event_stream, self._webhooks.stream, self._outbox
        )
        self._decision: ResumeSignal | None = None
        self._decided: AuditEntry | None = None
        self._published: tuple[str, str | None, datetime | None] = (
            RunState.RUNNING.value,
            None,
            None,
        )

    @workflow.run
    async def run(self, run: CrewRunInput) -> StatusDocument:
        self._outbox.start(run.behaviour_version)
        if run.carried is not None:
            self._outbox.resend(run.carried.undelivered)
        else:
            self._metrics.started()
            self._stream.add("crew_kickoff_started", crew_name=run.crew.name, inputs=run.inputs)
        try:
            for task in run.crew.tasks:
                if self._record.progress_of(task.name).status != TaskStatus.COMPLETED:
                    await self._run_task(task)
        # A local activity (the offline executor) fails with its ApplicationError itself,
        # not wrapped in an ActivityError.
        except (
            asyncio.CancelledError,
            ActivityError,
            ApplicationError,
            ReviewLimitReached,
            ReviewTimedOut,
        ) as err:
            if is_cancelled_exception(err):
                await self._stop()
                raise
            await self._fail(describe_failure(err))
        self._finish()
        try:
            await self._outbox.drain()
        except asyncio.CancelledError:
            # Only a direct cancel reaches here (/stop refuses a finished run): the run has
            # succeeded, so it ends as such and the deliveries still under way are dropped.
            workflow.logger.warning("cancelled while sending the last webhooks of a finished run")
        return self._record.status()

    # ------------------------------------------------------------ the task loop

    async def _run_task(self, task: TaskSpec) -> None:
        """Rounds of one task until its output is final: at once without human input, else
        when a reviewer approves; a rejection runs it again with the feedback."""
        while True:
            round_number = self._record.start_round(task.name, workflow.now())
            self._stream.add("task_started", **self._task_fields(task), round=round_number)
            result = await self._execute(task, round_number)
            self._record.record_output(task.name, round_number, result, workflow.now())
            self._emit_steps(task, result, round_number)
            if not task.human_input:
                break
            self._request_review(task, round_number, result.output)
            await self._await_decision(task, round_number)
            decision, self._decision = self._decision, None
            assert decision is not None
            self._count_decision(task, decision, round_number)
            await self._identify_sender(decision)
            if decision.is_approve:
                break
            if round_number >= task.max_review_rounds:
                raise ReviewLimitReached(
                    f"task {task.name!r} was rejected {round_number} times, its "
                    f"max_review_rounds; the run stops here"
                )
            self._continue_as_new_if_suggested()
        self._record.complete_task(task.name)
        self._emit_task_completed(task)

    def _count_decision(self, task: TaskSpec, decision: ResumeSignal, round_number: int) -> None:
        latest = self._record.progress_of(task.name).rounds[-1]
        decided = latest.decided_at or workflow.now()
        requested = latest.requested_at or decided
        self._metrics.decided(task.name, Verdict.of(decision.is_approve), requested, decided)
        if decision.is_approve:
            self._metrics.approved_after(task.name, round_number)

    async def _execute(self, task: TaskSpec, round_number: int) -> TaskResult:
        record = self._record
        progress = record.progress_of(task.name)
        task_input = ExecuteTaskInput(
            kickoff_id=self._run.kickoff_id,
            crew_name=self._run.crew.name,
            task=task,
            agent=self._run.crew.agents[task.agent],
            inputs=self._run.inputs,
            context=record.context_for(task),
            notes=list(record.notes),
            feedback=record.feedback_for(task.name),
            previous_output=progress.output if round_number > 1 else None,
            round=round_number,
        )
        workflow.logger.info("running %s round %d", task.name, round_number)
        executor = executor_for(task, task_input.agent)
        if executor == "offline":
            # The offline executor is quick: as a local activity it runs inside the workflow
            # task that asked for it, saving two server hops per round while keeping its
            # retry policy (the result is a marker in history). Search attributes are
            # published when the run next waits, not before this short step.
            return await workflow.execute_local_activity_method(
                TaskActivities.execute_task,
                task_input,
                start_to_close_timeout=TASK_TIMEOUT,
                retry_policy=TASK_RETRY,
            )
        # A model call or user code may take minutes: a regular activity (the model call
        # heartbeats; user code gets a timeout instead).
        self._publish()
        is_model = executor == "llm"
        limit = MODEL_CALL_TIMEOUT
        if executor.startswith("python:"):
            limit = timedelta(seconds=self._run.python_timeout_seconds)
        return await workflow.execute_activity_method(
            TaskActivities.execute_task,
            task_input,
            start_to_close_timeout=limit,
            heartbeat_timeout=timedelta(seconds=self._run.heartbeat_timeout_seconds),
            retry_policy=MODEL_RETRY if is_model else PYTHON_RETRY,
        )

    def _request_review(self, task: TaskSpec, round_number: int, output: str) -> None:
        """Publish the pause and send human_input_requested; the caller waits for the
        decision."""
        self._record.await_review(task.name, round_number, output, workflow.now())
        self._publish()
        workflow.logger.info("%s round %d waits for human input", task.name, round_number)
        self._send(
            self._webhooks.human_input,
            "human_input_requested",
            execution_id=self._run.kickoff_id,
            task_id=task.name,
            round=round_number,
            task_output=output,
            resume_url=self._run.resume_url,
            **self._policy_fields(task),
        )
        self._email_reviewers(task, round_number, "requested")
        self._stream.add(
            "human_input_requested", **self._task_fields(task), round=round_number, output=output
        )
        self._stream.flush()

    def _email_reviewers(self, task: TaskSpec, round_number: int, reason: str) -> None:
        """E-mail the reviewers a policy names who must act now: all of them when asked,
        those who have not approved when reminded, the new ones when escalated. Not awaited:
        the run never waits on mail (the activity skips reviewers without an address)."""
        policy, pending = task.review, self._record.pending
        if policy is None or not policy.reviewers or pending is None:
            return
        approved = {approval.reviewer for approval in pending.approvals}
        if reason == "escalated":
            reviewers = list(policy.escalate_to)
        else:
            reviewers = [name for name in pending.reviewers if name not in approved]
        if not reviewers:
            return
        base = self._run.resume_url.removesuffix("/resume")
        workflow.start_activity_method(
            EmailActivities.send_review_email,
            ReviewEmailInput(
                kickoff_id=self._run.kickoff_id,
                crew_name=self._run.crew.name,
                task_id=task.name,
                round=round_number,
                reason=reason,
                reviewers=reviewers,
                excerpt=excerpt(pending.output, EMAIL_EXCERPT_CHARS),
                decide_by=pending.decide_by,
                link=f"{base}/ui/runs/{quote(self._run.kickoff_id, safe='')}",
            ),
            start_to_close_timeout=EMAIL_TIMEOUT,
            retry_policy=EMAIL_RETRY,
        )

    def _policy_fields(self, task: TaskSpec) -> dict[str, Any]:
        """What a review request says of the task's policy (nothing without one)."""
        pending = self._record.pending
        if task.review is None or pending is None:
            return {}
        return {
            "reviewers": pending.reviewers,
            "approvals_needed": pending.approvals_needed,
            "decide_by": pending.decide_by.isoformat() if pending.decide_by else None,
        }

    async def _await_decision(self, task: TaskSpec, round_number: int) -> None:
        """Wait for the round's decision. Under a review policy its reminder, escalation and
        deadline are timers (durable: a restart loses none), each due after the round began
        to wait; a decision that comes first leaves the rest unfired."""
        policy = task.review
        pending = self._record.pending
        assert pending is not None and pending.since is not None
        for due, timer in policy_timers(policy, pending.since) if policy else []:
            left = (due - workflow.now()).total_seconds()
            if left > 0:
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(lambda: self._decision is not None, timeout=left)
            if self._decision is not None:
                return
            self._on_timer(task, round_number, timer)
        await workflow.wait_condition(lambda: self._decision is not None)

    def _on_timer(self, task: TaskSpec, round_number: int, timer: PolicyTimer) -> None:
        policy = task.review
        assert policy is not None
        if timer is ESCALATE:
            self._record.escalate()
        if timer.mail is not None:
            self._email_reviewers(task, round_number, timer.mail)
        workflow.logger.info("%s round %d: %s", task.name, round_number, timer.event)
        self._send(
            self._webhooks.human_input,
            timer.event,
            execution_id=self._run.kickoff_id,
            task_id=task.name,
            round=round_number,
            resume_url=self._run.resume_url,
            **self._policy_fields(task),
            **({"on_timeout": policy.on_timeout} if timer is DEADLINE else {}),
        )
        if timer is not DEADLINE:
            return
        if policy.on_timeout == "fail":
            raise ReviewTimedOut(
                f"task {task.name!r} round {round_number} had no decision within "
                f"{policy.decide_within}; the run stops here"
            )
        feedback = (
            "" if policy.on_timeout == "approve" else f"no decision within {policy.decide_within}"
        )
        decision = ResumeSignal(
            task_id=task.name,
            is_approve=policy.on_timeout == "approve",
            human_feedback=feedback,
            round=round_number,
            source=DecisionSource.POLICY,
        )
        self._decided = self._record.decide(decision, workflow.now(), settle=True)
        self._decision = decision

    async def _identify_sender(self, decision: ResumeSignal) -> None:
        """A decision sent to Temporal directly: record the sender's client identity beside
        the reviewer name it claimed (the API's and the inbox's name a checked reviewer)."""
        if decision.origin() is not DecisionSource.TEMPORAL or not workflow.patched(SENDER_PATCH):
            return
        info = workflow.info()
        lookup = IdentifySenderInput(
            workflow_id=info.workflow_id,
            run_id=info.run_id,
            task_id=decision.task_id,
            is_approve=decision.is_approve,
            human_feedback=decision.human_feedback,
            reviewer=decision.reviewer,
        )
        try:
            sender = await workflow.execute_local_activity(
                identify_sender,
                lookup,
                start_to_close_timeout=SENDER_TIMEOUT,
                retry_policy=RetryPolicy(maximum_attempts=3),
            )
        except Exception as err:  # a failed lookup must not fail a run it has decided
            if is_cancelled_exception(err):
                raise
            workflow.logger.warning("the sender of a decision was not found: %s", err)
            return
        if self._decided is not None and sender is not None:
            self._decided.sender = sender
            self._record.touch()

    def _continue_as_new_if_suggested(self) -> None:
        """Between rounds of a long review loop, hand the run over to a fresh history when
        workflows/continuation.py says so."""
        if not should_continue(self._run, self._outbox):
            return
        self._stream.flush()  # a batch is not carried, but a delivery under way is
        continuation = continuation_input(self._run, self._record, self._webhooks, self._outbox)
        if continuation is None or not workflow.patched(CONTINUE_AS_NEW_PATCH):
            return
        self._publish()  # the closed run, whose search attributes the next copies, reads RUNNING
        info = workflow.info()
        workflow.logger.info(
            "run %s continues as new after %d history events (continuation %d)",
            self._run.kickoff_id,
            info.get_current_history_length(),
            self._record.continued + 1,
        )
        workflow.continue_as_new(continuation)

    # ------------------------------------------------------------ webhooks

    def _emit_steps(self, task: TaskSpec, result: TaskResult, round_number: int) -> None:
        fields = self._task_fields(task)
        for step in result.steps:
            self._send(self._webhooks.step, "agent_step", task_id=task.name, **step.model_dump())
            self._stream.add_step(step, **fields)
        self._stream.add(
            "agent_execution_completed", **fields, round=round_number, output=result.output
        )

    def _task_fields(self, task: TaskSpec) -> dict[str, Any]:
        """What every streamed task event names: the task (CrewAI's task_name, and our
        task_id) and the agent's role."""
        role = self._record.progress_of(task.name).agent_role
        agent = self._run.crew.agents[task.agent]
        return {"task_name": task.name, "task_id": task.name, "agent_role": role or agent.role}

    def _emit_task_completed(self, task: TaskSpec) -> None:
        """As CrewAI's task webhook reads it (`agent` is the agent's role, `summary` CrewAI's
        description summary), with `task_id` for the task's key."""
        progress = self._record.progress_of(task.name)
        self._send(
            self._webhooks.task,
            "task_completed",
            task_id=task.name,
            name=task.name,
            description=task.description,
            expected_output=task.expected_output,
            summary=task_summary(task.description),
            agent=progress.agent_role or task.agent,
            output=progress.output,
            output_json=progress.output_json,
        )
        self._stream.add(
            "task_completed",
            **self._task_fields(task),
            output={
                "raw": progress.output,
                "json_dict": progress.output_json,
                "summary": task_summary(task.description),
                "agent": progress.agent_role or task.agent,
            },
        )
        self._stream.flush()

    def _send(self, target: WebhookTarget | None, event: str, **fields: Any) -> None:
        body = {"event": event, "kickoff_id": self._run.kickoff_id, "meta": self._run.meta}
        self._outbox.send(target, event, body | fields)

    def _replace_webhooks(self, signal: ResumeSignal) -> None:
        """URLs given at resume replace the kickoff's; those not given stay as they were."""
        updates: dict[str, WebhookTarget] = {}
        for field, name in URL_FIELDS.items():
            if signal.webhooks is not None and (sealed := getattr(signal.webhooks, name)):
                updates[name] = sealed
            if url := getattr(signal, field):
                updates[name] = plain_target(url)
        if updates:
            self._webhooks = self._webhooks.model_copy(update=updates)

    # ------------------------------------------------------------ how a run ends

    def _finish(self) -> None:
        record = self._record
        record.finish(workflow.now())
        self._metrics.finished(COMPLETED)
        self._publish()
        workflow.logger.info("run %s succeeded", self._run.kickoff_id)
        self._send(
            self._webhooks.crew,
            "crew_completed",
            result=record.result,
            result_json=record.result_json,
            token_usage=record.token_usage.model_dump(),
        )
        self._stream.add(
            "crew_kickoff_completed",
            crew_name=self._run.crew.name,
            output=record.result,
            result_json=record.result_json,
            total_tokens=record.token_usage.total_tokens,
        )
        self._stream.flush()

    async def _stop(self) -> None:
        self._record.stop(workflow.now())
        self._metrics.finished(STOPPED)
        self._publish()
        workflow.logger.info("run %s stopped", self._run.kickoff_id)
        # CrewAI has no event for a stopped run: a failed kickoff that says so.
        self._stream.add(
            "crew_kickoff_failed", crew_name=self._run.crew.name, error="stopped", stopped=True
        )
        self._stream.flush()
        await self._outbox.drain()

    async def _fail(self, error: str) -> NoReturn:
        self._record.fail(error, workflow.now())
        self._metrics.finished(FAILED)
        self._publish()
        workflow.logger.warning("run %s failed: %s", self._run.kickoff_id, error)
        # `result` is there (null) for receivers that always read it.
        self._send(self._webhooks.crew, "crew_failed", error=error, result=None)
        if (task := self._record.current_task) is not None:
            self._stream.add("task_failed", task_name=task, task_id=task, error=error)
        self._stream.add("crew_kickoff_failed", crew_name=self._run.crew.name, error=error)
        self._stream.flush()
        await self._outbox.drain()
        raise ApplicationError(error, type="CrewRunFailed", non_retryable=True)

    def _publish(self) -> None:
        """Mirror state into search attributes (only when it changed) and current details.
        Called where the run is about to wait, so a round costs at most one upsert."""
        record = self._record
        pending_task = record.pending.task_id if record.pending else None
        deadline = record.pending.decide_by if record.pending else None
        published = (record.state.value, pending_task, deadline)
        if published != self._published:
            updates = [
                sa.CREW_STATE.value_set(record.state.value),
                sa.PENDING_TASK_ID.value_set(pending_task)
                if pending_task
                else sa.PENDING_TASK_ID.value_unset(),
            ]
            # Only runs under a policy with a deadline ever touch ReviewDeadline.
            if deadline is not None:
                updates.append(sa.REVIEW_DEADLINE.value_set(deadline))
            elif self._published[2] is not None:
                updates.append(sa.REVIEW_DEADLINE.value_unset())
            self._published = published
            workflow.upsert_search_attributes(updates)
        workflow.set_current_details(current_details(record, self._run.resume_url))

    # ------------------------------------------------------------ handlers

    @workflow.signal(name=h.RESUME_SIGNAL)
    def resume(self, payload: Any = None, *extra: Any) -> None:
        # Decoded here rather than by the converter, and tolerant of a missing or extra
        # argument: a malformed signal (say, from the CLI) is recorded as ignored with the
        # reason, instead of dropped or, worse, failing the workflow task for good.
        now = workflow.now()
        if payload is None:
            self._record.ignore_malformed(
                payload, "malformed resume: no input; give one JSON object as --input", now
            )
            return
        try:
            signal = ResumeSignal.model_validate(payload)
        except ValidationError as err:
            self._record.ignore_malformed(payload, validation_summary(err), now)
            return
        if extra:
            self._record.ignore_malformed(
                payload, "malformed resume: give one JSON object as --input", now
            )
            return
        self._take(signal)

    @workflow.update(name=h.DECIDE_UPDATE)
    def decide(self, signal: ResumeSignal) -> AuditEntry:
        """The API's resume: the same decision as the signal, answered with what came of it
        (the first verdict, for a repeated decision_id)."""
        self._take(signal)
        if signal.decision_id is not None:
            verdict = self._record.decision(signal.decision_id)
            if verdict is not None:
                return verdict
        return self._record.audit[-1]

    @decide.validator
    def refuse_what_cannot_apply(self, signal: ResumeSignal) -> None:
        """Runs before the update is written to history: a decision the run cannot take now
        (no task waiting, another task, another round) is refused with the reason and leaves
        nothing behind, so stale or racing decisions do not grow a waiting run's history. A
        decision_id the run has taken passes, to be answered with its first verdict, and so
        does a keyed one (an Idempotency-Key's), recorded as not applied so that its retry is
        answered alike. A reviewer the task's policy does not name is always refused."""
        if signal.decision_id is not None and self._record.decision(signal.decision_id):
            return
        if (unassigned := self._record.why_not_assigned(signal)) is not None:
            raise ApplicationError(unassigned, type=h.NOT_ASSIGNED, non_retryable=True)
        if (no_edit := self._record.why_no_edit(signal)) is not None:
            raise ApplicationError(no_edit, type=h.EDIT_REFUSED, non_retryable=True)
        if signal.keyed:
            return
        reason = self._record.why_not_applicable(signal)
        if reason is not None:
            raise ApplicationError(reason, type=h.DECISION_REFUSED, non_retryable=True)

    def _take(self, signal: ResumeSignal) -> None:
        """Apply the decision, or record why not. A decision_id already taken (the API's
        update and its fallback signal both arriving, or a client's retry) is the same
        decision again: it changes nothing and is not recorded twice."""
        if signal.decision_id is not None and self._record.decision(signal.decision_id):
            workflow.logger.info(
                "decision %s taken before; this copy changes nothing", signal.decision_id
            )
            return
        now = workflow.now()
        reason = self._record.why_not_applicable(signal)
        if reason is not None:
            workflow.logger.info("ignored resume for %s: %s", signal.task_id, reason)
            self._record.ignore(signal, reason, now)
            return
        self._replace_webhooks(signal)
        self._decided = self._record.decide(signal, now)
        if self._decided.approvals_missing is None:
            self._decision = signal

    @workflow.query(name=h.STATUS_QUERY)
    def status(self) -> StatusDocument:
        return self._record.status()

    @workflow.query(name=h.DECISION_QUERY)
    def decision(self, decision_id: str) -> AuditEntry | None:
        """What came of the resume with this decision id; None until the run has it."""
        return self._record.decision(decision_id)

    @workflow.query(name=h.EVENTS_QUERY)
    def events(self, after: str | None = None) -> EventsPage:
        """The run's events after the one with this id (all of them without one)."""
        return self._record.events_after(after)


def validation_summary(err: ValidationError) -> str:
    problems = [f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in err.errors()]
    return "malformed resume: " + "; ".join(problems[:5])


def describe_failure(err: BaseException) -> str:
    if isinstance(err, ActivityError) and err.cause is not None:
        cause = err.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause)
        return f"task failed: {message}"
    if isinstance(err, ApplicationError):
        return f"task failed: {err.message}"
    return str(err)
