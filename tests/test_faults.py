"""Faults with real processes: workers killed, decisions sent while no worker is up, a
Temporal restart, a receiver down.
Each test has a stack of its own, so killing a part of it disturbs no other test."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from runner.stack import Stack, free_port
from support import client_for, human_input_request, resume, start_receiver, state_is, wait_status

RUNS = 100
pytestmark = pytest.mark.slow


def pause_runs(api: httpx.Client, receiver, count: int, path: str) -> list[str]:
    ids = kickoff_runs(api, receiver, count, path)
    for kickoff_id in ids:
        human_input_request(receiver, kickoff_id, 1, timeout=60)
    return ids


def test_resumes_sent_while_no_worker_is_up_all_apply(own_stack, receiver):
    with client_for(own_stack) as api:
        ids = pause_runs(api, receiver, RUNS, "/fault-noworker")
        own_stack.stop_process("worker", signal.SIGKILL)
        # Each waits for a worker to confirm it (status_query_timeout, 2 s): send them at once.
        with ThreadPoolExecutor(max_workers=25) as pool:
            answers = list(pool.map(lambda k: resume(api, k, "research_task", True, "ok"), ids))
            # A client retrying its timed-out /resume with its Idempotency-Key: one decision.
            keyed = [k for k in ids[:10] for _ in range(2)]
            retried = list(pool.map(lambda k: keyed_resume(api, k, f"approve-{k}"), keyed))
        assert [a.status_code for a in answers] == [200] * RUNS
        assert not any(a.json()["confirmed"] for a in answers)
        assert [a.status_code for a in retried] == [200] * 20
        own_stack.start_worker()
        assert_rounds_once(api, receiver, ids, ["approved"])
        for kickoff_id in ids[:10]:  # two decisions taken (one applied), the repeat not at all
            audit = api.get(f"/status/{kickoff_id}").json()["audit"]
            assert sorted(e["applied"] for e in audit) == [False, True], audit


def keyed_resume(api: httpx.Client, kickoff_id: str, key: str) -> httpx.Response:
    body = {"execution_id": kickoff_id, "task_id": "research_task", "is_approve": True}
    return api.post("/resume", json=body, headers={"Idempotency-Key": key})


def test_a_temporal_restart_loses_no_paused_run(own_stack, receiver):
    with client_for(own_stack) as api:
        ids = pause_runs(api, receiver, RUNS, "/fault-restart")
        own_stack.stop_process("temporal")
        own_stack.start_temporal()
        for kickoff_id in ids:
            wait_status(api, kickoff_id, state_is("PENDING_HUMAN_INPUT"), timeout=60)
            assert resume(api, kickoff_id, "research_task", True, "ok").status_code == 200
        assert_rounds_once(api, receiver, ids, ["approved"])


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


def kickoff_runs(api: httpx.Client, receiver, count: int, path: str, **extra) -> list[str]:
    body = {
        "inputs": {"topic": "faults"},
        "humanInputWebhook": {"url": receiver.url(path)},
        "taskWebhookUrl": receiver.url(path),
        **extra,
    }
    ids = []
    for _ in range(count):
        response = api.post("/kickoff", json=body)
        assert response.status_code == 200, response.text
        ids.append(response.json()["kickoff_id"])
    return ids


# How long the killer goes on. While it does, a run whose workflow task keeps landing on a
# worker that dies before completing it cannot move (each lost attempt costs the task's 10 s
# timeout): seen on two cores with kills every 0.5-4 s, before and after this layout. What the
# test asks is that nothing is lost or doubled by the kills, so they stop after a minute and
# every run must then finish.
KILL_WINDOW_SECONDS = 60.0


class WorkerKiller(threading.Thread):
    """SIGKILLs the worker at random moments for KILL_WINDOW_SECONDS, starting a new one each
    time."""

    def __init__(self, stack: Stack, seed: int) -> None:
        super().__init__(daemon=True)
        self.stack, self.random, self.kills = stack, random.Random(seed), 0
        self.done = threading.Event()

    def run(self) -> None:
        until = time.monotonic() + KILL_WINDOW_SECONDS
        while not self.done.wait(self.random.uniform(0.5, 4.0)) and time.monotonic() < until:
            self.stack.stop_process("worker", signal.SIGKILL)
            self.kills += 1
            self.stack.start_worker()


def assert_rounds_once(api: httpx.Client, receiver, ids: list[str], decisions: list[str]) -> None:
    """Every run succeeded with exactly these decisions, and every event arrived (once per
    webhook-id: a retried delivery is the same event)."""
    for kickoff_id in ids:
        status = wait_status(api, kickoff_id, state_is("SUCCESS"), timeout=120)
        rounds = status["tasks"][0]["rounds"]
        assert [r["decision"] for r in rounds] == decisions, kickoff_id
    for kickoff_id in ids:
        requests = receiver.wait_for(
            lambda r, k=kickoff_id: (
                r.event == "human_input_requested" and r.body["kickoff_id"] == k
            ),
            count=len(decisions),
            timeout=60,
        )
        by_id = {r.headers["webhook-id"]: r.body["round"] for r in requests}
        assert sorted(by_id.values()) == list(range(1, len(decisions) + 1)), kickoff_id
        completed = receiver.wait_for(
            lambda r, k=kickoff_id: r.event == "task_completed" and r.body["kickoff_id"] == k,
            count=2,
            timeout=60,
        )
        assert len({r.headers["webhook-id"] for r in completed}) == 2, kickoff_id


def review(api: httpx.Client, receiver, kickoff_id: str, number: int, approve: bool) -> None:
    """Wait for the round's request (it may arrive twice after a kill: same webhook-id),
    then decide it."""
    try:
        receiver.wait_for(
            lambda r: (
                r.event == "human_input_requested"
                and r.body.get("execution_id") == kickoff_id
                and r.body.get("round") == number
            ),
            timeout=KILL_WINDOW_SECONDS + 90,
        )
    except AssertionError as err:
        status = api.get(f"/status/{kickoff_id}").json()
        raise AssertionError(f"{kickoff_id} round {number}: {err}\nstatus: {status}") from None
    answer = resume(api, kickoff_id, "research_task", approve, "fine" if approve else "deeper")
    assert answer.status_code == 200, answer.text


def reject_then_approve(api: httpx.Client, receiver, kickoff_id: str) -> None:
    review(api, receiver, kickoff_id, 1, approve=False)
    review(api, receiver, kickoff_id, 2, approve=True)


def test_worker_killed_at_random_while_runs_go_reject_then_approve(own_stack, receiver):
    seed = random.randrange(1 << 30)
    print(f"seed {seed}")
    killer = WorkerKiller(own_stack, seed)
    with client_for(own_stack) as api:
        ids = kickoff_runs(api, receiver, 200, "/fault-random-kill")
        killer.start()
        try:
            with ThreadPoolExecutor(max_workers=25) as reviewers:
                list(reviewers.map(lambda k: reject_then_approve(api, receiver, k), ids))
        finally:
            killer.done.set()
            killer.join()
        print(f"{killer.kills} workers killed")
        assert killer.kills >= 5
        assert_rounds_once(api, receiver, ids, ["rejected", "approved"])


SLOW_TASKS = {"task_heartbeat_timeout": 3.0}


@pytest.mark.parametrize("own_stack", [SLOW_TASKS], indirect=True)
def test_two_workers_one_killed_mid_task_the_other_finishes(own_stack, receiver):
    own_stack.start_worker("worker-2")
    survivor = own_stack.processes["worker-2"].pid
    with client_for(own_stack) as api:
        ids = kickoff_runs(
            api, receiver, 10, "/fault-two-workers", crew="slow_python",
            inputs={"subject": "failover", "seconds": 4},
        )  # fmt: skip
        time.sleep(1.5)  # every round has started, none has finished
        own_stack.stop_process("worker", signal.SIGKILL)
        for kickoff_id in ids:
            request = human_input_request(receiver, kickoff_id, 1, timeout=60)
            assert f"pid {survivor})" in request.body["task_output"]
            assert resume(api, kickoff_id, "draft_task", True).status_code == 200
        for kickoff_id in ids:
            status = wait_status(api, kickoff_id, state_is("SUCCESS"), timeout=60)
            assert [r["decision"] for r in status["tasks"][0]["rounds"]] == ["approved"]
            events = receiver.wait_for(
                lambda r, k=kickoff_id: (
                    r.body.get("kickoff_id") == k and r.event == "human_input_requested"
                ),
                timeout=10,
            )
            assert len({r.headers["webhook-id"] for r in events}) == 1
    assert own_stack.log_dir is not None
    killed_log = (own_stack.log_dir / "worker.log").read_text()
    assert "executing task draft_task" in killed_log, "the killed worker ran no task"


@pytest.mark.parametrize("own_stack", [SLOW_TASKS], indirect=True)
def test_a_worker_killed_mid_crewai_task_another_finishes_the_round(own_stack, receiver, tmp_path):
    """A CrewAI round whose tool is still working when its worker dies runs again on the
    other worker (the round heartbeats), and every run goes on."""
    tool_log = tmp_path / "slow-tool.log"
    os.environ["SLOW_TOOL_LOG"] = str(tool_log)  # the workers started below inherit it
    own_stack.stop_process("worker")
    own_stack.start_worker()
    doomed = own_stack.processes["worker"].pid
    with client_for(own_stack) as api:
        ids = kickoff_runs(
            api, receiver, 3, "/fault-crewai", crew="crewai_slow", inputs={"subject": "moss"}
        )
        deadline = time.monotonic() + 90
        while str(doomed) not in (tool_log.read_text() if tool_log.exists() else ""):
            assert time.monotonic() < deadline, "the doomed worker never started the tool"
            time.sleep(0.2)
        own_stack.start_worker("worker-2")
        survivor = own_stack.processes["worker-2"].pid
        time.sleep(2)  # polling by now
        own_stack.stop_process("worker", signal.SIGKILL)
        for kickoff_id in ids:
            request = human_input_request(receiver, kickoff_id, 1, timeout=90)
            assert f"pid {survivor}" in request.body["task_output"]
            assert resume(api, kickoff_id, "look_task", True).status_code == 200
        for kickoff_id in ids:
            wait_status(api, kickoff_id, state_is("SUCCESS"), timeout=60)
