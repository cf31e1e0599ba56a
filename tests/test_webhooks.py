"""Webhooks people can trust: signed per Standard Webhooks, retried on a schedule with the same
webhook-id, 410 and Retry-After honoured, and every delivery visible in /status."""

from __future__ import annotations

import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from crew_hitl.targets import display_url
from runner.stack import free_port
from support import (
    ROTATED_SECRET,
    WEBHOOK_SECRET,
    human_input_request,
    kickoff,
    resume,
    start_receiver,
    state_is,
    wait_status,
)


def test_every_webhook_verifies_with_each_configured_secret(api, receiver):
    kickoff_id = kickoff(api, receiver)
    request = human_input_request(receiver, kickoff_id, 1)
    for secret in (WEBHOOK_SECRET, ROTATED_SECRET):
        verified = Webhook(secret).verify(request.raw, request.headers)
        assert verified["execution_id"] == kickoff_id
    assert len(request.headers["webhook-signature"].split()) == 2
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60


def test_a_tampered_body_or_unknown_secret_fails_verification(api, receiver):
    kickoff_id = kickoff(api, receiver)
    request = human_input_request(receiver, kickoff_id, 1)
    tampered = request.raw.replace(b'"round":1', b'"round":2')
    assert tampered != request.raw
    with pytest.raises(WebhookVerificationError):
        Webhook(WEBHOOK_SECRET).verify(tampered, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB").verify(request.raw, request.headers)


def test_a_receiver_that_refuses_connections_then_returns_gets_the_event(api, receiver):
    port = free_port()  # nothing listens here yet: connections are refused
    url = f"http://127.0.0.1:{port}/late"
    kickoff_id = kickoff(api, receiver, humanInputWebhook={"url": url})
    time.sleep(1.0)  # attempts at 0 s and 0.2 s fail; the next comes at 0.7 s, then 1.7 s
    refused_until = time.monotonic()
    late = start_receiver(port)
    try:
        [request] = late.wait_for(lambda r: r.body.get("kickoff_id") == kickoff_id, timeout=10)
        delay = request.received_at - refused_until
        print(f"delivered {delay:.2f}s after the receiver came back")
        status = wait_status(
            api, kickoff_id, lambda s: any(d["state"] == "delivered" for d in s["deliveries"])
        )
    finally:
        late.server.shutdown()
        late.server.server_close()
    [row] = [d for d in status["deliveries"] if d["event"] == "human_input_requested"]
    assert row["webhook_id"] == request.headers["webhook-id"]
    assert row["attempts"] >= 2
    assert row["url"] == display_url(url)
    assert delay < 3.0


def test_410_gone_stops_deliveries_to_that_endpoint_for_the_run(api, receiver):
    receiver.answers["/gone"] = [410]
    kickoff_id = kickoff(api, receiver, taskWebhookUrl=receiver.url("/gone"))
    human_input_request(receiver, kickoff_id, 1)
    assert resume(api, kickoff_id, "research_task", True).status_code == 200
    status = wait_status(
        api,
        kickoff_id,
        lambda s: (
            s["state"] == "SUCCESS"
            and [d["state"] for d in s["deliveries"] if d["event"] == "task_completed"]
            == ["gave_up", "skipped"]
        ),
    )
    gave_up = next(d for d in status["deliveries"] if d["state"] == "gave_up")
    assert gave_up["last_status"] == 410
    assert gave_up["attempts"] == 1
    assert gave_up["gave_up_at"] is not None
    hits = receiver.matching(lambda r: r.path == "/gone" and r.body["kickoff_id"] == kickoff_id)
    assert len(hits) == 1


def test_a_410_from_one_endpoint_does_not_silence_another_on_the_same_path(api, receiver):
    """Endpoints that differ only by query string are two endpoints: a 410 from one skips
    nothing sent to the other."""
    receiver.answers["/shared?team=a"] = [410]
    kickoff_id = kickoff(
        api,
        receiver,
        taskWebhookUrl=receiver.url("/shared?team=a"),
        crewWebhookUrl=receiver.url("/shared?team=b"),
    )
    human_input_request(receiver, kickoff_id, 1)
    assert resume(api, kickoff_id, "research_task", True).status_code == 200
    status = wait_status(
        api,
        kickoff_id,
        lambda s: s["state"] == "SUCCESS" and all(d["state"] != "pending" for d in s["deliveries"]),
    )
    by_event = {(d["event"], d["state"]) for d in status["deliveries"]}
    assert ("crew_completed", "delivered") in by_event
    assert ("task_completed", "skipped") in by_event  # the second one, to team=a


def test_retry_after_is_honoured_on_429(api, receiver):
    receiver.answers["/busy"] = [(429, {"Retry-After": "2"}), 200]
    kickoff_id = kickoff(api, receiver, humanInputWebhook={"url": receiver.url("/busy")})
    first, second = receiver.wait_for(
        lambda r: r.path == "/busy" and r.body["kickoff_id"] == kickoff_id, count=2, timeout=15
    )
    gap = second.received_at - first.received_at
    assert gap >= 1.8, f"retried after {gap:.2f}s, not after Retry-After: 2"
    assert first.headers["webhook-id"] == second.headers["webhook-id"]


def test_deliveries_are_listed_without_credentials_or_query(api, receiver):
    kickoff_id = kickoff(
        api,
        receiver,
        humanInputWebhook={
            "url": receiver.url("/hitl?key=sekrit-query-77"),
            "authentication": {"strategy": "bearer", "token": "t"},
        },
    )
    status = wait_status(
        api, kickoff_id, lambda s: s["deliveries"] and s["deliveries"][0]["state"] == "delivered"
    )
    [row] = status["deliveries"]
    assert row["url"] == display_url(receiver.url("/hitl?key=sekrit-query-77"))
    assert "/hitl" not in row["url"]
    assert row["attempts"] == 1
    assert row["last_status"] == 200
    assert "sekrit-query-77" not in str(status)


def test_a_giving_up_delivery_never_fails_the_run(api, receiver):
    receiver.answers["/always-500"] = [500]
    kickoff_id = kickoff(api, receiver, humanInputWebhook={"url": receiver.url("/always-500")})
    status = wait_status(
        api,
        kickoff_id,
        lambda s: s["deliveries"] and s["deliveries"][0]["state"] == "gave_up",
        timeout=20,
    )
    row = status["deliveries"][0]
    assert row["attempts"] == 5  # the first try and the four retries of the test schedule
    assert row["last_status"] == 500
    assert "gave up after 5 attempts" in row["last_error"]
    assert status["state"] == "PENDING_HUMAN_INPUT"
    assert resume(api, kickoff_id, "research_task", True).status_code == 200
    wait_status(api, kickoff_id, state_is("SUCCESS"))


def test_events_to_one_endpoint_arrive_in_the_order_they_happened(api, receiver):
    # The first event (agent_step) fails once; the next (human_input_requested) waits for it.
    receiver.answers["/ordered"] = [503, 200]
    url = receiver.url("/ordered")
    kickoff_id = kickoff(api, receiver, humanInputWebhook={"url": url}, stepWebhookUrl=url)
    arrivals = receiver.wait_for(
        lambda r: r.path == "/ordered" and r.body["kickoff_id"] == kickoff_id, count=3
    )
    assert [r.event for r in arrivals] == ["agent_step", "agent_step", "human_input_requested"]
    assert arrivals[0].headers["webhook-id"] == arrivals[1].headers["webhook-id"]


def test_a_slow_endpoint_does_not_hold_up_another_run(api, receiver):
    receiver.answers["/stuck"] = [500]
    stuck = kickoff(api, receiver, humanInputWebhook={"url": receiver.url("/stuck")})
    receiver.wait_for(lambda r: r.path == "/stuck" and r.body["kickoff_id"] == stuck)
    other = kickoff(api, receiver)
    started = time.monotonic()
    human_input_request(receiver, other, 1, timeout=5)
    assert time.monotonic() - started < 2
