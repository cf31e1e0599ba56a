"""The llm executor against a fake OpenAI-compatible server on loopback."""

from __future__ import annotations

import json

from support import (
    MODEL_KEY,
    completion,
    human_input_request,
    kickoff,
    resume,
    state_is,
    temporal,
    wait_status,
)


def start(api, receiver, subject: str, **extra) -> str:
    inputs = {"subject": subject}
    return kickoff(api, receiver, inputs=inputs, crew="llm_review", **extra)


def test_the_reviewers_feedback_reaches_the_model_verbatim(api, receiver, model_server):
    kickoff_id = start(api, receiver, "tides-fb", stepWebhookUrl=receiver.url("/steps"))
    first = human_input_request(receiver, kickoff_id, 1)
    feedback = 'Cite the 2024 tide tables, and keep "spring tide" in quotes.'
    assert resume(api, kickoff_id, "draft_task", False, feedback).status_code == 200
    second = human_input_request(receiver, kickoff_id, 2)

    calls = model_server.for_subject("tides-fb")
    assert len(calls) == 2
    first_call, second_call = calls
    assert first_call["model"] == "test-model"
    assert first_call["temperature"] == 0.2
    assert first_call["messages"][0]["role"] == "system"
    assert "tides-fb writer" in first_call["messages"][0]["content"]
    assert "Draft three sentences on tides-fb." in first_call["messages"][1]["content"]
    retry = second_call["messages"]
    assert {"role": "assistant", "content": first.body["task_output"]} in retry
    assert {"role": "user", "content": feedback} in retry
    assert retry[-1]["role"] == "user" and "Revise" in retry[-1]["content"]
    assert second.body["task_output"].startswith("Completion")
    assert model_server.headers[-1]["authorization"] == f"Bearer {MODEL_KEY}"
    steps = receiver.wait_for(
        lambda r: r.event == "agent_step" and r.body["kickoff_id"] == kickoff_id, count=2
    )
    assert {"role": "user", "content": feedback} in json.loads(steps[1].body["prompt"])
    assert steps[1].body["result"] == second.body["task_output"]
    assert "tokens" in steps[1].body["thought"]


def test_token_usage_adds_up_per_task_and_run(api, receiver, model_server):
    kickoff_id = start(api, receiver, "tides-usage", crewWebhookUrl=receiver.url("/crew"))
    human_input_request(receiver, kickoff_id, 1)
    assert resume(api, kickoff_id, "draft_task", False, "shorter").status_code == 200
    human_input_request(receiver, kickoff_id, 2)
    assert resume(api, kickoff_id, "draft_task", True).status_code == 200
    status = wait_status(api, kickoff_id, state_is("SUCCESS"))
    [done] = receiver.wait_for(
        lambda r: r.event == "crew_completed" and r.body["kickoff_id"] == kickoff_id
    )
    draft, title = status["tasks"]
    assert draft["token_usage"]["completion_tokens"] == 20  # two calls of 10
    assert title["token_usage"]["completion_tokens"] == 10
    run = status["token_usage"]
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        assert run[key] == draft["token_usage"][key] + title["token_usage"][key]
    assert run["total_tokens"] == run["prompt_tokens"] + run["completion_tokens"]
    assert done.body["token_usage"] == run
    steps = [s for s in receiver.events_for(kickoff_id) if s.event == "agent_step"]
    assert steps == []  # no stepWebhookUrl given; the steps are in /events instead


def test_429_then_200_is_retried(api, receiver, model_server):
    model_server.script.append((429, {"error": {"message": "slow down"}}, {"Retry-After": "0"}))
    kickoff_id = start(api, receiver, "tides-429")
    request = human_input_request(receiver, kickoff_id, 1)
    assert request.body["task_output"].startswith("Completion")
    assert len(model_server.for_subject("tides-429")) == 2


def test_401_fails_the_run_readably_without_the_key(stack, api, receiver, model_server):
    refusal = {"error": {"message": f"Incorrect API key provided: {MODEL_KEY}"}}
    model_server.script.append((401, refusal, {}))
    kickoff_id = start(api, receiver, "tides-401")
    status = wait_status(api, kickoff_id, state_is("FAILED"))
    assert "HTTP 401" in status["error"]
    assert "Incorrect API key provided" in status["error"]
    assert len(model_server.for_subject("tides-401")) == 1  # not retried
    history = temporal(stack, "workflow", "show", "--workflow-id", kickoff_id, "-o", "json")
    assert MODEL_KEY not in history
    assert MODEL_KEY not in str(status)


def test_an_output_over_the_limit_fails_the_task_clearly(api, receiver, model_server):
    model_server.script.append((200, completion("x" * 300 * 1024), {}))
    kickoff_id = start(api, receiver, "tides-huge")
    status = wait_status(api, kickoff_id, state_is("FAILED"))
    assert "300 KiB of output" in status["error"]
    assert "CREW_HITL_MAX_OUTPUT_BYTES (256 KiB)" in status["error"]
    assert len(model_server.for_subject("tides-huge")) == 1


def test_the_model_key_goes_only_to_the_endpoint_it_was_configured_for(api, receiver, model_server):
    """An agent naming another base_url (here the same server under another origin) gets no
    key: CREW_HITL_LLM_API_KEY belongs to CREW_HITL_LLM_BASE_URL's origin alone."""
    kickoff_id = kickoff(api, receiver, inputs={"subject": "origin-7b"}, crew="llm_elsewhere")
    human_input_request(receiver, kickoff_id, 1)
    with model_server.lock:
        [index] = [i for i, r in enumerate(model_server.requests) if "origin-7b" in json.dumps(r)]
        headers = model_server.headers[index]
    assert headers["host"].startswith("localhost:")
    assert "authorization" not in headers
