"""The review loop of CrewRunWorkflow, in process on the time-skipping test server with stub
activities: reject and run again with the feedback, approve and go on, the limit on review
rounds, and a decision that arrives more than once."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from crew_hitl.contracts.handlers import DECISION_REFUSED
from crew_hitl.contracts.history import ContextItem
from crew_hitl.contracts.status import RunState, TaskStatus, Verdict
from support.temporal_env import (
    StubActivities,
    crew,
    crew_worker,
    research_crew,
    resume_signal,
    run_input,
    start_run,
    status_of,
    stub_output,
    task_spec,
    time_skipping_env,
    wait_pending,
    webhooks,
    with_executor,
)
from workflows.crew_run import CrewRunWorkflow

REJECTION = "Add sources for every point"
APPROVAL_NOTE = "Good. Keep it short."


@pytest.mark.parametrize(
    "executor",
    [None, "python:stub_tasks:write"],
    ids=["offline-as-local-activity", "python-as-activity"],
)
def test_a_rejected_task_runs_again_with_the_feedback_and_the_next_builds_on_the_approved(
    executor: str | None,
) -> None:
    asyncio.run(reject_then_approve(executor))


async def reject_then_approve(executor: str | None) -> None:
    async with time_skipping_env() as env:
        stubs = StubActivities()
        async with crew_worker(env.client, stubs.all()):
            spec = with_executor(research_crew(), executor)
            handle = await start_run(env.client, run_input(spec, webhooks=webhooks()))

            first = await wait_pending(handle, "research_task", 1)
            assert first.state == RunState.PENDING_HUMAN_INPUT
            assert first.progress is not None and first.progress.completed_tasks == 0
            round_one = stubs.runs_of("research_task")[0]
            assert (round_one.round, round_one.feedback, round_one.previous_output) == (1, [], None)
            assert first.pending_human_input is not None
            assert first.pending_human_input.output == stub_output(round_one)

            # The reject arrives as the CLI sends it: the signal with a plain JSON object.
            rejection = {
                "task_id": "research_task",
                "is_approve": False,
                "human_feedback": REJECTION,
            }
            await handle.signal(CrewRunWorkflow.resume, rejection)
            second = await wait_pending(handle, "research_task", 2)
            round_two = stubs.runs_of("research_task")[1]
            assert round_two.round == 2
            assert round_two.feedback == [REJECTION]
            assert round_two.previous_output == stub_output(round_one)
            assert second.pending_human_input is not None
            assert second.pending_human_input.output == stub_output(round_two)

            verdict = await handle.execute_update(
                CrewRunWorkflow.decide, resume_signal("research_task", True, APPROVAL_NOTE)
            )
            assert (verdict.applied, verdict.round, verdict.decision) == (
                True,
                2,
                Verdict.APPROVED,
            )
            final = await handle.result()

    assert [given.task.name for given in stubs.executed] == [
        "research_task",
        "research_task",
        "reporting_task",
    ]
    reporting = stubs.runs_of("reporting_task")[0]
    approved_output = stub_output(round_two)
    assert reporting.context == [ContextItem(task_id="research_task", output=approved_output)]
    assert reporting.notes == [APPROVAL_NOTE]
    assert reporting.feedback == []

    assert final.state == RunState.SUCCESS
    assert final.result == stub_output(reporting)
    assert final.progress is not None
    assert (final.progress.completed_tasks, final.progress.total_tasks) == (2, 2)
    research = final.tasks[0]
    assert research.output == approved_output
    assert [(r.round, r.decision, r.feedback) for r in research.rounds] == [
        (1, Verdict.REJECTED, REJECTION),
        (2, Verdict.APPROVED, APPROVAL_NOTE),
    ]
    requests = stubs.delivered_of("human_input_requested")
    assert [(r.body["round"], r.body["task_output"]) for r in requests] == [
        (1, stub_output(round_one)),
        (2, approved_output),
    ]
    completed = {r.body["task_id"]: r.body["output"] for r in stubs.delivered_of("task_completed")}
    assert completed == {"research_task": approved_output, "reporting_task": final.result}


def test_a_task_rejected_max_review_rounds_times_fails_the_run_naming_it() -> None:
    asyncio.run(reject_past_the_limit())


async def reject_past_the_limit() -> None:
    async with time_skipping_env() as env:
        stubs = StubActivities()
        async with crew_worker(env.client, stubs.all()):
            spec = crew(
                task_spec("draft_task", human_input=True, max_review_rounds=2),
                task_spec("publish_task"),
            )
            handle = await start_run(env.client, run_input(spec, webhooks=webhooks()))
            for number in (1, 2):
                await wait_pending(handle, "draft_task", number)
                rejected = await handle.execute_update(
                    CrewRunWorkflow.decide,
                    resume_signal("draft_task", False, f"not yet {number}", round=number),
                )
                assert rejected.applied, rejected
            with pytest.raises(WorkflowFailureError) as failure:
                await handle.result()
            status = await status_of(handle)

    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "CrewRunFailed"
    assert "'draft_task'" in cause.message and "2 times" in cause.message
    assert status.state == RunState.FAILED
    assert status.error == cause.message
    assert status.pending_human_input is None
    draft, publish = status.tasks
    assert draft.status == TaskStatus.FAILED
    assert [r.decision for r in draft.rounds] == [Verdict.REJECTED, Verdict.REJECTED]
    assert publish.status == TaskStatus.PENDING
    assert [given.round for given in stubs.runs_of("draft_task")] == [1, 2]
    assert stubs.runs_of("publish_task") == [], "the task after the failed one ran"
    failed = stubs.delivered_of("crew_failed")
    assert [r.body["error"] for r in failed] == [cause.message]
    assert stubs.delivered_of("crew_completed") == []


def test_a_decision_the_run_cannot_take_is_refused_before_it_reaches_history() -> None:
    """Stale or misdirected `decide` updates are refused by the validator with the reason
    and leave no audit entry behind (nor history events on a real server: test_trust.py); a
    signal, which cannot be refused, is still recorded as ignored."""
    asyncio.run(refuse_stale_updates())


async def refuse_stale_updates() -> None:
    async with time_skipping_env() as env:
        stubs = StubActivities()
        async with crew_worker(env.client, stubs.all()):
            # Both tasks wait for review, so the run is still open when the decision repeats.
            both_reviewed = crew(
                task_spec("research_task", human_input=True),
                task_spec("reporting_task", human_input=True),
            )
            handle = await start_run(env.client, run_input(both_reviewed, webhooks=webhooks()))
            await wait_pending(handle, "research_task", 1)
            stale = [
                (resume_signal("reporting_task", True), "'reporting_task' is not waiting"),
                (resume_signal("research_task", True, round=2), "round 2 is not the pending"),
            ]
            for decision, reason in stale:
                with pytest.raises(WorkflowUpdateFailedError) as refused:
                    await handle.execute_update(CrewRunWorkflow.decide, decision)
                cause = refused.value.cause
                assert isinstance(cause, ApplicationError) and cause.type == DECISION_REFUSED
                assert reason in cause.message
            assert (await status_of(handle)).audit == []

            await handle.signal(CrewRunWorkflow.resume, stale[0][0])
            approve = resume_signal("research_task", True, decision_id="dec-ok")
            first = await handle.execute_update(CrewRunWorkflow.decide, approve)
            # The run has moved on, but the same decision_id is answered with its verdict.
            assert await handle.execute_update(CrewRunWorkflow.decide, approve) == first
            await wait_pending(handle, "reporting_task", 1)
            await handle.execute_update(
                CrewRunWorkflow.decide, resume_signal("reporting_task", True)
            )
            final = await handle.result()
    assert [(e.task_id, e.applied) for e in final.audit] == [
        ("reporting_task", False),
        ("research_task", True),
        ("reporting_task", True),
    ]


def test_a_keyed_decision_the_run_cannot_take_is_recorded_so_its_retry_is_answered_alike() -> None:
    asyncio.run(keyed_stale_decision())


async def keyed_stale_decision() -> None:
    async with time_skipping_env() as env:
        stubs = StubActivities()
        async with crew_worker(env.client, stubs.all()):
            handle = await start_run(env.client, run_input(research_crew(), webhooks=webhooks()))
            await wait_pending(handle, "research_task", 1)
            stale = resume_signal("research_task", True, round=2, decision_id="key-1", keyed=True)
            first = await handle.execute_update(CrewRunWorkflow.decide, stale)
            assert (first.applied, first.reason) == (False, "round 2 is not the pending round 1")
            await handle.execute_update(
                CrewRunWorkflow.decide, resume_signal("research_task", False, "more")
            )
            await wait_pending(handle, "research_task", 2)
            # The retry, now that round 2 waits: the first verdict, not a decision on round 2.
            retry = resume_signal("research_task", True, decision_id="key-1", keyed=True)
            assert await handle.execute_update(CrewRunWorkflow.decide, retry) == first
            status = await status_of(handle)
            assert status.pending_human_input is not None
            assert status.pending_human_input.round == 2


def test_a_decision_id_is_applied_once_however_often_it_arrives() -> None:
    asyncio.run(repeat_decisions())


async def repeat_decisions() -> None:
    async with time_skipping_env() as env:
        stubs = StubActivities()
        async with crew_worker(env.client, stubs.all()):
            handle = await start_run(env.client, run_input(research_crew(), webhooks=webhooks()))
            await wait_pending(handle, "research_task", 1)

            # The API's update, then its fallback signal, then a client's retry: one decision.
            reject = resume_signal("research_task", False, "More", decision_id="dec-1")
            first = await handle.execute_update(CrewRunWorkflow.decide, reject)
            assert (first.applied, first.round, first.decision) == (True, 1, Verdict.REJECTED)
            await wait_pending(handle, "research_task", 2)
            await handle.signal(CrewRunWorkflow.resume, reject)
            again = await handle.execute_update(CrewRunWorkflow.decide, reject)
            assert again == first, "a repeat answers with the first verdict"
            status = await status_of(handle)
            assert status.pending_human_input is not None
            assert status.pending_human_input.round == 2, "the repeat decided round 2"
            assert [e.decision_id for e in status.audit] == ["dec-1"]
            assert status.ignored_resumes == []
            assert [given.round for given in stubs.runs_of("research_task")] == [1, 2]

            # The other order: the signal lands first and the update finds the decision made.
            second_reject = resume_signal("research_task", False, "Less", decision_id="dec-2")
            await handle.signal(CrewRunWorkflow.resume, second_reject)
            answer = await handle.execute_update(CrewRunWorkflow.decide, second_reject)
            assert (answer.applied, answer.round, answer.decision_id) == (True, 2, "dec-2")
            await wait_pending(handle, "research_task", 3)
            assert await handle.query(CrewRunWorkflow.decision, "dec-1") == first

            approve = resume_signal("research_task", True, decision_id="dec-3")
            await handle.execute_update(CrewRunWorkflow.decide, approve)
            final = await handle.result()

    assert final.state == RunState.SUCCESS
    assert [(e.decision_id, e.round, e.applied) for e in final.audit] == [
        ("dec-1", 1, True),
        ("dec-2", 2, True),
        ("dec-3", 3, True),
    ]
    assert [r.decision for r in final.tasks[0].rounds] == [
        Verdict.REJECTED,
        Verdict.REJECTED,
        Verdict.APPROVED,
    ]
    assert [given.feedback for given in stubs.runs_of("research_task")] == [
        [],
        ["More"],
        ["More", "Less"],
    ]


def test_a_rejection_without_feedback_says_so_instead_of_sending_nothing() -> None:
    asyncio.run(reject_without_feedback())


async def reject_without_feedback() -> None:
    async with time_skipping_env() as env:
        stubs = StubActivities()
        async with crew_worker(env.client, stubs.all()):
            handle = await start_run(env.client, run_input(research_crew(), webhooks=webhooks()))
            await wait_pending(handle, "research_task", 1)
            await handle.signal(CrewRunWorkflow.resume, resume_signal("research_task", False))
            await wait_pending(handle, "research_task", 2)
            await handle.signal(CrewRunWorkflow.resume, resume_signal("research_task", False, " "))
            await wait_pending(handle, "research_task", 3)
    third = stubs.runs_of("research_task")[2]
    assert third.feedback == ["(rejected without feedback)"] * 2
