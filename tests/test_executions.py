"""GET /executions: runs listed from Temporal's visibility store, filtered and paged."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from support import human_input_request, kickoff, resume, state_is, wait_status

Rows = list[dict[str, Any]]


def listed(api: httpx.Client, **params: Any) -> Rows:
    """Every run the listing has for these filters, following next_page_token."""
    rows: Rows = []
    token = None
    for _ in range(100):
        query = {"page_size": 100, **params, **({"next_page_token": token} if token else {})}
        response = api.get("/executions", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        rows += page["executions"]
        token = page["next_page_token"]
        if token is None:
            return rows
    raise AssertionError("more than 100 pages")


def wait_listed(
    api: httpx.Client, until: Callable[[Rows], bool], timeout: float = 10, **params: Any
) -> Rows:
    # The visibility store is written a moment after the run changes.
    deadline = time.monotonic() + timeout
    while True:
        rows = listed(api, **params)
        if until(rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"the listing never matched within {timeout}s: {rows}")
        time.sleep(0.1)


def ids(rows: Rows) -> set[str]:
    return {row["kickoff_id"] for row in rows}


def test_lists_paused_runs_by_state_and_crew(api, receiver):
    research = kickoff(api, receiver)
    strict = kickoff(
        api, receiver, crew="strict_review", inputs={"subject": "tides", "audience": "kids"}
    )
    human_input_request(receiver, research, 1)
    human_input_request(receiver, strict, 1)

    rows = wait_listed(api, lambda r: {research, strict} <= ids(r), state="PENDING_HUMAN_INPUT")
    assert all(row["state"] == "PENDING_HUMAN_INPUT" for row in rows)
    row = next(r for r in rows if r["kickoff_id"] == strict)
    assert row["crew"] == "strict_review"
    assert row["pending_task"] == "draft_task"
    assert row["round"] == 1
    assert row["started_at"] <= row["changed_at"]

    only_strict = listed(api, state="PENDING_HUMAN_INPUT", crew="strict_review")
    assert strict in ids(only_strict)
    assert research not in ids(only_strict)
    assert {r["crew"] for r in only_strict} == {"strict_review"}

    by_task = listed(api, state="PENDING_HUMAN_INPUT", task="draft_task")
    assert strict in ids(by_task)
    assert research not in ids(by_task)


def test_a_run_moves_between_state_filters(api, receiver):
    kickoff_id = kickoff(api, receiver)
    human_input_request(receiver, kickoff_id, 1)
    wait_listed(api, lambda r: kickoff_id in ids(r), state="PENDING_HUMAN_INPUT")

    assert resume(api, kickoff_id, "research_task", True).status_code == 200
    wait_status(api, kickoff_id, state_is("SUCCESS"))
    rows = wait_listed(api, lambda r: kickoff_id in ids(r), state="SUCCESS")
    row = next(r for r in rows if r["kickoff_id"] == kickoff_id)
    assert row["pending_task"] is None
    assert row["round"] is None
    assert row["changed_at"] > row["started_at"]
    assert kickoff_id not in ids(listed(api, state="PENDING_HUMAN_INPUT"))


def test_a_stopped_run_is_listed_as_stopped(api, receiver):
    kickoff_id = kickoff(api, receiver)
    human_input_request(receiver, kickoff_id, 1)
    assert api.post(f"/stop/{kickoff_id}").status_code == 200
    wait_listed(api, lambda r: kickoff_id in ids(r), state="STOPPED")
    assert kickoff_id not in ids(listed(api, state="PENDING_HUMAN_INPUT"))
    assert kickoff_id not in ids(listed(api, state="RUNNING"))


def test_pages_follow_each_other_without_repeating(api, receiver):
    started = [kickoff(api, receiver) for _ in range(3)]
    for kickoff_id in started:
        human_input_request(receiver, kickoff_id, 1)
    wait_listed(api, lambda r: set(started) <= ids(r), state="PENDING_HUMAN_INPUT")

    seen: list[str] = []
    token = None
    while len(seen) < 3:
        params: dict[str, Any] = {"state": "PENDING_HUMAN_INPUT", "page_size": 1}
        if token:
            params["next_page_token"] = token
        page = api.get("/executions", params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["executions"]) == 1
        seen.append(body["executions"][0]["kickoff_id"])
        token = body["next_page_token"]
        assert token is not None
        base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))  # base64url
    assert len(set(seen)) == 3
    # Newest first: the last run started is the first listed, before the two before it.
    assert seen == list(reversed(started))


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"state": "WAITING"}, "state"),
        ({"state": "pending_human_input"}, "state"),
        ({"crew": 'research" OR CrewName != "x'}, "crew"),
        ({"crew": "research' OR 1=1 --"}, "crew"),
        ({"crew": "a" * 65}, "crew"),
        ({"crew": "-leading-dash"}, "crew"),
        ({"task": "research task"}, "task"),
        ({"task": 'x") OR ("1"="1'}, "task"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 101}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
        ({"next_page_token": "abc"}, "next_page_token"),
        ({"next_page_token": "not base64!"}, "next_page_token"),
        ({"next_page_token": "x" * 5000}, "next_page_token"),
    ],
)
def test_bad_filters_are_422_naming_the_field(api, params, field):
    response = api.get("/executions", params=params)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_request"
    assert body["message"].startswith(f"{field}:")


def test_listing_needs_a_token(stack):
    response = httpx.get(f"{stack.settings.api_url}/executions")
    assert response.status_code == 401


def test_the_temporal_ui_summary_names_the_crew_and_inputs(api, receiver, stack):
    kickoff_id = kickoff(api, receiver, inputs={"topic": "Tide  pools\nof Maine"})

    async def summary() -> str | None:
        client = await Client.connect(stack.settings.temporal_address)
        description = await client.get_workflow_handle(kickoff_id).describe()
        return await description.static_summary()

    assert asyncio.run(summary()) == "crew research — topic: Tide pools of Maine"
