"""Small steps of a crew run through the HTTP API, shared by the tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from support.receiver import Received, WebhookReceiver

WEBHOOK_TOKEN = "hook-secret-9d2e"


def kickoff(
    api: httpx.Client,
    receiver: WebhookReceiver,
    inputs: dict[str, Any] | None = None,
    **extra: Any,
) -> str:
    body: dict[str, Any] = {
        "inputs": inputs if inputs is not None else {"topic": "AI Research"},
        "humanInputWebhook": {
            "url": receiver.url("/hitl"),
            "authentication": {"strategy": "bearer", "token": WEBHOOK_TOKEN},
        },
    }
    body.update(extra)
    response = api.post("/kickoff", json=body)
    assert response.status_code == 200, response.text
    return response.json()["kickoff_id"]


def human_input_request(
    receiver: WebhookReceiver, kickoff_id: str, round_number: int, timeout: float = 15
) -> Received:
    [request] = receiver.wait_for(
        lambda r: (
            r.event == "human_input_requested"
            and r.body.get("execution_id") == kickoff_id
            and r.body.get("round") == round_number
        ),
        timeout=timeout,
    )
    return request


def resume(
    api: httpx.Client, kickoff_id: str, task_id: str, approve: bool, feedback: str = "", **extra
) -> httpx.Response:
    body = {
        "execution_id": kickoff_id,
        "task_id": task_id,
        "is_approve": approve,
        "human_feedback": feedback,
        **extra,
    }
    return api.post("/resume", json=body)


def wait_status(
    api: httpx.Client,
    kickoff_id: str,
    until: Callable[[dict[str, Any]], bool],
    timeout: float = 15,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = api.get(f"/status/{kickoff_id}")
        assert response.status_code == 200, response.text
        status = response.json()
        if until(status):
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"status never matched within {timeout}s: {status}")
        time.sleep(0.1)


def state_is(*states: str) -> Callable[[dict[str, Any]], bool]:
    """The run itself (not the degraded server-side view) reports one of these states."""
    return lambda status: status["state"] in states and not status["degraded"]
