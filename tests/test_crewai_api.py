"""The deployed-crew API as a client written from CrewAI's documents uses it: bodies shaped as
its reference and guides show them (written here), and the fields it reads back."""

from __future__ import annotations

from datetime import datetime

from support import human_input_request, kickoff, resume, state_is, wait_status


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


def test_resume_answers_404_for_a_task_the_crew_has_not_and_409_for_one_not_waiting(
    api, receiver
):
    kickoff_id = kickoff(api, receiver)
    human_input_request(receiver, kickoff_id, 1)
    unknown = resume(api, kickoff_id, "no_such_task", True)
    assert unknown.status_code == 404
    body = unknown.json()
    assert body["error"] == "not_found"
    assert "no task 'no_such_task'" in body["message"]
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
