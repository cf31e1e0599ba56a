"""The python executor: user functions get the task's context and their errors reach /status."""

from __future__ import annotations

import json

import pytest

from support import client_for, human_input_request, kickoff, resume, state_is, wait_status


def start(api, receiver, crew: str, subject: str) -> str:
    return kickoff(api, receiver, inputs={"subject": subject}, crew=crew)


def test_sync_and_async_functions_with_feedback_and_pydantic_output(api, receiver):
    kickoff_id = start(api, receiver, "python_review", "kelp")
    first = human_input_request(receiver, kickoff_id, 1)
    assert first.body["task_output"] == "Draft on kelp (round 1, call 1)"
    assert resume(api, kickoff_id, "draft_task", False, "Mention the otters").status_code == 200
    second = human_input_request(receiver, kickoff_id, 2)
    assert second.body["task_output"].endswith("- addressed: Mention the otters")
    assert resume(api, kickoff_id, "draft_task", True).status_code == 200
    status = wait_status(api, kickoff_id, state_is("SUCCESS"))
    outline = json.loads(status["result"])
    assert outline == {
        "title": "Outline the note.",
        "points": ["one", "two"],
        "based_on": ["draft_task"],
    }


def test_a_retryable_error_is_retried_by_the_activity(api, receiver):
    kickoff_id = start(api, receiver, "python_review", "flaky")
    first = human_input_request(receiver, kickoff_id, 1, timeout=20)
    assert first.body["task_output"] == "Draft on flaky (round 1, call 2)"


def test_an_exception_in_user_code_reaches_status_with_its_last_line(api, receiver):
    kickoff_id = start(api, receiver, "python_broken", "kelp")
    status = wait_status(api, kickoff_id, state_is("FAILED"), timeout=30)
    assert "ValueError: cannot draft kelp: no sources" in status["error"]


def test_an_import_error_fails_at_once_with_a_clear_message(api, receiver):
    kickoff_id = start(api, receiver, "python_missing", "kelp")
    status = wait_status(api, kickoff_id, state_is("FAILED"), timeout=10)
    assert "cannot load no_such_module_here:draft" in status["error"]
    assert "ModuleNotFoundError" in status["error"]


@pytest.mark.slow
@pytest.mark.parametrize("own_stack", [{"python_task_timeout": 1.5}], indirect=True)
def test_a_function_over_its_time_fails_the_run_after_its_retries(own_stack, receiver):
    """CREW_HITL_PYTHON_TASK_TIMEOUT bounds a round: past it the round is given up and
    retried (the function's thread runs on until it returns), and the run fails saying so."""
    with client_for(own_stack) as api:
        kickoff_id = kickoff(
            api, receiver, inputs={"subject": "fjords", "seconds": 4}, crew="slow_python"
        )
        status = wait_status(api, kickoff_id, state_is("FAILED"), timeout=60)
    assert "timeout" in status["error"].lower()
    assert status["tasks"][0]["status"] == "failed"
