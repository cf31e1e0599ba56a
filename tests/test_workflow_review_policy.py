"""Review policies on Temporal's time-skipping test server: reminders, escalation and the
deadline are workflow timers; M-of-N approvals; who may decide."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from crew_hitl.contracts.handlers import NOT_ASSIGNED
from crew_hitl.contracts.status import DecisionSource, RunState, Verdict
from crew_hitl.review_policy import ReviewPolicy
from support.temporal_env import (
    StubActivities,
    crew,
    crew_worker,
    resume_signal,
    run_input,
    start_run,
    status_of,
    task_spec,
    time_skipping_env,
    wait_pending,
    webhooks,
)
from workflows.crew_run import CrewRunWorkflow

TIMER_EVENTS = ("human_input_reminder", "human_input_escalated", "human_input_timed_out")


def reviewed_crew(**policy: object):
    review = ReviewPolicy.model_validate(policy)
    return crew(task_spec("draft", human_input=True, review=review), task_spec("publish"))


def fired(stubs: StubActivities) -> list[str]:
    return [d.event for d in stubs.delivered if d.event in TIMER_EVENTS]


def test_reminder_escalation_and_a_deadline_that_rejects() -> None:
    asyncio.run(remind_escalate_reject())


async def remind_escalate_reject() -> None:
    spec = reviewed_crew(
        reviewers=["alice", "bob"],
        remind_after="30m",
        escalate_after="4h",
        escalate_to=["dave"],
        decide_within="2d",
        on_timeout="reject",
    )
    async with time_skipping_env() as env:
        stubs = StubActivities()
        async with crew_worker(env.client, stubs.all()):
            handle = await start_run(env.client, run_input(spec, webhooks=webhooks()))
            waiting = await wait_pending(handle, "draft", 1)
            pending = waiting.pending_human_input
            assert pending is not None and pending.since is not None
            assert pending.reviewers == ["alice", "bob"]
            assert pending.decide_by == pending.since + timedelta(days=2)
            [request] = stubs.delivered_of("human_input_requested")

            await env.sleep(timedelta(minutes=31))
            assert fired(stubs) == ["human_input_reminder"]
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await handle.execute_update(
                    CrewRunWorkflow.decide, resume_signal("draft", True, reviewer="dave")
                )
            assert isinstance(refused.value.cause, ApplicationError)
            assert refused.value.cause.type == NOT_ASSIGNED
            assert "alice, bob may" in refused.value.cause.message

            await env.sleep(timedelta(hours=4))
            assert fired(stubs) == ["human_input_reminder", "human_input_escalated"]
            escalated = (await status_of(handle)).pending_human_input
            assert escalated is not None and escalated.reviewers == ["alice", "bob", "dave"]
            # Asked, reminded, then the escalation's own reviewer told.
            assert [(m.reason, m.reviewers) for m in stubs.mailed] == [
                ("requested", ["alice", "bob"]),
                ("reminder", ["alice", "bob"]),
                ("escalated", ["dave"]),
            ]
            assert stubs.mailed[0].decide_by == pending.decide_by
            assert stubs.mailed[0].link.endswith(f"/ui/runs/{handle.id}")

            await env.sleep(timedelta(days=2) - timedelta(hours=4, minutes=30))  # past 2d
            round_two = await wait_pending(handle, "draft", 2)
            timed_out = stubs.delivered_of("human_input_timed_out")[0]
            assert timed_out.body["decide_by"] == pending.decide_by.isoformat()
            assert timed_out.body["on_timeout"] == "reject"
            assert (timed_out.body["task_id"], timed_out.body["round"]) == ("draft", 1)

            # The rejection is the policy's, with its feedback; the new round starts afresh.
            [first] = round_two.tasks[0].rounds[:1]
            assert (first.decision, first.feedback, first.source) == (
                Verdict.REJECTED,
                "no decision within 2d",
                DecisionSource.POLICY,
            )
            assert round_two.audit[-1].source == DecisionSource.POLICY
            assert stubs.runs_of("draft")[1].feedback == ["no decision within 2d"]
            # The deadline itself mails nobody (it used to mail the escalation reviewers);
            # round 2's request does.
            reasons = [mail.reason for mail in stubs.mailed]
            assert reasons == ["requested", "reminder", "escalated", "requested"]
            assert round_two.pending_human_input is not None
            assert round_two.pending_human_input.reviewers == ["alice", "bob"]
            await handle.execute_update(
                CrewRunWorkflow.decide, resume_signal("draft", True, reviewer="bob")
            )
            final = await handle.result()
    assert final.state == RunState.SUCCESS
    assert request.body["task_id"] == "draft"


@pytest.mark.parametrize("on_timeout", ["approve", "fail"])
def test_a_deadline_that_approves_or_fails(on_timeout: str) -> None:
    asyncio.run(deadline(on_timeout))


async def deadline(on_timeout: str) -> None:
    spec = reviewed_crew(decide_within="1h", on_timeout=on_timeout)
    async with time_skipping_env() as env:
        stubs = StubActivities()
        async with crew_worker(env.client, stubs.all()):
            handle = await start_run(env.client, run_input(spec, webhooks=webhooks()))
            await wait_pending(handle, "draft", 1)
            if on_timeout == "approve":
                final = await handle.result()  # the server skips to the deadline
                assert final.state == RunState.SUCCESS
                [decided] = final.tasks[0].rounds
                assert (decided.decision, decided.source) == (
                    Verdict.APPROVED,
                    DecisionSource.POLICY,
                )
                assert [r.task.name for r in stubs.runs_of("publish")] == ["publish"]
            else:
                with pytest.raises(WorkflowFailureError) as failed:
                    await handle.result()
                message = str(failed.value.cause)
                assert "task 'draft' round 1 had no decision within 1h" in message
                assert (await status_of(handle)).state == RunState.FAILED
    assert fired(stubs) == ["human_input_timed_out"]


def test_a_decision_before_the_timers_leaves_them_unfired() -> None:
    asyncio.run(decide_early())


async def decide_early() -> None:
    spec = reviewed_crew(
        remind_after="30m",
        escalate_after="1h",
        escalate_to=["dave"],
        decide_within="1d",
        on_timeout="fail",
    )
    async with time_skipping_env() as env:
        stubs = StubActivities()
        async with crew_worker(env.client, stubs.all()):
            handle = await start_run(env.client, run_input(spec, webhooks=webhooks()))
            await wait_pending(handle, "draft", 1)
            await env.sleep(timedelta(minutes=10))
            await handle.execute_update(CrewRunWorkflow.decide, resume_signal("draft", True))
            final = await handle.result()
            await env.sleep(timedelta(days=3))
    assert final.state == RunState.SUCCESS
    assert fired(stubs) == []


def test_two_of_three_approvals_and_a_rejection_that_resets_the_round() -> None:
    asyncio.run(two_of_three())


async def two_of_three() -> None:
    spec = reviewed_crew(reviewers=["alice", "bob", "carol"], approvals=2)
    async with time_skipping_env() as env:
        stubs = StubActivities()
        async with crew_worker(env.client, stubs.all()):
            handle = await start_run(env.client, run_input(spec, webhooks=webhooks()))
            await wait_pending(handle, "draft", 1)

            def decide(reviewer: str, approve: bool, note: str = ""):
                decision = resume_signal("draft", approve, note, reviewer=reviewer)
                return handle.execute_update(CrewRunWorkflow.decide, decision)

            first = await decide("alice", True, "fine by me")
            assert (first.applied, first.approvals_missing) == (True, 1)
            status = await status_of(handle)
            assert status.state == RunState.PENDING_HUMAN_INPUT
            pending = status.pending_human_input
            assert pending is not None and pending.approvals_needed == 2
            assert [a.reviewer for a in pending.approvals] == ["alice"]
            with pytest.raises(WorkflowUpdateFailedError) as again:
                await decide("alice", True)
            assert "alice has already approved round 1" in str(again.value.cause)

            await decide("carol", False, "needs sources")  # one rejection rejects the round
            second = await wait_pending(handle, "draft", 2)
            assert second.pending_human_input is not None
            assert second.pending_human_input.approvals == []

            assert (await decide("bob", True, "good")).approvals_missing == 1
            done = await decide("carol", True, "ship it")
            assert done.approvals_missing is None
            final = await handle.result()
    assert final.state == RunState.SUCCESS
    last = final.tasks[0].rounds[-1]
    assert [a.reviewer for a in last.approvals] == ["bob", "carol"]
    assert stubs.runs_of("publish")[0].notes == ["good", "ship it"]


def test_timers_work_in_a_run_that_continued_as_new() -> None:
    asyncio.run(timers_after_continuing())


async def timers_after_continuing() -> None:
    review = ReviewPolicy(remind_after="30m", decide_within="2h", on_timeout="reject")
    spec = crew(
        task_spec("draft", human_input=True, review=review, max_review_rounds=50),
        task_spec("publish"),
    )
    async with time_skipping_env() as env:
        # Big steps grow the history until the server suggests continuing as new.
        stubs = StubActivities(step_bytes=500_000)
        async with crew_worker(env.client, stubs.all()):
            run = run_input(spec, webhooks=webhooks(), force_continue_after_events=100)
            handle = await start_run(env.client, run)
            number = 1
            while not (status := await wait_pending(handle, "draft", number)).continued:
                decision = resume_signal("draft", False, f"fix {number}", round=number)
                await handle.execute_update(CrewRunWorkflow.decide, decision)
                number += 1
                assert number < 30, "the run never continued as new"
            assert fired(stubs) == []
            await env.sleep(timedelta(minutes=31))
            assert fired(stubs) == ["human_input_reminder"]
            await env.sleep(timedelta(minutes=90))
            after = await wait_pending(handle, "draft", number + 1)
            assert fired(stubs) == ["human_input_reminder", "human_input_timed_out"]
            assert after.tasks[0].rounds[number - 1].source == DecisionSource.POLICY
    assert status.continued >= 1
