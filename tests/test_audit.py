"""Who decided, and when: named tokens, and the audit trail every resume leaves in /status."""

from __future__ import annotations

import pytest

from support import (
    api_client,
    human_input_request,
    kickoff,
    resume,
    signal_resume,
    state_is,
    wait_status,
)

ALICE, BOB = "tok-a-7c1e55", "tok-b-0d93aa"
NAMED = {"api_token": f"alice:{ALICE},bob:{BOB},bare-token-41ac"}


@pytest.mark.parametrize("own_stack", [NAMED], indirect=True)
def test_every_resume_is_in_the_audit_trail_with_its_reviewer_and_source(own_stack, receiver):
    with api_client(own_stack, ALICE) as alice, api_client(own_stack, BOB) as bob:
        kickoff_id = kickoff(alice, receiver)
        human_input_request(receiver, kickoff_id, 1)
        assert resume(alice, kickoff_id, "research_task", False, "sources?").status_code == 200
        human_input_request(receiver, kickoff_id, 2)
        signal_resume(
            own_stack,
            kickoff_id,
            {"task_id": "reporting_task", "is_approve": True, "reviewer": "carol"},
        )
        signal_resume(own_stack, kickoff_id, {"task_id": "research_task", "reviewer": "dave"})
        # A decision sent to Temporal directly names whoever the sender likes: it applies
        # (whoever reaches Temporal may decide), but the name is recorded as claimed, beside
        # the sender's Temporal identity.
        signal_resume(
            own_stack,
            kickoff_id,
            {
                "task_id": "research_task",
                "is_approve": False,
                "human_feedback": "shorter",
                "reviewer": "bob",
                "round": 2,
            },
        )
        human_input_request(receiver, kickoff_id, 3)
        assert resume(bob, kickoff_id, "research_task", True, "good", round=3).status_code == 200
        status = wait_status(bob, kickoff_id, state_is("SUCCESS"))

    audit = status["audit"]
    assert [
        (e["reviewer"], e["task_id"], e["round"], e["decision"], e["applied"]) for e in audit
    ] == [
        ("alice", "research_task", 1, "rejected", True),
        ("carol", "reporting_task", None, "approved", False),
        ("dave", "research_task", None, None, False),
        ("bob", "research_task", 2, "rejected", True),
        ("bob", "research_task", 3, "approved", True),
    ]
    assert [(e["source"], e["reviewer_claimed"]) for e in audit] == [
        ("api", False),
        ("temporal", True),
        ("temporal", True),
        ("temporal", True),
        ("api", False),
    ]
    senders = [e["sender"] for e in audit]
    assert senders[0] is None and senders[4] is None, "the API's decisions name a checked reviewer"
    assert senders[3] and "temporal-cli" in senders[3], senders
    assert "not waiting for input" in audit[1]["reason"]
    assert audit[2]["reason"].startswith("malformed resume")
    assert [e["at"] for e in audit] == sorted(e["at"] for e in audit)
    rounds = status["tasks"][0]["rounds"]
    assert [(r["reviewer"], r["decision"], r["source"]) for r in rounds] == [
        ("alice", "rejected", "api"),
        ("bob", "rejected", "temporal"),
        ("bob", "approved", "api"),
    ]


@pytest.mark.parametrize("own_stack", [NAMED], indirect=True)
def test_named_and_bare_tokens_sign_in_and_others_do_not(own_stack, receiver):
    with api_client(own_stack, "bare-token-41ac") as bare, api_client(own_stack, "tok-a") as wrong:
        kickoff_id = kickoff(bare, receiver)
        human_input_request(receiver, kickoff_id, 1)
        assert wrong.get(f"/status/{kickoff_id}").status_code == 401
        assert resume(wrong, kickoff_id, "research_task", True).status_code == 401
        assert resume(bare, kickoff_id, "research_task", True).status_code == 200
        status = wait_status(bare, kickoff_id, state_is("SUCCESS"))
    assert status["audit"][0]["reviewer"] == "api"


def test_a_signal_that_claims_to_come_from_the_api_is_shown_as_sent_to_temporal(
    stack, api, receiver
):
    """Only the API and the inbox can attest their decisions (a keyed hash): a signal sent to
    Temporal directly that says `"source": "api"` is shown as what it is."""
    kickoff_id = kickoff(api, receiver)
    human_input_request(receiver, kickoff_id, 1)
    forged = {
        "task_id": "research_task",
        "is_approve": False,
        "human_feedback": "redo",
        "reviewer": "alice",
        "source": "api",
        "decision_id": "dec-forged-1",
        "attestation": "0" * 32,
    }
    signal_resume(stack, kickoff_id, forged)
    human_input_request(receiver, kickoff_id, 2)
    assert resume(api, kickoff_id, "research_task", True, "ok", round=2).status_code == 200
    status = wait_status(api, kickoff_id, state_is("SUCCESS"))
    assert [(e["reviewer"], e["source"], e["reviewer_claimed"]) for e in status["audit"]] == [
        ("alice", "temporal", True),
        ("api", "api", False),
    ]
    rounds = status["tasks"][0]["rounds"]
    assert [r["source"] for r in rounds] == ["temporal", "api"]
