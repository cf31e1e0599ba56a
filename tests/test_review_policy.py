"""Review policies over HTTP: who may decide (403 for others) and two of three approvals."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import httpx
import pytest

from support import (
    csrf_of,
    extra_api,
    human_input_request,
    kickoff,
    resume,
    sign_in,
    state_is,
    temporal,
    wait_status,
)

TOKENS = {"alice": "tok-alice-51d2", "bob": "tok-bob-77e0", "dave": "tok-dave-2b9c"}
SUBJECT = {"subject": "tides", "audience": "kids"}


@pytest.fixture(scope="module")
def named_api(stack, tmp_path_factory) -> Iterator[httpx.Client]:
    tokens = ",".join(f"{name}:{token}" for name, token in TOKENS.items())
    yield from extra_api(stack, tmp_path_factory, api_token=tokens)


def as_reviewer(api: httpx.Client, name: str) -> httpx.Client:
    return httpx.Client(
        base_url=str(api.base_url), headers={"Authorization": f"Bearer {TOKENS[name]}"}
    )


def overdue_by(stack, moment: str) -> str:
    """The runs the Temporal CLI lists as due for a decision before `moment`."""
    query = f'ReviewDeadline < "{moment}"'
    return temporal(stack, "workflow", "list", "--query", query)


def test_two_of_three_reviewers_approve_and_others_may_not_decide(named_api, receiver, stack):
    with (
        as_reviewer(named_api, "alice") as alice,
        as_reviewer(named_api, "bob") as bob,
        as_reviewer(named_api, "dave") as dave,
    ):
        kickoff_id = kickoff(alice, receiver, SUBJECT, crew="reviewed_draft")
        request = human_input_request(receiver, kickoff_id, 1)
        assert request.body["reviewers"] == ["alice", "bob", "carol"]
        decide_by = datetime.fromisoformat(request.body["decide_by"])
        # An operator finds runs by their deadline (ReviewDeadline, set while a round waits).
        later = (decide_by + timedelta(minutes=1)).isoformat()
        earlier = (decide_by - timedelta(minutes=1)).isoformat()
        deadline = time.monotonic() + 10
        while kickoff_id not in overdue_by(stack, later) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert kickoff_id in overdue_by(stack, later)
        assert kickoff_id not in overdue_by(stack, earlier)

        refused = resume(dave, kickoff_id, "draft_task", True, "fine", round=1)
        assert refused.status_code == 403
        assert refused.json()["error"] == "forbidden"
        assert "alice, bob, carol may" in refused.json()["message"]

        first = resume(alice, kickoff_id, "draft_task", True, "clear enough", round=1)
        assert first.status_code == 200, first.text
        assert (first.json()["status"], first.json()["approvals_missing"]) == (
            "approval_recorded",
            1,
        )
        waiting = alice.get(f"/status/{kickoff_id}").json()
        assert waiting["state"] == "PENDING_HUMAN_INPUT"
        pending = waiting["pending_human_input"]
        assert (pending["approvals_needed"], [a["reviewer"] for a in pending["approvals"]]) == (
            2,
            ["alice"],
        )
        assert resume(alice, kickoff_id, "draft_task", True, round=1).status_code == 409

        second = resume(bob, kickoff_id, "draft_task", True, "good", round=1)
        assert second.status_code == 200
        assert second.json()["status"] == "resumed"
        done = wait_status(alice, kickoff_id, state_is("SUCCESS"))
        deadline = time.monotonic() + 10
        while kickoff_id in overdue_by(stack, later) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert kickoff_id not in overdue_by(stack, later), "a decided run still lists as due"
    [decided] = done["tasks"][0]["rounds"]
    assert [(a["reviewer"], a["note"]) for a in decided["approvals"]] == [
        ("alice", "clear enough"),
        ("bob", "good"),
    ]
    assert [(e["reviewer"], e["approvals_missing"]) for e in done["audit"]] == [
        ("alice", 1),
        ("bob", None),
    ]


@contextmanager
def browser_as(api: httpx.Client, name: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=str(api.base_url), timeout=15) as browser:
        assert sign_in(browser, TOKENS[name]).status_code == 303
        yield browser


def approve_in_inbox(browser: httpx.Client, kickoff_id: str, note: str) -> httpx.Response:
    page = browser.get(f"/ui/runs/{kickoff_id}")
    form = {
        "csrf": csrf_of(page.text),
        "task_id": "draft_task",
        "round": "1",
        "decision": "approved",
        "feedback": note,
    }
    return browser.post(f"/ui/runs/{kickoff_id}/decision", data=form)


def test_two_of_three_in_the_inbox_and_no_form_for_others(named_api, receiver):
    with as_reviewer(named_api, "alice") as api:
        kickoff_id = kickoff(api, receiver, SUBJECT, crew="reviewed_draft")
        human_input_request(receiver, kickoff_id, 1)
        with (
            browser_as(named_api, "alice") as alice,
            browser_as(named_api, "bob") as bob,
            browser_as(named_api, "dave") as dave,
        ):
            others = dave.get(f"/ui/runs/{kickoff_id}").text
            assert "Only alice, bob, carol may decide this round." in others
            assert 'name="decision"' not in others

            page = alice.get(f"/ui/runs/{kickoff_id}").text
            assert "Waiting for you." in page and "0 of 2 approvals" in page
            assert 'class="decide-by"' in page
            assert approve_in_inbox(alice, kickoff_id, "fine").status_code == 303
            after = alice.get(f"/ui/runs/{kickoff_id}").text
            assert "You approved this round; 1 more approval(s) needed." in after
            assert 'name="decision"' not in after
            assert "1 of 2 approvals (alice)" in bob.get(f"/ui/runs/{kickoff_id}").text

            assert approve_in_inbox(bob, kickoff_id, "good").status_code == 303
            done = wait_status(api, kickoff_id, state_is("SUCCESS"))
    approvals = done["tasks"][0]["rounds"][0]["approvals"]
    assert [(a["reviewer"], a["note"]) for a in approvals] == [("alice", "fine"), ("bob", "good")]
    assert {e["source"] for e in done["audit"]} == {"inbox"}


def test_an_approval_with_edits_replaces_the_output_for_what_follows(api, receiver):
    kickoff_id = kickoff(api, receiver, taskWebhookUrl=receiver.url("/edits"))
    request = human_input_request(receiver, kickoff_id, 1)
    edit = "Three findings, checked by hand."
    rejected = api.post(
        "/resume",
        json={
            "execution_id": kickoff_id,
            "task_id": "research_task",
            "is_approve": False,
            "edited_output": edit,
        },
    )
    assert rejected.status_code == 422
    assert "edited_output goes with is_approve: true" in rejected.json()["message"]
    approved = api.post(
        "/resume",
        json={
            "execution_id": kickoff_id,
            "task_id": "research_task",
            "is_approve": True,
            "human_feedback": "fixed two lines",
            "edited_output": edit,
            "round": 1,
        },
    )
    assert approved.status_code == 200, approved.text
    done = wait_status(api, kickoff_id, state_is("SUCCESS"))
    research, reporting = done["tasks"]
    [decided] = research["rounds"]
    assert decided["output"] == request.body["task_output"], "the model's output was lost"
    assert (decided["edited_output"], decided["edited_by"]) == (edit, "api")
    assert research["output"] == edit
    assert edit in reporting["output"], "the next task did not build on the edit"
    assert done["audit"][0]["edited"] is True
    [completed] = receiver.wait_for(
        lambda r: (
            r.event == "task_completed"
            and r.body["kickoff_id"] == kickoff_id
            and r.body["task_id"] == "research_task"
        )
    )
    assert completed.body["output"] == edit


def test_a_policy_without_edits_refuses_one(named_api, receiver):
    with as_reviewer(named_api, "alice") as alice:
        kickoff_id = kickoff(alice, receiver, SUBJECT, crew="reviewed_draft")
        human_input_request(receiver, kickoff_id, 1)
        body = {
            "execution_id": kickoff_id,
            "task_id": "draft_task",
            "is_approve": True,
            "edited_output": "better",
            "round": 1,
        }
        refused = alice.post("/resume", json=body)
        assert refused.status_code == 422
        assert refused.json()["message"] == (
            "edited_output: 'draft_task' takes none (its policy: allow_edit false)"
        )
        assert alice.get(f"/status/{kickoff_id}").json()["pending_human_input"]["approvals"] == []


def test_the_inbox_lists_runs_by_deadline_and_says_whose_turn_it_is(named_api, receiver):
    with as_reviewer(named_api, "alice") as api:
        plain = kickoff(api, receiver, SUBJECT, crew="strict_review")
        reviewed = kickoff(api, receiver, SUBJECT, crew="reviewed_draft")
        for kickoff_id in (plain, reviewed):
            human_input_request(receiver, kickoff_id, 1)
        with browser_as(named_api, "alice") as alice, browser_as(named_api, "dave") as dave:
            listing = alice.get("/ui", params={"page_size": 100}).text
            # The run with a deadline comes before the one without, and is alice's to decide.
            assert listing.index(reviewed) < listing.index(plain)
            row = listing[listing.index(reviewed) :]
            row = row[: row.index("</tr>")]
            assert "waiting for you" in row and 'class="decide-by"' in row
            others = dave.get("/ui", params={"page_size": 100}).text
            row = others[others.index(reviewed) :]
            assert "(for others)" in row[: row.index("</tr>")]
