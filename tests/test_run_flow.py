"""The seed flow end to end: kickoff → webhook → reject → approve → completed."""

from __future__ import annotations

import base64

import pytest

from support import (
    TOKEN,
    WEBHOOK_TOKEN,
    api_client,
    human_input_request,
    kickoff,
    resume,
    state_is,
    wait_status,
)


def test_kickoff_pauses_for_human_input_with_an_authenticated_webhook(api, receiver):
    kickoff_id = kickoff(api, receiver, meta={"ticket": 42})
    request = human_input_request(receiver, kickoff_id, 1)

    assert request.path == "/hitl"
    assert request.headers["authorization"] == f"Bearer {WEBHOOK_TOKEN}"
    assert request.headers["webhook-id"].startswith("msg_")
    body = request.body
    assert body["event"] == "human_input_requested"
    assert body["execution_id"] == body["kickoff_id"] == kickoff_id
    assert body["task_id"] == "research_task"
    assert body["round"] == 1
    assert "Conduct a thorough research about AI Research" in body["task_output"]
    assert body["resume_url"].endswith("/resume")
    assert body["meta"] == {"ticket": 42}

    status = wait_status(api, kickoff_id, state_is("PENDING_HUMAN_INPUT"))
    assert status["current_task"] == "research_task"
    pending = status["pending_human_input"]
    assert pending["task_id"] == "research_task"
    assert pending["round"] == 1
    assert pending["output"] == body["task_output"]
    assert status["progress"] == {"completed_tasks": 0, "total_tasks": 2}
    assert [t["status"] for t in status["tasks"]] == ["awaiting_review", "pending"]


def test_basic_authentication_reaches_the_webhook(api, receiver):
    kickoff_id = kickoff(
        api,
        receiver,
        humanInputWebhook={
            "url": receiver.url("/hitl-basic"),
            "authentication": {"strategy": "basic", "username": "ann", "password": "p@ss:w"},
        },
    )
    [request] = receiver.wait_for(lambda r: r.body.get("kickoff_id") == kickoff_id)
    expected = base64.b64encode(b"ann:p@ss:w").decode()
    assert request.path == "/hitl-basic"
    assert request.headers["authorization"] == f"Basic {expected}"


def test_reject_reruns_with_feedback_then_approve_completes_the_crew(api, receiver):
    kickoff_id = kickoff(
        api,
        receiver,
        taskWebhookUrl=receiver.url("/task"),
        stepWebhookUrl=receiver.url("/step"),
        crewWebhookUrl=receiver.url("/crew"),
    )
    first = human_input_request(receiver, kickoff_id, 1)

    answer = resume(api, kickoff_id, "research_task", False, "Add sources, please")
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "retrying"
    second = human_input_request(receiver, kickoff_id, 2)
    assert '"Add sources, please"' in second.body["task_output"]
    assert second.body["task_output"] != first.body["task_output"]
    assert second.headers["webhook-id"] != first.headers["webhook-id"]

    answer = resume(api, kickoff_id, "research_task", False, "And cite 2025 papers")
    assert answer.json()["status"] == "retrying"
    third = human_input_request(receiver, kickoff_id, 3)
    assert '1. "Add sources, please"' in third.body["task_output"]
    assert '2. "And cite 2025 papers"' in third.body["task_output"]

    answer = resume(api, kickoff_id, "research_task", True, "Great, keep the sources")
    assert answer.status_code == 200
    assert answer.json()["status"] == "resumed"

    [done] = receiver.wait_for(
        lambda r: r.event == "crew_completed" and r.body["kickoff_id"] == kickoff_id
    )
    status = wait_status(api, kickoff_id, state_is("SUCCESS"))
    assert done.path == "/crew"
    assert done.body["result"] == status["result"]
    assert set(done.body["token_usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}

    research, reporting = status["tasks"]
    assert [r["decision"] for r in research["rounds"]] == ["rejected", "rejected", "approved"]
    assert [r["feedback"] for r in research["rounds"]] == [
        "Add sources, please",
        "And cite 2025 papers",
        "Great, keep the sources",
    ]
    assert research["output"] == third.body["task_output"]
    # The approved output and the approval's note reach the next task.
    assert "research_task: # research_task (round 3)" in reporting["output"]
    assert '"Great, keep the sources"' in reporting["output"]
    assert status["result"] == reporting["output"]
    assert status["last_executed_task"]["task_id"] == "reporting_task"
    assert status["progress"] == {"completed_tasks": 2, "total_tasks": 2}
    assert status["pending_human_input"] is None

    receiver.wait_for(
        lambda r: r.event == "task_completed" and r.body["kickoff_id"] == kickoff_id, count=2
    )
    completed = [r for r in receiver.events_for(kickoff_id) if r.event == "task_completed"]
    assert {r.path for r in completed} == {"/task"}
    by_task = {r.body["task_id"]: r.body for r in completed}
    assert by_task["research_task"]["output"] == research["output"]
    # As CrewAI's task webhook has them: the agent's role, the description's summary.
    assert by_task["reporting_task"]["agent"] == "AI Research Reporting Analyst"
    assert by_task["reporting_task"]["summary"] == (
        "Review the context you got and expand each topic into..."
    )
    assert by_task["reporting_task"]["output_json"] is None
    assert by_task["reporting_task"]["expected_output"].startswith("A fully fledged report")

    steps = receiver.wait_for(
        lambda r: r.event == "agent_step" and r.body["kickoff_id"] == kickoff_id, count=4
    )
    assert [s.body["task_id"] for s in steps] == ["research_task"] * 3 + ["reporting_task"]
    assert all(s.path == "/step" for s in steps)
    assert "Feedback 1: Add sources, please" in steps[1].body["prompt"]


def test_webhook_urls_given_at_resume_replace_only_those_given(api, receiver):
    kickoff_id = kickoff(
        api,
        receiver,
        taskWebhookUrl=receiver.url("/task-old"),
        crewWebhookUrl=receiver.url("/crew-kept"),
    )
    human_input_request(receiver, kickoff_id, 1)
    answer = resume(
        api, kickoff_id, "research_task", True, taskWebhookUrl=receiver.url("/task-new")
    )
    assert answer.status_code == 200
    receiver.wait_for(lambda r: r.event == "crew_completed" and r.body["kickoff_id"] == kickoff_id)
    receiver.wait_for(
        lambda r: r.event == "task_completed" and r.body["kickoff_id"] == kickoff_id, count=2
    )
    paths = {(r.event, r.path) for r in receiver.events_for(kickoff_id)}
    assert ("task_completed", "/task-new") in paths
    assert ("task_completed", "/task-old") not in paths
    assert ("crew_completed", "/crew-kept") in paths


def test_rejections_past_max_review_rounds_fail_the_run_clearly(api, receiver):
    inputs = {"subject": "tides", "audience": "sailors"}
    kickoff_id = kickoff(api, receiver, inputs=inputs, crew="strict_review")
    human_input_request(receiver, kickoff_id, 1)
    assert resume(api, kickoff_id, "draft_task", False, "too short").status_code == 200
    human_input_request(receiver, kickoff_id, 2)
    assert resume(api, kickoff_id, "draft_task", False, "still short").status_code == 200

    status = wait_status(api, kickoff_id, state_is("FAILED"))
    assert "draft_task" in status["error"]
    assert "max_review_rounds" in status["error"]
    assert status["tasks"][0]["status"] == "failed"
    assert status["pending_human_input"] is None
    late = resume(api, kickoff_id, "draft_task", True)
    assert late.status_code == 409


def test_context_lists_name_the_tasks_whose_outputs_a_task_sees(api, receiver):
    inputs = {"subject": "tides", "audience": "sailors"}
    kickoff_id = kickoff(api, receiver, inputs=inputs, crew="strict_review")
    draft = human_input_request(receiver, kickoff_id, 1)
    assert "Draft a note on tides for sailors." in draft.body["task_output"]
    assert resume(api, kickoff_id, "draft_task", True).status_code == 200
    [polish] = receiver.wait_for(
        lambda r: (
            r.body.get("execution_id") == kickoff_id and r.body.get("task_id") == "polish_task"
        )
    )
    assert "- draft_task: # draft_task (round 1)" in polish.body["task_output"]


def test_stop_cancels_a_paused_run(api, receiver):
    kickoff_id = kickoff(api, receiver)
    human_input_request(receiver, kickoff_id, 1)
    answer = api.post(f"/stop/{kickoff_id}")
    assert answer.status_code == 200
    assert answer.json() == {"status": "stopped", "kickoff_id": kickoff_id, "kickoffId": kickoff_id}
    status = wait_status(api, kickoff_id, state_is("STOPPED"))
    assert status["pending_human_input"] is None
    assert status["tasks"][0]["status"] == "stopped"
    assert api.post(f"/stop/{kickoff_id}").status_code == 409
    assert resume(api, kickoff_id, "research_task", True).status_code == 409


def test_inputs_root_and_health(api):
    assert api.get("/inputs").json() == {"inputs": ["topic"]}
    assert api.get("/inputs", params={"crew": "strict_review"}).json() == {
        "inputs": ["subject", "audience"]
    }
    assert api.get("/").json() == {"status": "healthy"}
    health = api.get("/health")
    assert health.status_code == 200
    assert health.json()["workers"] >= 1


@pytest.mark.parametrize("own_stack", [{"workflow_sandbox": True}], indirect=True)
def test_the_seed_flow_runs_with_the_worker_in_the_sandbox(own_stack, receiver):
    """CREW_HITL_WORKFLOW_SANDBOX=true: the worker runs the workflow in Temporal's sandbox
    with our modules passed through (the default runs it outside)."""
    with api_client(own_stack, TOKEN) as api:
        kickoff_id = kickoff(api, receiver)
        human_input_request(receiver, kickoff_id, 1)
        assert resume(api, kickoff_id, "research_task", False, "More").status_code == 200
        human_input_request(receiver, kickoff_id, 2)
        assert resume(api, kickoff_id, "research_task", True, "Good").status_code == 200
        status = wait_status(api, kickoff_id, state_is("SUCCESS"))
    assert [r["decision"] for r in status["tasks"][0]["rounds"]] == ["rejected", "approved"]
    assert "(workflow in Temporal's sandbox)" in (own_stack.log_dir / "worker.log").read_text()
