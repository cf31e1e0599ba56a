"""Continue-as-new of a long review loop, in process on the time-skipping test server.

CrewRunWorkflow continues only when the server suggests it. The test server suggests it as
the real one does, past 4,096 history events or 4 MiB of history (it has no setting to lower
either); 4,096 events are about 340 review rounds, some 14 s, so these tests grow the history
by size instead: the stub executor returns a large agent step, which history keeps (in the
local activity's marker and in the agent_step delivery's input) but the run's state and its
continuation do not. The suggestion then comes after about five rounds."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter

from crew_hitl.contracts.history import (
    CarriedRun,
    CrewRunInput,
    DeliverWebhookInput,
    ResumeSignal,
    WebhookTarget,
    WebhookTargets,
)
from crew_hitl.contracts.status import (
    DeliveryRecord,
    ReviewRound,
    RunState,
    StatusDocument,
    TaskProgress,
    TaskStatus,
    Verdict,
)
from support.temporal_env import (
    RunHandle,
    StubActivities,
    crew,
    crew_worker,
    research_crew,
    resume_signal,
    run_input,
    start_run,
    task_spec,
    time_skipping_env,
    wait_deliveries_settled,
    wait_pending,
    wait_status,
    webhooks,
)
from workflows.crew_run import CrewRunWorkflow

TASK = "draft_task"
# Under the SDK's 512 KiB payload warning.
STEP_BYTES = 500_000
MAX_ROUNDS = 12
DOWN = "http://down.test/human_input"


def long_review_input(targets: WebhookTargets, force_after: int = 10_000) -> CrewRunInput:
    spec = crew(task_spec(TASK, human_input=True, max_review_rounds=50), task_spec("closing_task"))
    return run_input(spec, webhooks=targets, force_continue_after_events=force_after)


async def reject_until_continued(handle: RunHandle, *, settle: bool) -> int:
    """Reject round after round until the run has continued as new; the rounds rejected.
    With settle, each rejection waits for the round's webhooks to be delivered, as a
    reviewer who answers the human_input_requested would (an unforced continuation waits
    for an idle outbox)."""
    for number in range(1, MAX_ROUNDS + 1):
        status = await wait_pending(handle, TASK, number)
        if status.continued:
            return number - 1
        if settle:
            await wait_deliveries_settled(handle)
        await handle.execute_update(CrewRunWorkflow.decide, reject(number))
    raise AssertionError(f"no continue-as-new after {MAX_ROUNDS} rounds")


def reject(number: int) -> ResumeSignal:
    return resume_signal(TASK, False, f"fix {number}", round=number)


def approve(number: int) -> ResumeSignal:
    return resume_signal(TASK, True, "done", round=number)


async def first_run_history(client: Client, handle: RunHandle) -> WorkflowHistory:
    first = client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
    return await first.fetch_history()


def suggested(history: WorkflowHistory) -> bool:
    return any(
        event.workflow_task_started_event_attributes.suggest_continue_as_new
        for event in history.events
        if event.HasField("workflow_task_started_event_attributes")
    )


def continued_with(history: WorkflowHistory) -> CrewRunInput:
    """The input the run continued as new with (its last event)."""
    last = history.events[-1]
    assert last.HasField("workflow_execution_continued_as_new_event_attributes"), last
    payloads = last.workflow_execution_continued_as_new_event_attributes.input.payloads
    (decoded,) = pydantic_data_converter.payload_converter.from_payloads(payloads, [CrewRunInput])
    return decoded


def assert_every_round_once(final: StatusDocument, rejected: int) -> None:
    rounds = final.tasks[0].rounds
    assert [r.round for r in rounds] == list(range(1, rejected + 2))
    assert [r.decision for r in rounds] == [Verdict.REJECTED] * rejected + [Verdict.APPROVED]
    assert [r.feedback for r in rounds[:rejected]] == [f"fix {n}" for n in range(1, rejected + 1)]
    applied = [(e.round, e.decision) for e in final.audit if e.applied]
    assert applied == [(n, Verdict.REJECTED) for n in range(1, rejected + 1)] + [
        (rejected + 1, Verdict.APPROVED)
    ]


def test_a_long_review_loop_continues_as_new_when_suggested_and_keeps_everything() -> None:
    asyncio.run(continue_when_suggested())


async def continue_when_suggested() -> None:
    async with time_skipping_env() as env:
        stubs = StubActivities(step_bytes=STEP_BYTES)
        async with crew_worker(env.client, stubs.all()):
            handle = await start_run(env.client, long_review_input(webhooks()))
            rejected = await reject_until_continued(handle, settle=True)
            history = await first_run_history(env.client, handle)
            current = (await handle.describe()).run_id
            await handle.execute_update(CrewRunWorkflow.decide, approve(rejected + 1))
            final = await handle.result()

    assert suggested(history), "continued without the server's suggestion"
    carried = continued_with(history).carried
    assert carried is not None and carried.continued == 1
    assert carried.undelivered == [], "continued with a webhook under way though not forced"
    assert current != handle.first_execution_run_id
    assert 2 <= rejected < MAX_ROUNDS

    assert final.state == RunState.SUCCESS
    assert final.continued == 1
    assert_every_round_once(final, rejected)
    # The round after the continuation still got every feedback given before it.
    after = stubs.runs_of(TASK)[rejected]
    assert after.round == rejected + 1
    assert after.feedback == [f"fix {n}" for n in range(1, rejected + 1)]
    (closing,) = stubs.runs_of("closing_task")
    assert [item.task_id for item in closing.context] == [TASK]
    assert closing.context[0].output == final.tasks[0].output
    requests = stubs.delivered_of("human_input_requested")
    assert [r.body["round"] for r in requests] == list(range(1, rejected + 2))
    assert len({r.webhook_id for r in requests}) == rejected + 1


def test_a_suggested_continuation_waits_until_no_delivery_is_under_way() -> None:
    asyncio.run(hold_back_while_delivering())


async def hold_back_while_delivering() -> None:
    """Suggested, but the human-input endpoint is down: the run keeps its history until the
    deliveries end, then continues at the next round with nothing left to send."""
    async with time_skipping_env() as env:
        stubs = StubActivities(step_bytes=STEP_BYTES, down_urls={DOWN})
        async with crew_worker(env.client, stubs.all()):
            run = long_review_input(webhooks(human_input=DOWN))
            handle = await start_run(env.client, run)
            number = 1
            while True:
                await wait_pending(handle, TASK, number)
                if suggested(await first_run_history(env.client, handle)):
                    break
                assert number < MAX_ROUNDS, "never suggested"
                await handle.execute_update(CrewRunWorkflow.decide, reject(number))
                number += 1
            # Suggested now: two more rejections, and still the same run.
            for _ in range(2):
                await handle.execute_update(CrewRunWorkflow.decide, reject(number))
                number += 1
                held = await wait_pending(handle, TASK, number)
                assert held.continued == 0, "continued with its webhooks under way"
            assert (await handle.describe()).run_id == handle.first_execution_run_id

            # The endpoint comes back; an hour on its retry delivers everything queued.
            stubs.down_urls.clear()
            await env.sleep(timedelta(hours=1, minutes=1))
            await wait_status(
                handle,
                lambda status: all(row.state == "delivered" for row in status.deliveries),
                what="every delivery made",
            )
            await handle.execute_update(CrewRunWorkflow.decide, reject(number))
            number += 1
            after = await wait_pending(handle, TASK, number)
            history = await first_run_history(env.client, handle)

    assert after.continued == 1
    carried = continued_with(history).carried
    assert carried is not None and carried.undelivered == []


def test_past_force_continue_after_events_it_continues_and_resends_the_undelivered() -> None:
    asyncio.run(forced_with_deliveries_under_way())


async def forced_with_deliveries_under_way() -> None:
    async with time_skipping_env() as env:
        stubs = StubActivities(step_bytes=STEP_BYTES, down_urls={DOWN})
        async with crew_worker(env.client, stubs.all()):
            run = long_review_input(webhooks(human_input=DOWN), force_after=1)
            handle = await start_run(env.client, run)
            rejected = await reject_until_continued(handle, settle=False)
            history = await first_run_history(env.client, handle)
            carried = continued_with(history).carried
            assert carried is not None

            stubs.down_urls.clear()
            await env.sleep(timedelta(hours=1, minutes=1))
            settled = await wait_status(
                handle,
                lambda status: all(row.state == "delivered" for row in status.deliveries),
                what="every delivery made",
            )
            await handle.execute_update(CrewRunWorkflow.decide, approve(rejected + 1))
            final = await handle.result()

    first_run = handle.first_execution_run_id
    # Every human_input_requested of the first run was still queued behind the first one,
    # which the endpoint refused; they were handed over in order.
    undelivered = carried.undelivered
    assert [(d.event, d.body["round"]) for d in undelivered] == [
        ("human_input_requested", n) for n in range(1, rejected + 1)
    ]
    first_attempts = [
        a
        for a in stubs.attempts
        if a.run_id == first_run and a.delivery.event == "human_input_requested"
    ]
    assert [(a.delivery.webhook_id, a.delivered) for a in first_attempts] == [
        (undelivered[0].webhook_id, False)
    ]
    # The continuation sent each again with the same webhook-id, once.
    resent = [a.delivery for a in stubs.attempts if a.run_id != first_run and a.delivered]
    by_id: dict[str, DeliverWebhookInput] = {d.webhook_id: d for d in resent}
    assert len(by_id) == len(resent), "a webhook delivered twice"
    for handed in undelivered:
        assert by_id[handed.webhook_id].body == handed.body
    assert settled.continued == 1
    assert [row.state for row in settled.deliveries if row.event == "human_input_requested"] == [
        "delivered"
    ] * (rejected + 1)

    assert final.state == RunState.SUCCESS
    assert final.continued == 1
    assert_every_round_once(final, rejected)
    requests = stubs.delivered_of("human_input_requested")
    assert sorted(r.body["round"] for r in requests) == list(range(1, rejected + 2))


def test_a_run_started_with_carried_state_goes_on_from_it_and_resends_the_undelivered() -> None:
    asyncio.run(start_from_carried_state())


async def start_from_carried_state() -> None:
    """The continuation's side of the hand-over, on an input built by hand."""
    spec = research_crew()
    rounds = [
        ReviewRound(round=1, output="old 1", decision=Verdict.REJECTED, feedback="f1"),
        ReviewRound(round=2, output="old 2", decision=Verdict.REJECTED, feedback="f2"),
    ]
    handed = DeliverWebhookInput(
        target=WebhookTarget(url="http://hooks.test/human_input"),
        webhook_id="msg_carried_1",
        event="human_input_requested",
        body={"event": "human_input_requested", "round": 2, "task_output": "old 2"},
    )
    carried = CarriedRun(
        tasks=[
            TaskProgress(
                task_id="research_task",
                agent="researcher",
                status=TaskStatus.AWAITING_REVIEW,
                output="old 2",
                rounds=rounds,
            ),
            TaskProgress(task_id="reporting_task", agent="reporting_analyst"),
        ],
        current_task="research_task",
        deliveries=[
            DeliveryRecord(event=handed.event, url=handed.target.url, webhook_id="msg_carried_1")
        ],
        undelivered=[handed],
        # The webhooks as the last resume left them: they, not the kickoff's, apply.
        webhooks=webhooks(),
        version=7,
        continued=1,
    )
    async with time_skipping_env() as env:
        stubs = StubActivities()
        async with crew_worker(env.client, stubs.all()):
            run = run_input(spec, webhooks=webhooks("http://kickoff.test"), carried=carried)
            handle = await start_run(env.client, run)
            waiting = await wait_pending(handle, "research_task", 3)
            await handle.execute_update(
                CrewRunWorkflow.decide, resume_signal("research_task", True, round=3)
            )
            final = await handle.result()

    (round_three,) = stubs.runs_of("research_task")
    assert (round_three.round, round_three.feedback, round_three.previous_output) == (
        3,
        ["f1", "f2"],
        "old 2",
    )
    assert waiting.continued == 1 and waiting.version > 7
    requests = stubs.delivered_of("human_input_requested")
    assert [(r.webhook_id, r.body["round"]) for r in requests][:1] == [("msg_carried_1", 2)]
    assert requests[0].body == handed.body
    assert [(r.body["round"], r.target.url) for r in requests[1:]] == [
        (3, "http://hooks.test/human_input")
    ]
    assert [r.target.url for r in stubs.delivered_of("crew_completed")] == [
        "http://hooks.test/crew"
    ]
    rows = [row for row in final.deliveries if row.webhook_id == "msg_carried_1"]
    assert [(row.state, row.attempts) for row in rows] == [("delivered", 1)]
    assert final.state == RunState.SUCCESS
    assert [r.decision for r in final.tasks[0].rounds] == [Verdict.REJECTED] * 2 + [
        Verdict.APPROVED
    ]
