"""The deployed-crew API as a client written from CrewAI's documents uses it: bodies shaped as
its reference and guides show them (written here), and the fields it reads back."""

from __future__ import annotations

from datetime import datetime

from standardwebhooks.webhooks import Webhook

from support import WEBHOOK_SECRET, human_input_request, kickoff, resume, state_is, wait_status
from support.receiver import Received


def test_newer_top_level_fields_are_accepted_ignored_and_named(api, receiver):
    body = {
        "inputs": {"topic": "AI Research"},
        "meta": {"requestId": "user-request-12345", "source": "mobile-app"},
        "humanInputWebhook": {"url": receiver.url("/hitl")},
        "restoreFromStateId": "state-5521",
        "trainingMode": {"iterations": 2},
    }
    started = api.post("/kickoff", json=body)
    assert started.status_code == 200, started.text
    assert started.json()["ignored_fields"] == ["restoreFromStateId", "trainingMode"]
    kickoff_id = started.json()["kickoff_id"]
    human_input_request(receiver, kickoff_id, 1)

    decision = {
        "execution_id": kickoff_id,
        "task_id": "research_task",
        "human_feedback": "Looks good",
        "is_approve": True,
        "humanInputWebhook": {"url": receiver.url("/hitl-later")},
    }
    resumed = api.post("/resume", json=decision)
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["ignored_fields"] == ["humanInputWebhook"]
    assert resumed.json()["status"] == "resumed"

    # The fields this API knows stay strict, ignored ones beside them or not.
    wrong = api.post("/kickoff", json={"inputs": "AI", "restoreFromStateId": "s"})
    assert wrong.status_code == 422
    assert [p["field"] for p in wrong.json()["problems"]] == ["inputs"]


def test_a_known_request_names_nothing_ignored(api, receiver):
    started = api.post("/kickoff", json={"inputs": {"topic": "x"}})
    assert started.json()["ignored_fields"] == []


def test_status_reads_both_ways_and_at_the_older_path(api, receiver):
    kickoff_id = kickoff(api, receiver)
    human_input_request(receiver, kickoff_id, 1)
    waiting = api.get(f"/status/{kickoff_id}").json()
    assert (waiting["state"], waiting["status"]) == ("PENDING_HUMAN_INPUT", "pending_human_input")
    assert waiting["execution_time"] > 0
    older = api.get(f"/{kickoff_id}/status")
    assert older.status_code == 200
    assert older.json()["kickoff_id"] == kickoff_id
    assert older.json()["status"] == "pending_human_input"
    assert older.json()["execution_time"] >= waiting["execution_time"]

    assert resume(api, kickoff_id, "research_task", True, "ok").status_code == 200
    done = wait_status(api, kickoff_id, state_is("SUCCESS"))
    assert (done["state"], done["status"]) == ("SUCCESS", "completed")
    assert isinstance(done["result"], str) and done["result"]
    started = datetime.fromisoformat(done["started_at"])
    finished = datetime.fromisoformat(done["finished_at"])
    assert done["execution_time"] == round((finished - started).total_seconds(), 3)
    # A finished run's time stops at its end.
    assert api.get(f"/{kickoff_id}/status").json()["execution_time"] == done["execution_time"]
    for task in done["tasks"]:
        assert task["task_id"] and task["output"] and task["agent"]
        assert 0 < task["execution_time"] < done["execution_time"]

    assert api.get("/no-such-run/status").status_code == 404
    assert api.get(f"/{kickoff_id}/status", headers={"Authorization": ""}).status_code == 401


def test_a_stopped_and_a_failed_run_read_as_crewai_names_them(api, receiver):
    kickoff_id = kickoff(api, receiver)
    human_input_request(receiver, kickoff_id, 1)
    stopped = api.post(f"/stop/{kickoff_id}")
    assert stopped.json() == {
        "status": "stopped",
        "kickoff_id": kickoff_id,
        "kickoffId": kickoff_id,
    }
    status = wait_status(api, kickoff_id, state_is("STOPPED"))
    assert status["status"] == "stopped"
    assert status["execution_time"] is not None


def test_resume_of_a_task_the_crew_has_not_says_so(api, receiver):
    """409 as for any task not waiting (the service's contract; CrewAI's reference says 404:
    README's compatibility table), naming the crew's tasks."""
    kickoff_id = kickoff(api, receiver)
    human_input_request(receiver, kickoff_id, 1)
    unknown = resume(api, kickoff_id, "no_such_task", True)
    assert unknown.status_code == 409
    body = unknown.json()
    assert body["error"] == "conflict"
    assert "no task 'no_such_task' (its tasks: research_task, reporting_task)" in body["message"]
    assert body["detail"] == body["message"]
    not_waiting = resume(api, kickoff_id, "reporting_task", True)
    assert not_waiting.status_code == 409
    assert not_waiting.json()["detail"] == not_waiting.json()["message"]
    assert "'research_task' is" in not_waiting.json()["message"]


def test_every_error_body_has_error_message_and_detail(api):
    for answer in (
        api.get("/status/no-such-run"),
        api.post("/kickoff", json={"inputs": "x"}),
        api.post("/kickoff", content=b"{", headers={"Authorization": ""}),
    ):
        body = answer.json()
        assert set(body) >= {"error", "message", "detail"}, body
        assert body["detail"] == body["message"]


def stream_batches(receiver, path: str, kickoff_id: str) -> list[Received]:
    """Batches that reached `path`, one per webhook-id (a retried batch counts once)."""
    batches: dict[str, Received] = {}
    for hit in receiver.matching(lambda r: r.path == path and r.body.get("events")):
        if hit.body["events"][0]["execution_id"] == kickoff_id:
            batches.setdefault(hit.headers["webhook-id"], hit)
    return list(batches.values())


def test_a_webhooks_object_streams_the_subscribed_events_in_batches(api, receiver):
    """Two event types subscribed, batched: exactly those types arrive, in CrewAI's format,
    signed like every webhook, with the stream's own bearer token, and retried (the first
    batch's first attempt fails)."""
    receiver.answers["/stream-batched"] = [500, 200]
    body = {
        "inputs": {"topic": "AI Research"},
        "humanInputWebhook": {"url": receiver.url("/hitl")},
        "webhooks": {
            "events": ["crew_kickoff_started", "task_completed"],
            "url": receiver.url("/stream-batched"),
            "realtime": False,
            "authentication": {"strategy": "bearer", "token": "stream-token-8c2"},
        },
    }
    started = api.post("/kickoff", json=body)
    assert started.status_code == 200, started.text
    assert started.json()["ignored_fields"] == []
    kickoff_id = started.json()["kickoff_id"]
    human_input_request(receiver, kickoff_id, 1)
    assert resume(api, kickoff_id, "research_task", True, "ok").status_code == 200
    status = wait_status(api, kickoff_id, state_is("SUCCESS"))
    receiver.wait_for(
        lambda r: (
            r.path == "/stream-batched"
            and any(
                e["type"] == "task_completed" and e["data"]["task_name"] == "reporting_task"
                for e in r.body.get("events", [])
                if e["execution_id"] == kickoff_id
            )
        )
    )

    batches = stream_batches(receiver, "/stream-batched", kickoff_id)
    events = [event for batch in batches for event in batch.body["events"]]
    assert [(e["type"], e["data"].get("task_name")) for e in events] == [
        ("crew_kickoff_started", None),
        ("task_completed", "research_task"),
        ("task_completed", "reporting_task"),
    ]
    for batch in batches:
        assert set(batch.body) == {"events"}
        assert batch.headers["authorization"] == "Bearer stream-token-8c2"
        assert Webhook(WEBHOOK_SECRET).verify(batch.raw, batch.headers) == batch.body
    first_id = batches[0].headers["webhook-id"]
    retried = receiver.matching(lambda r: r.headers.get("webhook-id") == first_id)
    assert len(retried) == 2, "the batch was not retried after a 500"
    for event in events:
        assert set(event) == {"id", "execution_id", "timestamp", "type", "data"}
        assert event["execution_id"] == kickoff_id
        datetime.fromisoformat(event["timestamp"])
    assert len({e["id"] for e in events}) == len(events)
    assert events[0]["data"] == {"crew_name": "research", "inputs": {"topic": "AI Research"}}
    output = events[1]["data"]["output"]
    assert output["raw"] == status["tasks"][0]["output"] and output["agent"]

    def batch_rows(status: dict) -> list[dict]:
        return [row for row in status["deliveries"] if row["event"] == "events"]

    status = wait_status(
        api, kickoff_id, lambda s: all(r["state"] == "delivered" for r in batch_rows(s))
    )
    assert len(batch_rows(status)) == len(batches)
    assert batch_rows(status)[0]["attempts"] == 2


def test_a_realtime_stream_sends_each_event_at_once(api, receiver):
    body = {
        "inputs": {"topic": "AI Research"},
        "humanInputWebhook": {"url": receiver.url("/hitl")},
        "webhooks": {"events": [], "url": receiver.url("/stream-now"), "realtime": True},
    }
    kickoff_id = api.post("/kickoff", json=body).json()["kickoff_id"]
    human_input_request(receiver, kickoff_id, 1)
    assert resume(api, kickoff_id, "research_task", False, "more").status_code == 200
    human_input_request(receiver, kickoff_id, 2)
    api.post(f"/stop/{kickoff_id}")
    receiver.wait_for(
        lambda r: (
            r.path == "/stream-now"
            and r.body["events"][0]["execution_id"] == kickoff_id
            and r.body["events"][0]["type"] == "crew_kickoff_failed"
        )
    )
    batches = stream_batches(receiver, "/stream-now", kickoff_id)
    assert {len(batch.body["events"]) for batch in batches} == {1}
    types = [batch.body["events"][0]["type"] for batch in batches]
    round_events = ["task_started", "agent_execution_completed", "human_input_requested"]
    assert types == ["crew_kickoff_started", *round_events, *round_events, "crew_kickoff_failed"]
    rounds = [b.body["events"][0]["data"].get("round") for b in batches]
    assert rounds == [None, 1, 1, 1, 2, 2, 2, None]
    assert batches[-1].body["events"][0]["data"]["stopped"] is True
