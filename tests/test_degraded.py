"""/health tells which part is missing; /status answers from server-side state when no worker
can, and says so."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from runner.stack import free_port
from support import extra_api, temporal


@pytest.fixture(scope="module")
def workerless_api(stack, tmp_path_factory) -> Iterator[httpx.Client]:
    yield from extra_api(
        stack, tmp_path_factory, task_queue="no-worker-polls-this", status_query_timeout=1.0
    )


@pytest.fixture(scope="module")
def temporal_down_api(stack, tmp_path_factory) -> Iterator[httpx.Client]:
    yield from extra_api(stack, tmp_path_factory, temporal_address=f"127.0.0.1:{free_port()}")


def test_health_is_503_naming_the_missing_worker(workerless_api):
    response = workerless_api.get("/health")
    assert response.status_code == 503
    assert response.json()["worker"] == "missing"
    assert "no-worker-polls-this" in response.json()["message"]


def test_health_is_503_naming_temporal_when_it_is_down(temporal_down_api):
    response = temporal_down_api.get("/health")
    assert response.status_code == 503
    assert response.json()["temporal"] == "down"


def test_calls_while_temporal_is_down_are_503_not_500(temporal_down_api):
    assert temporal_down_api.get("/status/some-run").status_code == 503
    kickoff = temporal_down_api.post("/kickoff", json={"inputs": {"topic": "x"}})
    assert kickoff.status_code == 503
    assert kickoff.json()["error"] == "temporal_unavailable"


def test_status_without_a_worker_is_degraded_not_hung(workerless_api):
    kickoff = workerless_api.post("/kickoff", json={"inputs": {"topic": "x"}})
    assert kickoff.status_code == 200
    kickoff_id = kickoff.json()["kickoff_id"]
    response = workerless_api.get(f"/status/{kickoff_id}")
    assert response.status_code == 200
    status = response.json()
    assert status["state"] == "RUNNING"
    assert status["crew"] == "research"
    assert "no worker" in status["degraded"]
    stop = workerless_api.post(f"/stop/{kickoff_id}")
    assert stop.status_code == 200


def test_status_of_a_run_closed_without_a_worker_comes_from_the_server(workerless_api, stack):
    kickoff_id = workerless_api.post("/kickoff", json={"inputs": {"topic": "x"}}).json()[
        "kickoff_id"
    ]
    temporal(stack, "workflow", "terminate", "--workflow-id", kickoff_id, "--reason", "test")
    status = workerless_api.get(f"/status/{kickoff_id}")
    assert status.status_code == 200, status.text
    body = status.json()
    assert body["state"] == "STOPPED"
    assert body["degraded"]
    assert body["error"]
    assert workerless_api.post(f"/stop/{kickoff_id}").status_code == 409


@pytest.mark.parametrize("key", [None, "stale-resume-key"])
def test_a_stale_resume_without_a_worker_is_a_prompt_409(workerless_api, key):
    """No worker has polled the run's queue: none can have taken the decision, so the API need
    not wait LATE seconds more for one to say so (it took 12 s here, 16 s with the defaults)."""
    kickoff_id = workerless_api.post("/kickoff", json={"inputs": {"topic": "x"}}).json()[
        "kickoff_id"
    ]
    body = {"execution_id": kickoff_id, "task_id": "research_task", "is_approve": True}
    headers = {"Idempotency-Key": key} if key else {}
    started = time.monotonic()
    response = workerless_api.post("/resume", json=body, headers=headers)
    elapsed = time.monotonic() - started
    assert response.status_code == 409, response.text
    assert "no task is waiting for input" in response.json()["message"]
    print(f"stale resume answered 409 in {elapsed:.2f} s")
    assert elapsed < 5, f"{elapsed:.1f} s"  # api.decisions.LATE is 10 s
    workerless_api.post(f"/stop/{kickoff_id}")
