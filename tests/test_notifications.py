"""Told without a public endpoint: a long-polling /status and a server-sent-events stream."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httpx

from api.followers import Follower, Followers
from api.gateway import TemporalGateway
from api.watch import status_after
from crew_hitl.contracts.status import StatusDocument
from support import human_input_request, kickoff, resume, state_is, temporal, wait_status


def read_events(api: httpx.Client, kickoff_id: str, last_id: str | None = None) -> list[dict]:
    """Every event of the stream until the server ends it."""
    headers = {"Last-Event-ID": last_id} if last_id else {}
    events, current = [], {}
    with api.stream("GET", f"/events/{kickoff_id}", headers=headers, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if not line:
                if "id" in current:
                    events.append(current)
                current = {}
            elif not line.startswith(":"):
                field, _, value = line.partition(": ")
                current[field] = json.loads(value) if field == "data" else value
    return events


def settled_version(api, kickoff_id: str) -> int:
    """The version once the run pauses and its webhook delivery has ended (a delivery's
    outcome is a change too, so a version read earlier may pass by itself)."""
    status = wait_status(
        api,
        kickoff_id,
        lambda s: (
            s["state"] == "PENDING_HUMAN_INPUT"
            and s["deliveries"]
            and all(d["state"] == "delivered" for d in s["deliveries"])
        ),
    )
    return status["version"]


def test_long_poll_answers_as_soon_as_the_run_changes(api, receiver):
    kickoff_id = kickoff(api, receiver)
    human_input_request(receiver, kickoff_id, 1)
    version = settled_version(api, kickoff_id)

    def reject_soon() -> None:
        time.sleep(0.8)
        resume(api, kickoff_id, "research_task", False, "more")

    threading.Thread(target=reject_soon).start()
    started = time.monotonic()
    answer = api.get(f"/status/{kickoff_id}", params={"wait": 20, "since": version})
    waited = time.monotonic() - started
    assert answer.status_code == 200
    assert answer.json()["version"] > version
    assert 0.6 < waited < 5


def test_long_poll_times_out_with_the_unchanged_status(api, receiver):
    kickoff_id = kickoff(api, receiver)
    human_input_request(receiver, kickoff_id, 1)
    version = settled_version(api, kickoff_id)
    started = time.monotonic()
    answer = api.get(f"/status/{kickoff_id}", params={"wait": 1, "since": version})
    assert 0.9 < time.monotonic() - started < 4
    assert answer.json()["version"] == version
    assert api.get(f"/status/{kickoff_id}", params={"wait": 61}).status_code == 422


def test_event_stream_replays_a_finished_run_and_ends(api, receiver):
    kickoff_id = kickoff(api, receiver, taskWebhookUrl=receiver.url("/task"))
    hitl = human_input_request(receiver, kickoff_id, 1)
    assert resume(api, kickoff_id, "research_task", True).status_code == 200
    wait_status(api, kickoff_id, state_is("SUCCESS"))
    events = read_events(api, kickoff_id)
    assert [e["event"] for e in events] == [
        "agent_step",
        "human_input_requested",
        "task_completed",
        "agent_step",
        "task_completed",
        "crew_completed",
    ]
    assert len({e["id"] for e in events}) == len(events)
    assert events[1]["id"] == hitl.headers["webhook-id"]
    assert events[1]["data"]["task_output"] == hitl.body["task_output"]
    assert events[-1]["data"]["result"] == api.get(f"/status/{kickoff_id}").json()["result"]

    after_second = read_events(api, kickoff_id, last_id=events[1]["id"])
    assert after_second == events[2:]


def test_event_stream_follows_a_live_run(api, receiver):
    kickoff_id = kickoff(api, receiver)
    human_input_request(receiver, kickoff_id, 1)

    def approve_soon() -> None:
        time.sleep(1.0)
        resume(api, kickoff_id, "research_task", True)

    threading.Thread(target=approve_soon).start()
    events = read_events(api, kickoff_id)
    assert events[0]["event"] == "agent_step"
    assert events[-1]["event"] == "crew_completed"
    assert "human_input_requested" in [e["event"] for e in events]


def test_event_stream_of_an_unknown_run_is_404(api):
    assert api.get("/events/no-such-run").status_code == 404


def test_watchers_of_a_run_where_nothing_happens_ask_it_nothing(stack, api, receiver):
    """Twenty long-polls of one paused run for 3 s share one follower of the run's history and
    the status it holds (the API used to ask the run every 0.2 s per client: 300 queries
    here); one change answers them all with one more query."""
    kickoff_id = kickoff(api, receiver)
    human_input_request(receiver, kickoff_id, 1)
    version = settled_version(api, kickoff_id)

    async def watch() -> tuple[int, list[int]]:
        gateway = TemporalGateway(stack.settings)
        followers = Followers(gateway)
        asked = 0
        real_status = gateway.status

        async def counted(run_id: str) -> StatusDocument:
            nonlocal asked
            asked += 1
            return await real_status(run_id)

        gateway.status = counted  # type: ignore[method-assign]

        async def connected() -> bool:
            return False

        idle = [
            status_after(gateway, followers, kickoff_id, version, 3, connected) for _ in range(20)
        ]
        unchanged = await asyncio.gather(*idle)
        asked_while_idle = asked
        waiting = [
            asyncio.create_task(
                status_after(gateway, followers, kickoff_id, version, 20, connected)
            )
            for _ in range(20)
        ]
        await asyncio.sleep(0.5)
        await asyncio.to_thread(resume, api, kickoff_id, "research_task", False, "more")
        changed = await asyncio.gather(*waiting)
        assert all(doc.version == version for doc in unchanged)
        return asked_while_idle, [doc.version for doc in changed]

    asked_while_idle, versions = asyncio.run(watch())
    # One query for the follower's first status, one for its first look at the history.
    assert asked_while_idle <= 2, f"{asked_while_idle} status queries for 20 idle watchers"
    assert all(v > version for v in versions)


def test_a_stream_and_a_long_poll_of_a_run_terminated_in_temporal_end(stack, api, receiver):
    """A run ended from outside never reaches a final state of its own: the stream ends
    when its follower sees the history close, and a long-poll waits out its `wait`."""
    kickoff_id = kickoff(api, receiver)
    human_input_request(receiver, kickoff_id, 1)
    version = settled_version(api, kickoff_id)

    def terminate_soon() -> None:
        time.sleep(1.0)
        temporal(stack, "workflow", "terminate", "--workflow-id", kickoff_id, "--reason", "test")

    threading.Thread(target=terminate_soon).start()
    started = time.monotonic()
    events = read_events(api, kickoff_id)
    assert time.monotonic() - started < 15, "the stream did not end with the run"
    assert "human_input_requested" in [e["event"] for e in events]
    started = time.monotonic()
    answer = api.get(f"/status/{kickoff_id}", params={"wait": 2, "since": version + 100})
    assert answer.status_code == 200
    assert 1.8 < time.monotonic() - started < 6, "a long-poll of an ended run did not wait"
    assert answer.json()["state"] == "STOPPED"


def test_watchers_cancelled_together_while_waiting_end_cleanly():
    """A stream's watcher is cancelled when its client goes away, often while it waits for
    its run to change beside the run's other watchers, and may be cancelled again before it
    ends (Starlette's cancel scope did so at each turn). Waiting on a Condition shared by the
    run's watchers,
    such a watcher gave back a lock it did not hold: "Lock is not acquired", an ASGI error
    logged with its traceback (about one in ten streams of the bench's 1,000 watchers)."""

    async def scenario() -> list[BaseException | bool]:
        follower = Follower(None, "run")  # type: ignore[arg-type]  # not started: no calls
        watchers = [asyncio.create_task(follower.wait_change(0, 30)) for _ in range(10)]
        await asyncio.sleep(0.01)  # all of them waiting
        for _ in range(5):
            for watcher in watchers:
                watcher.cancel()
            await asyncio.sleep(0)
        return await asyncio.wait_for(asyncio.gather(*watchers, return_exceptions=True), 5)

    # Not asyncio.run: its clean-up would wait for ever on a watcher stuck taking the lock.
    loop = asyncio.new_event_loop()
    try:
        outcomes = loop.run_until_complete(scenario())
    finally:
        loop.close()
    assert all(isinstance(o, asyncio.CancelledError) for o in outcomes), outcomes
