"""Review e-mail against a real SMTP server on loopback (aiosmtpd): each reviewer a policy
names gets a message with the task, an excerpt, the deadline and a link to the run's page."""

from __future__ import annotations

import email
import time
from collections.abc import Iterator
from email.message import Message

import httpx
import pytest
from aiosmtpd.controller import Controller

from runner.stack import free_port
from support import api_client, human_input_request, kickoff, sign_in

SMTP_PORT = free_port()
TOKENS = {"alice": "tok-alice-e3a1", "bob": "tok-bob-9f20"}
MAIL = {
    "api_token": ",".join(f"{name}:{token}" for name, token in TOKENS.items()),
    "smtp_host": "127.0.0.1",
    "smtp_port": SMTP_PORT,
    "smtp_from": "reviews@crew-hitl.test",
    "reviewer_emails": "alice=alice@example.test,bob=bob@example.test",
}


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=SMTP_PORT)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.mark.parametrize("own_stack", [MAIL], indirect=True)
def test_each_named_reviewer_gets_an_email_with_a_working_link(own_stack, mailbox, receiver):
    with api_client(own_stack, TOKENS["alice"]) as api:
        kickoff_id = kickoff(
            api, receiver, {"subject": "tides", "audience": "kids"}, crew="reviewed_draft"
        )
        request = human_input_request(receiver, kickoff_id, 1)
    deadline = time.monotonic() + 20
    while len(mailbox.messages) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    by_address = {message["To"]: message for message in mailbox.messages}
    # carol has no address: skipped, not an error.
    assert sorted(by_address) == ["alice@example.test", "bob@example.test"]
    message = by_address["alice@example.test"]
    assert message["From"] == "reviews@crew-hitl.test"
    assert message["Subject"] == "Review needed: draft_task of reviewed_draft (round 1)"
    body = message.get_payload(decode=True).decode()
    assert "Decide by " in body
    assert request.body["task_output"].split()[2] in body, "no excerpt of the output"
    link = next(line for line in body.splitlines() if "/ui/runs/" in line)
    assert link == f"{own_stack.settings.api_url}/ui/runs/{kickoff_id}"

    with httpx.Client(base_url=own_stack.settings.api_url, timeout=15) as browser:
        # Opening the link decides nothing: it asks to sign in, then shows the run.
        assert browser.get(link).status_code == 303
        assert (
            sign_in(
                browser, TOKENS["alice"], next_path=link.split(own_stack.settings.api_url)[1]
            ).status_code
            == 303
        )
        page = browser.get(link)
        assert page.status_code == 200 and "draft_task" in page.text
