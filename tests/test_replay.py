"""Replay: a change to CrewRunWorkflow that would break running histories fails here.

`tests/histories/` holds histories recorded from real runs. To record a new one after a
deliberate change (a new behaviour_version, or a patch): run its test alone with
CREW_HITL_RECORD_HISTORY=1 and have it write a new file; the old one keeps proving that runs
from before the change replay."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from crew_hitl.tracing import Tracing
from support import (
    HISTORIES,
    human_input_request,
    kickoff,
    replay,
    resume,
    signal_resume,
    state_is,
    temporal,
    wait_status,
)


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
def test_recorded_histories_replay(path: Path):
    replay(path.read_text(), path.stem)


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
def test_recorded_histories_replay_with_tracing_on(path: Path):
    """The worker's tracing interceptor wraps the workflow and adds headers to what it
    schedules, never a command; while a history replays it makes no span."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    replay(path.read_text(), path.stem, Tracing(provider).temporal_interceptors())
    assert exporter.get_finished_spans() == ()


def test_recorded_histories_exist():
    assert sorted(HISTORIES.glob("*.json")), "no recorded history to replay"


def test_a_fresh_reject_approve_history_replays(stack, api, receiver):
    kickoff_id = kickoff(api, receiver, taskWebhookUrl=receiver.url("/task"))
    human_input_request(receiver, kickoff_id, 1)
    assert resume(api, kickoff_id, "research_task", False, "More detail").status_code == 200
    human_input_request(receiver, kickoff_id, 2)
    signal_resume(stack, kickoff_id, '{"task_id": "reporting_task", "is_approve": true}')
    # A decision sent to Temporal directly: its sender is looked up in history (a patch).
    cli_reject = {"task_id": "research_task", "is_approve": False, "reviewer": "carol"}
    signal_resume(stack, kickoff_id, cli_reject)
    human_input_request(receiver, kickoff_id, 3)
    assert resume(api, kickoff_id, "research_task", True, "Good").status_code == 200
    wait_status(api, kickoff_id, state_is("SUCCESS"))
    receiver.wait_for(
        lambda r: r.event == "task_completed" and r.body["kickoff_id"] == kickoff_id, count=2
    )
    history = temporal(stack, "workflow", "show", "--workflow-id", kickoff_id, "-o", "json")
    replay(history, kickoff_id)
    if os.environ.get("CREW_HITL_RECORD_HISTORY") == "1":
        # Decisions sent to Temporal directly have their sender looked up (since sources).
        (HISTORIES / "research_decided_from_the_cli.json").write_text(history)


def test_a_fresh_history_with_a_review_policy_and_an_event_stream_replays(stack, api, receiver):
    """A review policy (timers started and cancelled, a rejection, then two approvals of two:
    a CLI signal's and the bare token's) and a stream of every event, recorded."""
    stream = {"events": [], "url": receiver.url("/replay-stream"), "realtime": False}
    kickoff_id = kickoff(
        api,
        receiver,
        {"subject": "tides", "audience": "kids"},
        crew="reviewed_draft",
        webhooks=stream,
    )
    human_input_request(receiver, kickoff_id, 1)
    assert resume(api, kickoff_id, "draft_task", False, "shorter", round=1).status_code == 200
    human_input_request(receiver, kickoff_id, 2)
    alice = {"task_id": "draft_task", "is_approve": True, "reviewer": "alice", "round": 2}
    signal_resume(stack, kickoff_id, alice)
    wait_status(api, kickoff_id, lambda s: len(s["pending_human_input"]["approvals"]) == 1)
    assert resume(api, kickoff_id, "draft_task", True, "fine", round=2).status_code == 200
    wait_status(api, kickoff_id, state_is("SUCCESS"))
    receiver.wait_for(
        lambda r: (
            r.path == "/replay-stream"
            and any(e["type"] == "crew_kickoff_completed" for e in r.body["events"])
            and r.body["events"][0]["execution_id"] == kickoff_id
        )
    )
    history = temporal(stack, "workflow", "show", "--workflow-id", kickoff_id, "-o", "json")
    replay(history, kickoff_id)
    if os.environ.get("CREW_HITL_RECORD_HISTORY") == "1":
        (HISTORIES / "reviewed_with_an_event_stream.json").write_text(history)


def test_a_fresh_history_with_a_webhook_retried_after_its_local_attempt_replays(
    stack, api, receiver
):
    """The first attempt of an event that asks nobody to act is a local activity (since
    behaviour version 1 of the run's input; before it, a patch); a receiver that fails it
    gets the rest of the schedule from a regular activity after a timer. A request for review
    is a regular activity from the start. Recorded; the file from the patch's days is kept
    beside it."""
    receiver.answers["/crew-flaky-once"] = [503, 200]
    kickoff_id = kickoff(api, receiver, crewWebhookUrl=receiver.url("/crew-flaky-once"))
    human_input_request(receiver, kickoff_id, 1)
    assert resume(api, kickoff_id, "research_task", True, "Good").status_code == 200
    status = wait_status(
        api,
        kickoff_id,
        lambda s: s["state"] == "SUCCESS" and s["deliveries"][-1]["state"] != "pending",
    )
    done = [d for d in status["deliveries"] if d["event"] == "crew_completed"]
    assert [(d["state"], d["attempts"]) for d in done] == [("delivered", 2)], done
    history = temporal(stack, "workflow", "show", "--workflow-id", kickoff_id, "-o", "json")
    events = [event["eventType"] for event in json.loads(history)["events"]]
    # The request for review, then the crew_completed retry: both regular activities.
    scheduled = events.count("EVENT_TYPE_ACTIVITY_TASK_SCHEDULED")
    assert scheduled == 2, "a request for review or a retry was not a regular activity"
    # The run's input says how it behaves: no patch marker, no TemporalChangeVersion upsert.
    assert "webhook-first-attempt-local" not in history
    assert "TemporalChangeVersion" not in history
    replay(history, kickoff_id)
    if os.environ.get("CREW_HITL_RECORD_HISTORY") == "1":
        (HISTORIES / "webhook_retried_after_a_local_attempt_v1.json").write_text(history)
