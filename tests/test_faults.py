"""Faults with real processes: decisions sent while no worker is up, a Temporal restart.
Each test has a stack of its own, so killing a part of it disturbs no other test."""

from __future__ import annotations

import signal
import time

import httpx
import pytest

from conftest import client_for, free_port
from flow import human_input_request, resume, state_is, wait_status
from receiver import start_receiver

RUNS = 100
pytestmark = pytest.mark.slow


def pause_runs(api: httpx.Client, receiver, count: int, path: str) -> list[str]:
    body = {
        "inputs": {"topic": "faults"},
        "humanInputWebhook": {"url": receiver.url(path)},
        "taskWebhookUrl": receiver.url(path),
    }
    ids = [api.post("/kickoff", json=body).json()["kickoff_id"] for _ in range(count)]
    for kickoff_id in ids:
        human_input_request(receiver, kickoff_id, 1, timeout=60)
    return ids


def assert_all_done_once(api: httpx.Client, receiver, ids: list[str]) -> None:
    for kickoff_id in ids:
        status = wait_status(api, kickoff_id, state_is("SUCCESS"), timeout=90)
        rounds = status["tasks"][0]["rounds"]
        assert [r["decision"] for r in rounds] == ["approved"], kickoff_id
    for kickoff_id in ids:
        completed = receiver.wait_for(
            lambda r, k=kickoff_id: r.event == "task_completed" and r.body["kickoff_id"] == k,
            count=2,
            timeout=60,
        )
        assert len({r.headers["webhook-id"] for r in completed}) == 2


def test_resumes_sent_while_no_worker_is_up_all_apply(own_stack, receiver):
    with client_for(own_stack) as api:
        ids = pause_runs(api, receiver, RUNS, "/fault-noworker")
        own_stack.stop_process("worker", signal.SIGKILL)
        answers = [resume(api, k, "research_task", True, "ok").status_code for k in ids]
        assert answers == [200] * RUNS
        own_stack.start_worker()
        assert_all_done_once(api, receiver, ids)


def test_a_temporal_restart_loses_no_paused_run(own_stack, receiver):
    with client_for(own_stack) as api:
        ids = pause_runs(api, receiver, RUNS, "/fault-restart")
        own_stack.stop_process("temporal")
        own_stack.start_temporal()
        for kickoff_id in ids:
            wait_status(api, kickoff_id, state_is("PENDING_HUMAN_INPUT"), timeout=60)
            assert resume(api, kickoff_id, "research_task", True, "ok").status_code == 200
        assert_all_done_once(api, receiver, ids)


# Retries every 8 s at most, for about two minutes: a receiver down for 60 s gets every event.
PATIENT = {"webhook_retry_schedule": "1,2,4,8,8,8,8,8,8,8,8,8,8,8,8,8"}
DOWNTIME = 60.0


@pytest.mark.parametrize("own_stack", [PATIENT], indirect=True)
def test_a_receiver_down_for_a_minute_gets_every_event(own_stack, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}/down"
    body = {"inputs": {"topic": "outage"}, "humanInputWebhook": {"url": url}, "taskWebhookUrl": url}
    with client_for(own_stack) as api:
        started = time.monotonic()
        ids = [api.post("/kickoff", json=body).json()["kickoff_id"] for _ in range(50)]
        for kickoff_id in ids:
            wait_status(api, kickoff_id, state_is("PENDING_HUMAN_INPUT"), timeout=60)
        for kickoff_id in ids[:25]:  # decisions keep coming while the receiver is down
            assert resume(api, kickoff_id, "research_task", True).status_code == 200
        time.sleep(max(0.0, DOWNTIME - (time.monotonic() - started)))
        back = start_receiver(port)
        came_back = time.monotonic()
        try:
            expected = 50 + 25 * 2  # one request for input each, two task_completed per approved
            received = back.wait_for(lambda r: r.path == "/down", count=expected, timeout=60)
            last = max(r.received_at for r in received)
            distinct = {r.headers["webhook-id"] for r in back.requests}
            assert len(distinct) == expected
            print(f"all {expected} events within {last - came_back:.1f}s of the receiver's return")
            for kickoff_id in ids[:25]:
                status = wait_status(api, kickoff_id, state_is("SUCCESS"), timeout=60)
                assert {d["state"] for d in status["deliveries"]} == {"delivered"}
        finally:
            back.server.shutdown()
            back.server.server_close()
