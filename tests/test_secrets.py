"""Webhook credentials and API tokens never appear in plaintext: history, /status, logs."""

from __future__ import annotations

import base64

import httpx
import pytest

from runner.stack import Stack
from support import (
    MODEL_KEY,
    ROTATED_SECRET,
    TOKEN,
    WEBHOOK_SECRET,
    client_for,
    human_input_request,
    kickoff,
    resume,
    state_is,
    temporal,
    wait_status,
)

BEARER = "bearer-cred-4b7a1c"
PASSWORD = "basic-pw-93ac1e"
URL_SECRET = "querytoken-1d9f"


def test_credentials_never_reach_history_status_or_logs(stack, api, receiver):
    run_and_search_for_secrets(stack, api, receiver)


@pytest.mark.parametrize("own_stack", [{"log_level": "DEBUG"}], indirect=True)
def test_no_secret_in_any_log_line_at_debug_level(own_stack, receiver):
    with client_for(own_stack) as api:
        run_and_search_for_secrets(own_stack, api, receiver)
    assert own_stack.log_dir is not None
    worker_log = (own_stack.log_dir / "worker.log").read_text(errors="replace")
    assert " DEBUG " in worker_log, "the worker did not log at DEBUG level"


def run_and_search_for_secrets(stack: Stack, api: httpx.Client, receiver) -> None:
    """A run with every kind of credential (webhook bearer and basic auth, a URL query
    secret, the API token, the model key, signing secrets), then a search for each in
    /status, history, describe and every process's log."""
    model_run = kickoff(api, receiver, inputs={"subject": "secrets"}, crew="llm_review")
    bearer_run = kickoff(
        api,
        receiver,
        humanInputWebhook={
            "url": receiver.url("/hitl"),
            "authentication": {"strategy": "bearer", "token": BEARER},
        },
        taskWebhookUrl=receiver.url(f"/task?key={URL_SECRET}"),
    )
    basic_run = kickoff(
        api,
        receiver,
        humanInputWebhook={
            "url": receiver.url("/hitl"),
            "authentication": {"strategy": "basic", "username": "u", "password": PASSWORD},
        },
    )
    delivered = human_input_request(receiver, bearer_run, 1)
    assert delivered.headers["authorization"] == f"Bearer {BEARER}"
    human_input_request(receiver, basic_run, 1)
    assert resume(api, bearer_run, "research_task", True).status_code == 200
    [task_hook] = receiver.wait_for(
        lambda r: (
            r.event == "task_completed"
            and r.body["kickoff_id"] == bearer_run
            and r.body["task_id"] == "research_task"
        ),
        count=1,
    )
    assert task_hook.path == f"/task?key={URL_SECRET}"
    wait_status(api, bearer_run, state_is("SUCCESS"))
    human_input_request(receiver, model_run, 1)

    basic_encoded = base64.b64encode(f"u:{PASSWORD}".encode()).decode()
    signing = [WEBHOOK_SECRET, ROTATED_SECRET, WEBHOOK_SECRET.removeprefix("whsec_")]
    secrets = [BEARER, PASSWORD, basic_encoded, URL_SECRET, TOKEN, MODEL_KEY, *signing]
    places = {
        "status": api.get(f"/status/{bearer_run}").text + api.get(f"/status/{basic_run}").text,
        "history": temporal(stack, "workflow", "show", "--workflow-id", bearer_run, "-o", "json")
        + temporal(stack, "workflow", "show", "--workflow-id", basic_run, "-o", "json"),
        "describe": temporal(stack, "workflow", "describe", "--workflow-id", bearer_run),
        "model run": temporal(stack, "workflow", "show", "--workflow-id", model_run, "-o", "json"),
    }
    assert stack.log_dir is not None
    for log in sorted(stack.log_dir.glob("*.log")):
        places[log.name] = log.read_text(errors="replace")
    assert "history" in places and len(places["history"]) > 1000
    for where, text in places.items():
        for secret in secrets:
            assert secret not in text, f"{secret!r} found in {where}"
