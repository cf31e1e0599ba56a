"""The `temporal` CLI drives a run exactly as the HTTP API does."""

from __future__ import annotations

import json

import pytest

from support import human_input_request, kickoff, signal_resume, state_is, temporal, wait_status


def test_cli_signal_resumes_and_cli_query_answers_status(stack, api, receiver):
    kickoff_id = kickoff(api, receiver)
    human_input_request(receiver, kickoff_id, 1)

    listed = temporal(
        stack, "workflow", "list", "--query", 'CrewState="PENDING_HUMAN_INPUT"', "-o", "json"
    )
    assert kickoff_id in listed

    queried = json.loads(
        temporal(
            stack,
            "workflow",
            "query",
            "--workflow-id",
            kickoff_id,
            "--name",
            "status",
            "-o",
            "json",
        )
    )
    [document] = queried["queryResult"]
    assert document["state"] == "PENDING_HUMAN_INPUT"
    assert document["pending_human_input"]["task_id"] == "research_task"

    reject = '{"task_id": "research_task", "is_approve": false, "human_feedback": "Add sources"}'
    signal_resume(stack, kickoff_id, reject)
    second = human_input_request(receiver, kickoff_id, 2)
    assert '"Add sources"' in second.body["task_output"]

    approve = json.dumps(
        {"task_id": "research_task", "is_approve": True, "human_feedback": "ok", "reviewer": "ops"}
    )
    signal_resume(stack, kickoff_id, approve)
    status = wait_status(api, kickoff_id, state_is("SUCCESS"))
    rounds = status["tasks"][0]["rounds"]
    assert [(r["decision"], r["feedback"]) for r in rounds] == [
        ("rejected", "Add sources"),
        ("approved", "ok"),
    ]
    assert rounds[1]["reviewer"] == "ops"


@pytest.mark.parametrize(
    "signal_input,reason",
    [
        (
            '{"task_id": "reporting_task", "is_approve": true}',
            "task 'reporting_task' is not waiting",
        ),
        (
            '{"task_id": "research_task", "is_approve": "yes please"}',
            "malformed resume: is_approve",
        ),
        (None, "malformed resume: no input"),
    ],
    ids=["task-not-waiting", "malformed", "no-input"],
)
def test_a_cli_signal_the_run_cannot_apply_is_recorded_and_changes_nothing(
    stack, api, receiver, signal_input, reason
):
    kickoff_id = kickoff(api, receiver)
    human_input_request(receiver, kickoff_id, 1)
    if signal_input is None:
        temporal(stack, "workflow", "signal", "--workflow-id", kickoff_id, "--name", "resume")
    else:
        signal_resume(stack, kickoff_id, signal_input)
    status = wait_status(api, kickoff_id, lambda s: s["ignored_resumes"])
    [ignored] = status["ignored_resumes"]
    assert ignored["reason"].startswith(reason), ignored["reason"]
    assert status["state"] == "PENDING_HUMAN_INPUT"
    assert status["tasks"][0]["rounds"][0]["decision"] is None
    signal_resume(stack, kickoff_id, '{"task_id": "research_task", "is_approve": true}')
    wait_status(api, kickoff_id, state_is("SUCCESS"))


def test_a_run_terminated_with_the_cli_reads_as_ended_not_waiting(stack, api, receiver):
    kickoff_id = kickoff(api, receiver)
    human_input_request(receiver, kickoff_id, 1)
    temporal(stack, "workflow", "terminate", "--workflow-id", kickoff_id, "--reason", "ops")
    status = api.get(f"/status/{kickoff_id}").json()
    assert status["state"] == "STOPPED"
    assert status["degraded"] is None
    assert status["pending_human_input"] is None
    assert "terminated in Temporal" in status["error"]
    assert status["tasks"][0]["rounds"][0]["output"], "the run's own record is kept"
