"""Webhooks of CrewRunWorkflow, in process on the time-skipping test server: URLs replaced at
resume, and the real deliver_webhook against a loopback receiver that keeps failing, through
the whole default retry schedule (about 27.6 hours of test server time) in about a
second of wall time."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from itertools import pairwise

import aiohttp
from cryptography.fernet import Fernet

from activities.outbound import guarded_session
from activities.webhooks import WebhookActivities
from crew_hitl.contracts.history import (
    DEFAULT_RETRY_SCHEDULE,
    RetrySettings,
    WebhookTarget,
    WebhookTargets,
)
from crew_hitl.contracts.status import RunState, Verdict
from crew_hitl.outbound import WebhookPolicy
from crew_hitl.secrets import SecretBox
from crew_hitl.targets import display_url, plain_target
from support.temporal_env import (
    StubActivities,
    crew,
    crew_worker,
    loopback_receiver,
    research_crew,
    resume_signal,
    run_input,
    start_run,
    status_of,
    task_spec,
    time_skipping_env,
    wait_deliveries_settled,
    wait_pending,
    webhooks,
)
from workflows.crew_run import CrewRunWorkflow

OLD = "http://old.test"
NEW_TASK_URL = "http://new.test/task-events"


def test_a_task_webhook_url_given_at_resume_replaces_the_kickoffs_from_then_on() -> None:
    asyncio.run(replace_url_at_resume())


async def replace_url_at_resume() -> None:
    async with time_skipping_env() as env:
        stubs = StubActivities()
        async with crew_worker(env.client, stubs.all()):
            spec = crew(
                task_spec("outline_task"),
                task_spec("draft_task", human_input=True),
                task_spec("polish_task"),
            )
            handle = await start_run(env.client, run_input(spec, webhooks=webhooks(OLD)))
            await wait_pending(handle, "draft_task", 1)
            await wait_deliveries_settled(handle)
            # As the CLI gives it: a plain taskWebhookUrl field on the resume signal.
            await handle.signal(
                CrewRunWorkflow.resume,
                {
                    "task_id": "draft_task",
                    "is_approve": False,
                    "human_feedback": "Shorter",
                    "taskWebhookUrl": NEW_TASK_URL,
                },
            )
            await wait_pending(handle, "draft_task", 2)
            await handle.execute_update(
                CrewRunWorkflow.decide, resume_signal("draft_task", True, "Fine")
            )
            final = await handle.result()

    assert final.state == RunState.SUCCESS
    # What the delivery calls: a URL given in a signal is shown hashed and called as given.
    completed = [
        (r.body["task_id"], r.target.plain or r.target.url)
        for r in stubs.delivered_of("task_completed")
    ]
    assert completed == [
        ("outline_task", f"{OLD}/task"),
        ("draft_task", NEW_TASK_URL),
        ("polish_task", NEW_TASK_URL),
    ]
    # The URLs the resume did not give stay as the kickoff set them.
    requested = [
        (r.body["round"], r.target.url) for r in stubs.delivered_of("human_input_requested")
    ]
    assert requested == [(1, f"{OLD}/human_input"), (2, f"{OLD}/human_input")]
    assert [r.target.url for r in stubs.delivered_of("crew_completed")] == [f"{OLD}/crew"]
    rows = [(row.event, row.url, row.state) for row in final.deliveries]
    assert [row for row in rows if row[0] == "task_completed"] == [
        ("task_completed", f"{OLD}/task", "delivered"),
        ("task_completed", display_url(NEW_TASK_URL), "delivered"),
        ("task_completed", display_url(NEW_TASK_URL), "delivered"),
    ]


def test_a_failing_receiver_gets_the_whole_default_retry_schedule_and_the_run_waits_on() -> None:
    started = time.perf_counter()
    asyncio.run(retry_schedule_against_a_failing_receiver())
    wall = time.perf_counter() - started
    print(f"default retry schedule ({sum(DEFAULT_RETRY_SCHEDULE) / 3600:.1f} h) in {wall:.2f} s")
    # ~28 h of schedule: a minute of wall time (a loaded CI host's margin) still proves skipping.
    assert wall < 60, f"time was not skipped: {wall:.1f} s of wall time"


async def retry_schedule_against_a_failing_receiver() -> None:
    schedule = RetrySettings().schedule_seconds
    assert schedule == [5, 300, 1800, 7200, 18000, 36000, 36000]
    async with (
        time_skipping_env() as env,
        loopback_receiver(env, status=500) as receiver,
        aiohttp.ClientSession() as http,
    ):
        real = WebhookActivities(SecretBox(Fernet.generate_key()), http, [])
        stubs = StubActivities()
        async with crew_worker(env.client, [stubs.execute_task, real.deliver_webhook]):
            targets = WebhookTargets(human_input=WebhookTarget(url=receiver.url("/hitl")))
            handle = await start_run(env.client, run_input(research_crew(), webhooks=targets))
            await wait_pending(handle, "research_task", 1)
            # Skip test server time an hour at a time until the outbox gives up (~28 h).
            for _ in range(40):
                status = await status_of(handle)
                if status.deliveries and status.deliveries[0].state != "pending":
                    break
                await env.sleep(timedelta(hours=1))
            waiting = await status_of(handle)

            # A delivery never fails a run: it still waits, and a decision still ends it.
            await handle.execute_update(
                CrewRunWorkflow.decide, resume_signal("research_task", True, "Fine")
            )
            final = await handle.result()

    (row,) = waiting.deliveries
    assert (row.event, row.state, row.attempts, row.last_status) == (
        "human_input_requested",
        "gave_up",
        8,
        500,
    )
    assert row.last_error is not None and "gave up after 8 attempts" in row.last_error
    assert waiting.state == RunState.PENDING_HUMAN_INPUT
    assert waiting.pending_human_input is not None
    assert waiting.pending_human_input.task_id == "research_task"

    hits = receiver.received
    assert len(hits) == 8
    assert {hit.path for hit in hits} == {"/hitl"}
    assert len({hit.webhook_id for hit in hits}) == 1, "the webhook-id changed between attempts"
    assert {hit.webhook_id for hit in hits} == {row.webhook_id}
    gaps = [(later.at - earlier.at).total_seconds() for earlier, later in pairwise(hits)]
    assert len(gaps) == len(schedule)
    for gap, planned in zip(gaps, schedule, strict=True):
        # The test server's clock runs at real speed while an attempt runs: leave it 10 s.
        assert planned <= gap < planned + 10, f"gaps {gaps} do not follow {schedule}"
    assert row.gave_up_at is not None
    assert abs((row.gave_up_at - hits[-1].at).total_seconds()) < 2

    assert final.state == RunState.SUCCESS
    assert [r.decision for r in final.tasks[0].rounds] == [Verdict.APPROVED]
    assert len(receiver.received) == 8, "a delivery that gave up was sent again"


def test_the_worker_refuses_an_address_the_policy_refuses_when_it_connects() -> None:
    """Targets that never passed the API (a CLI signal's URL, a name that resolves elsewhere
    at delivery): the worker checks the address it connects to, and a refusal is a delivery
    row with the reason, final at once, never a failed run."""
    asyncio.run(refused_at_connect())


async def refused_at_connect() -> None:
    policy = WebhookPolicy.from_settings("192.0.2.0/24")  # loopback is not listed
    async with (
        time_skipping_env() as env,
        loopback_receiver(env, status=200) as receiver,
        guarded_session(policy) as http,
    ):
        real = WebhookActivities(SecretBox(Fernet.generate_key()), http, [], policy)
        stubs = StubActivities()
        async with crew_worker(env.client, [stubs.execute_task, real.deliver_webhook]):
            by_name = receiver.url("/hitl").replace("127.0.0.1", "localhost")
            targets = WebhookTargets(
                human_input=plain_target(receiver.url("/hitl")), crew=plain_target(by_name)
            )
            handle = await start_run(env.client, run_input(research_crew(), webhooks=targets))
            await wait_pending(handle, "research_task", 1)
            await handle.execute_update(
                CrewRunWorkflow.decide, resume_signal("research_task", True, "Fine")
            )
            final = await handle.result()
    rows = {row.event: row for row in final.deliveries}
    assert final.state == RunState.SUCCESS
    for event in ("human_input_requested", "crew_completed"):
        row = rows[event]
        assert (row.state, row.attempts) == ("gave_up", 1), row
        assert "is not an allowed webhook address" in (row.last_error or "")
    assert receiver.received == [], "a refused address was called"
