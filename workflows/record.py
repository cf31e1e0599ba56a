"""The run record: what happened in a run so far, and the status document built from it.
Pure bookkeeping; the workflow decides, this remembers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from crew_hitl.contracts.history import (
        CarriedRun,
        ContextItem,
        CrewRunInput,
        ResumeSignal,
        TaskResult,
    )
    from crew_hitl.contracts.status import (
        TERMINAL_STATES,
        Approval,
        AuditEntry,
        DecisionSource,
        DeliveryRecord,
        EventsPage,
        IgnoredResume,
        LastExecutedTask,
        PendingHumanInput,
        Progress,
        ReviewRound,
        RunEvent,
        RunState,
        StatusDocument,
        TaskProgress,
        TaskStatus,
        TokenUsage,
        Verdict,
    )
    from crew_hitl.spec import TaskSpec
    from crew_hitl.text import run_summary


# A flood of resumes a run cannot apply must not grow its state (and /status) without end.
MAX_IGNORED = 100
NO_FEEDBACK = "(rejected without feedback)"


class RunRecord:
    def __init__(self, run: CrewRunInput, started_at: datetime | None = None) -> None:
        self.kickoff_id = run.kickoff_id
        self.crew = run.crew
        self.summary = run_summary(run.crew.name, run.inputs)
        self.state = RunState.RUNNING
        self.tasks = {t.name: TaskProgress(task_id=t.name, agent=t.agent) for t in run.crew.tasks}
        self.current_task: str | None = None
        self.pending: PendingHumanInput | None = None
        self.notes: list[str] = []
        self.deliveries: list[DeliveryRecord] = []
        self.events: list[RunEvent] = []
        self.version = 0
        self.last_executed: LastExecutedTask | None = None
        self.result: str | None = None
        self.result_json: dict[str, Any] | None = None
        self.error: str | None = None
        self.token_usage = TokenUsage()
        self.audit: list[AuditEntry] = []
        self.continued = 0
        self.started_at = started_at
        self.finished_at: datetime | None = None
        self._round_started: datetime | None = None
        if run.carried is not None:
            self._restore(run.carried)

    def _restore(self, carried: CarriedRun) -> None:
        self.tasks = {t.task_id: t for t in carried.tasks}
        self.current_task = carried.current_task
        self.notes = carried.notes
        self.audit = carried.audit
        self.deliveries = carried.deliveries
        self.events = carried.events
        self.version = carried.version
        self.last_executed = carried.last_executed
        self.token_usage = carried.token_usage
        self.continued = carried.continued
        self.started_at = carried.started_at or self.started_at

    def touch(self) -> None:
        """Something a client can see changed: long-polls and event streams wake up."""
        self.version += 1

    def log_event(self, event_id: str, event: str, data: dict[str, Any]) -> None:
        self.events.append(RunEvent(id=event_id, event=event, data=data))
        self.touch()

    def events_after(self, event_id: str | None) -> EventsPage:
        start = 0
        if event_id is not None:
            ids = [e.id for e in self.events]
            start = ids.index(event_id) + 1 if event_id in ids else 0
        return EventsPage(
            events=self.events[start:],
            finished=self.state in TERMINAL_STATES,
            version=self.version,
        )

    def progress_of(self, task_id: str) -> TaskProgress:
        return self.tasks[task_id]

    def start_round(self, task_id: str, now: datetime | None = None) -> int:
        self.current_task = task_id
        self._round_started = now
        progress = self.tasks[task_id]
        progress.status = TaskStatus.RUNNING
        self.touch()
        return len(progress.rounds) + 1

    def context_for(self, task: TaskSpec) -> list[ContextItem]:
        names = task.context
        if names is None:
            index = [t.name for t in self.crew.tasks].index(task.name)
            names = [self.crew.tasks[index - 1].name] if index > 0 else []
        return [
            ContextItem(task_id=name, output=self.tasks[name].output or "")
            for name in names
            if self.tasks[name].status == TaskStatus.COMPLETED
        ]

    def feedback_for(self, task_id: str) -> list[str]:
        """Every rejection's feedback, verbatim; one without any is said so, never an empty
        message to a model."""
        return [
            r.feedback if r.feedback and r.feedback.strip() else NO_FEEDBACK
            for r in self.tasks[task_id].rounds
            if r.decision == Verdict.REJECTED
        ]

    def record_output(
        self, task_id: str, round_number: int, result: TaskResult, now: datetime | None = None
    ) -> None:
        output = result.output
        progress = self.tasks[task_id]
        if now is not None and self._round_started is not None:
            progress.execution_time += (now - self._round_started).total_seconds()
        progress.output = output
        progress.output_json = result.output_json
        progress.agent_role = result.agent_role or self.crew.agents[progress.agent].role or None
        progress.token_usage = progress.token_usage + result.token_usage
        self.token_usage = self.token_usage + result.token_usage
        self.last_executed = LastExecutedTask(task_id=task_id, output=output)
        if self.crew.task(task_id).human_input:
            progress.rounds.append(ReviewRound(round=round_number, output=output))
        self.touch()

    def await_review(self, task_id: str, round_number: int, output: str, now: datetime) -> None:
        self.state = RunState.PENDING_HUMAN_INPUT
        self.tasks[task_id].status = TaskStatus.AWAITING_REVIEW
        if rounds := self.tasks[task_id].rounds:
            rounds[-1].requested_at = now
        self.pending = PendingHumanInput(
            task_id=task_id, round=round_number, output=output, since=now
        )
        policy = self.crew.task(task_id).review
        if policy is not None:
            deadline = policy.decide_within_seconds
            self.pending.reviewers = policy.deciders(escalated=False)
            self.pending.approvals_needed = policy.approvals
            self.pending.decide_by = None if deadline is None else now + timedelta(seconds=deadline)
        self.touch()

    def escalate(self) -> None:
        assert self.pending is not None
        policy = self.crew.task(self.pending.task_id).review
        assert policy is not None
        self.pending.escalated = True
        self.pending.reviewers = policy.deciders(escalated=True)
        self.touch()

    def why_not_assigned(self, signal: ResumeSignal) -> str | None:
        """Under a policy with reviewers: why this reviewer may not decide the pending round."""
        pending = self.pending
        if pending is None or pending.task_id != signal.task_id:
            return None
        if pending.may_decide(signal.reviewer):
            return None
        return (
            f"{signal.reviewer} may not decide {pending.task_id!r}; "
            f"{', '.join(pending.reviewers)} may"
        )

    def why_not_applicable(self, signal: ResumeSignal) -> str | None:
        pending = self.pending
        if pending is None:
            return f"no task is waiting for input (state {self.state.value})"
        if signal.task_id != pending.task_id:
            if (unknown := self.crew.unknown_task(signal.task_id, pending.task_id)) is not None:
                return unknown
            return f"task {signal.task_id!r} is not waiting for input; {pending.task_id!r} is"
        if signal.round is not None and signal.round != pending.round:
            return f"round {signal.round} is not the pending round {pending.round}"
        if signal.is_approve and any(a.reviewer == signal.reviewer for a in pending.approvals):
            return f"{signal.reviewer} has already approved round {pending.round}"
        return self.why_not_assigned(signal) or self.why_no_edit(signal)

    def why_no_edit(self, signal: ResumeSignal) -> str | None:
        """An edited output the task's policy does not allow (allow_edit: false)."""
        if signal.edited_output is None or self.pending is None:
            return None
        policy = self.crew.task(self.pending.task_id).review
        if policy is not None and not policy.allow_edit:
            return (
                f"edited_output: {self.pending.task_id!r} takes none (its policy: allow_edit false)"
            )
        if not signal.is_approve:
            return "edited_output goes with an approval"
        return None

    def ignore(self, signal: ResumeSignal, reason: str, now: datetime) -> None:
        self._audit(signal, now, signal.task_id, signal.round, reason)
        self._trim_ignored()
        self.touch()

    def _audit(
        self,
        signal: ResumeSignal,
        now: datetime,
        task_id: str,
        round_number: int | None,
        reason: str | None = None,
    ) -> AuditEntry:
        source = signal.origin()
        entry = AuditEntry(
            at=now,
            reviewer=signal.reviewer,
            task_id=task_id,
            round=round_number,
            decision=Verdict.of(signal.is_approve),
            applied=reason is None,
            reason=reason,
            decision_id=signal.decision_id,
            source=source,
            reviewer_claimed=source is DecisionSource.TEMPORAL and signal.reviewer is not None,
            attestation=signal.attestation,
            edited=signal.edited_output is not None,
        )
        self.audit.append(entry)
        return entry

    def _trim_ignored(self) -> None:
        excess = sum(not entry.applied for entry in self.audit) - MAX_IGNORED
        kept: list[AuditEntry] = []
        for entry in self.audit:
            if not entry.applied and excess > 0:
                excess -= 1
                continue
            kept.append(entry)
        self.audit = kept

    def decision(self, decision_id: str) -> AuditEntry | None:
        """What came of the first resume with this id, if the run has received it."""
        return next((e for e in self.audit if e.decision_id == decision_id), None)

    def ignore_malformed(self, payload: object, reason: str, now: datetime) -> None:
        """A resume the API would have refused: only a direct Temporal sender can send one."""
        fields = payload if isinstance(payload, dict) else {}
        task_id, approve = fields.get("task_id"), fields.get("is_approve")
        reviewer = fields.get("reviewer")
        reviewer = reviewer if isinstance(reviewer, str) else None
        self.audit.append(
            AuditEntry(
                at=now,
                reviewer=reviewer,
                task_id=task_id if isinstance(task_id, str) else "",
                decision=Verdict.of(approve) if isinstance(approve, bool) else None,
                applied=False,
                reason=reason,
                source=DecisionSource.TEMPORAL,
                reviewer_claimed=reviewer is not None,
            )
        )
        self._trim_ignored()
        self.touch()

    def decide(self, signal: ResumeSignal, now: datetime, settle: bool = False) -> AuditEntry:
        """Apply a decision to the pending round; the caller checked it is applicable. An
        approval the policy wants more of is recorded and leaves the round waiting (its audit
        entry says how many are missing), unless `settle` (on_timeout's decision)."""
        assert self.pending is not None
        pending = self.pending
        review = self.tasks[pending.task_id].rounds[-1]
        if signal.is_approve and pending.approvals_needed > 1 and not settle:
            approval = Approval(
                reviewer=signal.reviewer,
                at=now,
                note=signal.human_feedback,
                edited_output=signal.edited_output,
            )
            pending.approvals.append(approval)
            missing = pending.approvals_needed - len(pending.approvals)
            if missing > 0:
                entry = self._audit(signal, now, pending.task_id, review.round)
                entry.approvals_missing = missing
                self.touch()
                return entry
        review.approvals = list(pending.approvals)
        review.decision = Verdict.of(signal.is_approve)
        review.feedback = signal.human_feedback
        review.reviewer = signal.reviewer
        review.decided_at = now
        review.source = signal.origin()
        if signal.is_approve:
            self._take_edit(review, signal)
        entry = self._audit(signal, now, self.pending.task_id, review.round)
        self.pending = None
        self.state = RunState.RUNNING
        self.touch()
        return entry

    def _take_edit(self, review: ReviewRound, signal: ResumeSignal) -> None:
        """An approval's edited output (the latest of the round's approvals that has one)
        becomes the task's output; the round keeps the model's beside it."""
        edits = [(a.reviewer, a.edited_output) for a in review.approvals if a.edited_output]
        if signal.edited_output is not None and not review.approvals:
            edits.append((signal.reviewer, signal.edited_output))
        if not edits:
            return
        review.edited_by, review.edited_output = edits[-1]
        assert self.pending is not None
        task_id = self.pending.task_id
        self.tasks[task_id].output = review.edited_output
        if self.last_executed is not None and self.last_executed.task_id == task_id:
            self.last_executed = LastExecutedTask(task_id=task_id, output=review.edited_output)

    def complete_task(self, task_id: str) -> None:
        progress = self.tasks[task_id]
        progress.status = TaskStatus.COMPLETED
        approval = progress.rounds[-1] if progress.rounds else None
        if approval is not None and approval.approvals:
            self.notes.extend(a.note for a in approval.approvals if a.note)
        elif approval is not None and approval.feedback:
            self.notes.append(approval.feedback)
        self.touch()

    def stop(self, now: datetime | None = None) -> None:
        self.finished_at = now
        self.state = RunState.STOPPED
        self.pending = None
        if self.current_task and self.tasks[self.current_task].status != TaskStatus.COMPLETED:
            self.tasks[self.current_task].status = TaskStatus.STOPPED
        self.touch()

    def finish(self, now: datetime | None = None) -> None:
        self.finished_at = now
        self.state = RunState.SUCCESS
        self.current_task = None
        self.result = self.last_executed.output if self.last_executed else ""
        if self.last_executed is not None:
            self.result_json = self.tasks[self.last_executed.task_id].output_json
        self.touch()

    def fail(self, error: str, now: datetime | None = None) -> None:
        self.finished_at = now
        self.state = RunState.FAILED
        self.error = error
        if self.current_task and self.tasks[self.current_task].status != TaskStatus.COMPLETED:
            self.tasks[self.current_task].status = TaskStatus.FAILED
        self.pending = None
        self.touch()

    def status(self) -> StatusDocument:
        completed = sum(1 for t in self.tasks.values() if t.status == TaskStatus.COMPLETED)
        return StatusDocument(
            kickoff_id=self.kickoff_id,
            crew=self.crew.name,
            state=self.state,
            current_task=self.current_task,
            pending_human_input=self.pending,
            progress=Progress(completed_tasks=completed, total_tasks=len(self.tasks)),
            tasks=list(self.tasks.values()),
            last_executed_task=self.last_executed,
            ignored_resumes=[ignored_resume(entry) for entry in self.audit if not entry.applied],
            audit=self.audit,
            deliveries=self.deliveries,
            result=self.result,
            result_json=self.result_json,
            error=self.error,
            token_usage=self.token_usage,
            version=self.version,
            continued=self.continued,
            started_at=self.started_at,
            finished_at=self.finished_at,
        )


def ignored_resume(entry: AuditEntry) -> IgnoredResume:
    """An audit entry of a resume that did not apply, as /status lists it in ignored_resumes."""
    approve = None if entry.decision is None else entry.decision == Verdict.APPROVED
    return IgnoredResume(
        task_id=entry.task_id,
        round=entry.round,
        is_approve=approve,
        reason=entry.reason or "",
        reviewer=entry.reviewer,
        received_at=entry.at,
    )
