"""Long review loops continue as new when the server suggests it: the run keeps its
kickoff_id, every round and decision, and nothing is lost or doubled on the way."""

from __future__ import annotations

import json
import os

import httpx
import pytest

from runner.stack import Stack, free_port
from support import (
    HISTORIES,
    WebhookReceiver,
    client_for,
    human_input_request,
    replay,
    resume,
    start_receiver,
    state_is,
    temporal,
    wait_status,
)

# The dev server suggests continue-as-new after this many history events (default 4,096).
EARLY = {"temporal_args": ["--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=40"]}
TASK = "draft_task"


def review_loop(api: httpx.Client, receiver: WebhookReceiver, rejects: int) -> str:
    body = {
        "crew": "long_review",
        "inputs": {"subject": "patience"},
        "humanInputWebhook": {"url": receiver.url("/long")},
        "taskWebhookUrl": receiver.url("/long"),
    }
    response = api.post("/kickoff", json=body)
    assert response.status_code == 200, response.text
    kickoff_id = response.json()["kickoff_id"]
    for number in range(1, rejects + 1):
        human_input_request(receiver, kickoff_id, number, timeout=60)
        answer = resume(api, kickoff_id, TASK, False, f"fix {number}", round=number)
        assert answer.status_code == 200, answer.text
    human_input_request(receiver, kickoff_id, rejects + 1, timeout=60)
    assert resume(api, kickoff_id, TASK, True, "done", round=rejects + 1).status_code == 200
    return kickoff_id


def assert_every_round_once(
    api: httpx.Client, receiver: WebhookReceiver, kickoff_id: str, rejects: int
) -> dict:
    status = wait_status(api, kickoff_id, state_is("SUCCESS"), timeout=120)
    assert status["kickoff_id"] == kickoff_id
    rounds = status["tasks"][0]["rounds"]
    assert [r["decision"] for r in rounds] == ["rejected"] * rejects + ["approved"]
    assert [r["feedback"] for r in rounds[:rejects]] == [f"fix {n}" for n in range(1, rejects + 1)]
    applied = [entry for entry in status["audit"] if entry["applied"]]
    assert [(e["round"], e["decision"]) for e in applied[-2:]] == [
        (rejects, "rejected"),
        (rejects + 1, "approved"),
    ]
    requests = receiver.wait_for(
        lambda r: r.event == "human_input_requested" and r.body["kickoff_id"] == kickoff_id,
        count=rejects + 1,
        timeout=60,
    )
    by_id = {r.headers["webhook-id"]: r.body["round"] for r in requests}
    assert sorted(by_id.values()) == list(range(1, rejects + 2)), "a round lost or doubled"
    return status


def run_ids(stack: Stack, kickoff_id: str) -> list[dict]:
    listed = temporal(
        stack, "workflow", "list", "--query", f"WorkflowId='{kickoff_id}'", "-o", "json"
    )
    return (
        json.loads(listed)
        if listed.strip().startswith("[")
        else [json.loads(line) for line in listed.splitlines() if line.strip()]
    )


# The same paths run in process in test_workflow_continue_as_new.py (seconds, in make test);
# these drive them through the real server, API and CLI.
@pytest.mark.slow
@pytest.mark.parametrize("own_stack", [EARLY], indirect=True)
def test_a_review_loop_continues_as_new_and_keeps_everything(own_stack, receiver):
    rejects = 12
    with client_for(own_stack) as api:
        kickoff_id = review_loop(api, receiver, rejects)
        status = assert_every_round_once(api, receiver, kickoff_id, rejects)
        assert status["continued"] >= 2, "the run never continued as new"
        listed = api.get("/executions", params={"crew": "long_review"}).json()["executions"]
    assert [row["kickoff_id"] for row in listed] == [kickoff_id], "listed once, as its latest run"
    still_waiting = temporal(
        own_stack, "workflow", "count", "--query",
        f"WorkflowId='{kickoff_id}' AND CrewState='PENDING_HUMAN_INPUT'",
    )  # fmt: skip
    assert still_waiting.split()[-1] == "0", still_waiting
    runs = run_ids(own_stack, kickoff_id)
    assert len(runs) == status["continued"] + 1
    closed = {r["status"] for r in runs}
    assert "WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW" in closed
    first = min(runs, key=lambda r: r["startTime"])
    history = temporal(
        own_stack,
        "workflow", "show", "--workflow-id", kickoff_id,
        "--run-id", first["execution"]["runId"], "-o", "json",
    )  # fmt: skip
    assert "ContinuedAsNew" in history or "CONTINUED_AS_NEW" in history
    replay(history, kickoff_id)
    if os.environ.get("CREW_HITL_RECORD_HISTORY") == "1":
        (HISTORIES / "long_review_continued_as_new.json").write_text(history)


@pytest.mark.slow
def test_a_thousand_review_rounds_on_one_task(own_stack, receiver):
    """Fault test 7: on the server's own limits, 1,000 rounds continue as new as needed."""
    rejects = 999
    with client_for(own_stack) as api:
        kickoff_id = review_loop(api, receiver, rejects)
        status = assert_every_round_once(api, receiver, kickoff_id, rejects)
    print(f"1,000 rounds: {status['continued']} continuations")
    assert status["continued"] >= 1


FORCED = {
    **EARLY,
    "force_continue_after_events": 100,
    "webhook_retry_schedule": ",".join(["1"] * 60),
}


@pytest.mark.slow
@pytest.mark.parametrize("own_stack", [FORCED], indirect=True)
def test_a_receiver_that_stays_down_does_not_stop_the_continuation(own_stack):
    """Past force_continue_after_events the run continues with its deliveries under way;
    the continuation sends them again, with the same webhook-id, once the receiver is back."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/back-later"
    body = {
        "crew": "long_review",
        "inputs": {"subject": "outage"},
        "humanInputWebhook": {"url": url},
    }
    rejects = 24
    with client_for(own_stack) as api:
        kickoff_id = api.post("/kickoff", json=body).json()["kickoff_id"]
        for number in range(1, rejects + 2):
            wait_status(api, kickoff_id, round_pending(number), timeout=60)
            approve = number == rejects + 1
            assert resume(api, kickoff_id, TASK, approve, f"fix {number}", round=number).is_success
        status = wait_status(api, kickoff_id, lambda s: s["state"] == "SUCCESS", timeout=60)
        assert status["continued"] >= 1, "the run never continued as new"
        assert {d["state"] for d in status["deliveries"]} == {"pending"}
        back = start_receiver(port)
        try:
            received = back.wait_for(
                lambda r: r.path == "/back-later", count=rejects + 1, timeout=60
            )
            by_id = {r.headers["webhook-id"]: r.body["round"] for r in received}
            assert sorted(by_id.values()) == list(range(1, rejects + 2))
            # A webhook arrives before the run records its delivery: wait for the rows.
            wait_status(
                api,
                kickoff_id,
                lambda s: {d["state"] for d in s["deliveries"]} == {"delivered"},
                timeout=60,
            )
        finally:
            back.server.shutdown()
            back.server.server_close()


def round_pending(number: int):
    return lambda s: (s.get("pending_human_input") or {}).get("round") == number
