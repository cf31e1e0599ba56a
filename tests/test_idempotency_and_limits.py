"""A retried kickoff with the same Idempotency-Key starts one run; oversized bodies are 413."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from support import human_input_request, resume, state_is, wait_status


def kickoff_with_key(api: httpx.Client, receiver, key: str) -> httpx.Response:
    body = {"inputs": {"topic": "keys"}, "humanInputWebhook": {"url": receiver.url("/idem")}}
    return api.post("/kickoff", json=body, headers={"Idempotency-Key": key})


def test_a_kickoff_key_reused_for_another_request_is_422(api, receiver):
    first = kickoff_with_key(api, receiver, "order-5120")
    assert first.status_code == 200
    other = {"inputs": {"topic": "something else"}}
    reused = api.post("/kickoff", json=other, headers={"Idempotency-Key": "order-5120"})
    assert reused.status_code == 422
    assert "Idempotency-Key" in reused.json()["message"]
    assert kickoff_with_key(api, receiver, "order-5120").json() == first.json()


def test_one_run_per_idempotency_key(api, receiver):
    first = kickoff_with_key(api, receiver, "order-4711")
    again = kickoff_with_key(api, receiver, "order-4711")
    other = kickoff_with_key(api, receiver, "order-4712")
    assert first.status_code == again.status_code == other.status_code == 200
    kickoff_id = first.json()["kickoff_id"]
    assert again.json()["kickoff_id"] == kickoff_id
    assert other.json()["kickoff_id"] != kickoff_id

    human_input_request(receiver, kickoff_id, 1)
    assert resume(api, kickoff_id, "research_task", True).status_code == 200
    wait_status(api, kickoff_id, state_is("SUCCESS"))
    # Still the same run after it finished: a late retry does not start another.
    assert kickoff_with_key(api, receiver, "order-4711").json()["kickoff_id"] == kickoff_id
    requests = receiver.matching(
        lambda r: r.body.get("kickoff_id") == kickoff_id and r.event == "human_input_requested"
    )
    assert len(requests) == 1


def resume_with_key(api: httpx.Client, kickoff_id: str, key: str, approve: bool) -> httpx.Response:
    body = {"execution_id": kickoff_id, "task_id": "research_task", "is_approve": approve}
    return api.post(
        "/resume", json=body | {"human_feedback": "again"}, headers={"Idempotency-Key": key}
    )


def test_a_retried_resume_with_the_same_key_is_applied_once(api, receiver):
    """A client whose first /resume timed out (it was applied) retries it once the run has
    moved on to round 2: the retry is answered as the first was and does not reject round 2."""
    kickoff_id = kickoff_with_key(api, receiver, "order-5001").json()["kickoff_id"]
    human_input_request(receiver, kickoff_id, 1)
    first = resume_with_key(api, kickoff_id, "reject-1", False)
    assert first.status_code == 200
    human_input_request(receiver, kickoff_id, 2)

    again = [resume_with_key(api, kickoff_id, "reject-1", False) for _ in range(3)]
    assert [a.status_code for a in again] == [200] * 3
    assert {a.json()["decision_id"] for a in again} == {first.json()["decision_id"]}
    other = resume_with_key(api, kickoff_id, "reject-1", True)  # the key, another decision
    assert other.status_code == 422
    assert "already used for rejected" in other.json()["message"]

    status = wait_status(api, kickoff_id, state_is("PENDING_HUMAN_INPUT"))
    assert [r["decision"] for r in status["tasks"][0]["rounds"]] == ["rejected", None]
    assert [e["applied"] for e in status["audit"]] == [True]

    # Once the run has finished, the retry no longer passes the API's own checks: the answer
    # then comes from the run's record of the first attempt (the `decision` query).
    assert resume(api, kickoff_id, "research_task", True, round=2).status_code == 200
    wait_status(api, kickoff_id, state_is("SUCCESS"))
    late = resume_with_key(api, kickoff_id, "reject-1", False)
    assert late.status_code == 200, late.text
    assert late.json()["decision_id"] == first.json()["decision_id"]
    unknown = resume_with_key(api, kickoff_id, "never-sent", False)
    assert unknown.status_code == 409  # no first attempt to answer from: the run is done


def test_the_same_key_sent_twice_at_once_applies_once(api, receiver):
    kickoff_id = kickoff_with_key(api, receiver, "order-5002").json()["kickoff_id"]
    human_input_request(receiver, kickoff_id, 1)
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(
            pool.map(lambda _: resume_with_key(api, kickoff_id, "reject-2", False), range(4))
        )
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    assert len({a.json()["decision_id"] for a in answers}) == 1

    status = wait_status(api, kickoff_id, state_is("PENDING_HUMAN_INPUT"))
    assert [r["decision"] for r in status["tasks"][0]["rounds"]] == ["rejected", None]
    # Copies that reached the run anyway changed nothing and are not recorded again.
    assert [e["decision_id"] for e in status["audit"]] == [answers[0].json()["decision_id"]]


def test_an_idempotency_key_over_255_characters_is_422(api):
    response = api.post(
        "/kickoff", json={"inputs": {"topic": "x"}}, headers={"Idempotency-Key": "k" * 256}
    )
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["message"]


def test_a_body_over_the_limit_is_413(api):
    huge = {"inputs": {"topic": "x" * (1024 * 1024 + 10)}}
    response = api.post("/kickoff", json=huge)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    streamed = api.post(
        "/resume",
        content=iter([b"{" + b" " * (700 * 1024), b" " * (700 * 1024) + b"}"]),
        headers={"content-type": "application/json"},
    )
    assert streamed.status_code == 413


def test_a_large_feedback_under_the_limit_is_kept_as_text(api, receiver):
    body = {"inputs": {"topic": "big"}, "humanInputWebhook": {"url": receiver.url("/big")}}
    kickoff_id = api.post("/kickoff", json=body).json()["kickoff_id"]
    human_input_request(receiver, kickoff_id, 1)
    feedback = "<script>alert(1)</script> '; DROP TABLE runs; -- **bold** \u202e\x07" * 2000
    assert resume(api, kickoff_id, "research_task", False, feedback).status_code == 200
    status = wait_status(
        api,
        kickoff_id,
        lambda s: s["pending_human_input"] and s["pending_human_input"]["round"] == 2,
    )
    assert status["tasks"][0]["rounds"][0]["feedback"] == feedback


def test_a_feedback_over_the_body_limit_is_413_and_changes_nothing(api, receiver):
    body = {"inputs": {"topic": "mb"}, "humanInputWebhook": {"url": receiver.url("/mb")}}
    kickoff_id = api.post("/kickoff", json=body).json()["kickoff_id"]
    human_input_request(receiver, kickoff_id, 1)
    answer = resume(api, kickoff_id, "research_task", False, "x" * 1024 * 1024)
    assert answer.status_code == 413
    assert answer.json()["error"] == "payload_too_large"
    status = wait_status(api, kickoff_id, state_is("PENDING_HUMAN_INPUT"))
    assert status["tasks"][0]["rounds"][0]["decision"] is None


def test_a_1mb_feedback_under_the_limit_fails_the_run_saying_why(api, receiver):
    """Accepted and kept, but the next round's output quotes it whole: more than
    CREW_HITL_MAX_OUTPUT_BYTES, so the run fails, says why in /status and sends crew_failed."""
    body = {
        "inputs": {"topic": "mb"},
        "humanInputWebhook": {"url": receiver.url("/mb")},
        "crewWebhookUrl": receiver.url("/mb-crew"),
    }
    kickoff_id = api.post("/kickoff", json=body).json()["kickoff_id"]
    human_input_request(receiver, kickoff_id, 1)
    feedback = "x" * 1_000_000
    assert resume(api, kickoff_id, "research_task", False, feedback).status_code == 200
    status = wait_status(api, kickoff_id, state_is("FAILED"))
    assert "CREW_HITL_MAX_OUTPUT_BYTES (256 KiB)" in status["error"]
    assert status["tasks"][0]["rounds"][0]["feedback"] == feedback
    receiver.wait_for(lambda r: r.event == "crew_failed" and r.body["kickoff_id"] == kickoff_id)


@pytest.mark.parametrize("size", [400_000, 800_000])
def test_a_kickoff_too_large_for_temporal_is_413(api, size):
    # Under the body limit, but the topic is filled into each task: over Temporal's blob limit
    # (400 kB) or gRPC's message limit (800 kB, which used to be a 503 "temporal_unavailable").
    response = api.post("/kickoff", json={"inputs": {"topic": "y" * size}})
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "payload_too_large"
    assert "too large for Temporal" in response.json()["message"]


def test_an_input_that_makes_an_output_over_the_limit_fails_the_run_saying_why(api, receiver):
    body = {"inputs": {"topic": "y" * 200_000}, "humanInputWebhook": {"url": receiver.url("/big")}}
    response = api.post("/kickoff", json=body)
    assert response.status_code == 200, response.text
    status = wait_status(api, response.json()["kickoff_id"], state_is("FAILED"))
    assert "CREW_HITL_MAX_OUTPUT_BYTES (256 KiB)" in status["error"]
